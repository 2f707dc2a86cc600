/* realloc to n/2 (usually in place), then one byte past the new end. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    size_t m = n / 2 ? n / 2 : 1;
    p = realloc(p, m);
    p[m] = 'x';
    sink(p);
    free(p);
    return carry_on(n);
}
