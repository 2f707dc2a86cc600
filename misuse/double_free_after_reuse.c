/* Frees a block, allocates one of the same size (often the same block),
 * frees the first pointer again, then the second. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    char *q = malloc(n);
    sink(q);
    free(p);
    free(q);
    return carry_on(n);
}
