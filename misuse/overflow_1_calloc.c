/* Writes one byte past the end of a calloc'd block. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = calloc(1, n);
    p[n] = 'x';
    sink(p);
    free(p);
    return carry_on(n);
}
