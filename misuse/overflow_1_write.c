/* Writes one byte past the end of a block, then frees it. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    sink(p);
    p[n] = 'x';
    sink(p);
    free(p);
    return carry_on(n);
}
