/* realloc to 2n, then one byte past the new end. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    p = realloc(p, 2 * n);
    p[2 * n] = 'x';
    sink(p);
    free(p);
    return carry_on(n);
}
