/* Writes a freed block, then asks for a block of the same size at once. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    p[n / 2] = 'x';
    sink(p);
    char *q = malloc(n);
    sink(q);
    free(q);
    return carry_on(n);
}
