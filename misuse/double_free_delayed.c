/* Frees a block, does other work with the allocator, frees it again. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    for (int i = 0; i < 8; i++) {
        void *q = malloc(40 + 8 * i);
        sink(q);
        free(q);
    }
    free(p);
    return carry_on(n);
}
