/* Reallocates a pointer into the middle of a block. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    char *q = realloc(p + (n / 2 & ~(size_t)15) + 16, 2 * n);
    sink(q);
    return carry_on(n);
}
