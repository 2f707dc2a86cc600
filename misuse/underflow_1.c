/* Writes one byte before the start of a block. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *a = malloc(n);
    char *p = malloc(n);
    sink(a);
    p[-1] = 'x';
    sink(p);
    free(p);
    free(a);
    return carry_on(n);
}
