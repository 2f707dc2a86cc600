/* Reallocates a block that was freed. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    char *q = realloc(p, 2 * n);
    sink(q);
    return carry_on(n);
}
