/* Frees a block, then 100 other blocks of its size, then the block again. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    char *b[100];
    for (int i = 0; i < 100; i++) b[i] = malloc(n);
    free(p);
    for (int i = 0; i < 100; i++) free(b[i]);
    free(p);
    return carry_on(n);
}
