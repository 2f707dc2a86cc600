/* Writes 32 bytes past the end of a block (into whatever follows it). */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    char *q = malloc(n);
    sink(q);
    memset(p + n, 'B', 32);
    sink(p);
    free(p);
    free(q);
    return carry_on(n);
}
