/* Frees the old pointer after realloc moved the block. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    char *q = realloc(p, 16 * n + 4096);
    if (q == p) return carry_on(n); /* not moved: nothing to misuse */
    free(p);
    free(q);
    return carry_on(n);
}
