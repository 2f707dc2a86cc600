/* A block of n+3 bytes (odd, inside its size class's rounding), written one
 * byte past its end. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv) + 3;
    char *p = malloc(n);
    p[n] = 'x';
    sink(p);
    free(p);
    return carry_on(n);
}
