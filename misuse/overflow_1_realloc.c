/* Writes one byte past the end, then reallocates the block (larger). */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    p[n] = 'x';
    sink(p);
    p = realloc(p, 4 * n);
    sink(p);
    free(p);
    return carry_on(n);
}
