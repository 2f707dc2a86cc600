/* Writes the last byte of a block after freeing it. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    p[n - 1] = 'x';
    sink(p);
    return carry_on(n);
}
