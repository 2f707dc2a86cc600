/* One byte past the end of a block that is never freed. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    p[n] = 'x';
    sink(p);
    return carry_on(n);
}
