/* Overwrites the whole next block of the same size (memset of 2n bytes),
 * then frees both. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    char *q = malloc(n);
    memset(p, 'C', 2 * n);
    sink(p);
    sink(q);
    free(q);
    free(p);
    return carry_on(n);
}
