/* Writes one byte into a malloc(0) block, then frees it. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(0);
    if (!p) return carry_on(n);
    p[0] = 'z';
    sink(p);
    free(p);
    return carry_on(n);
}
