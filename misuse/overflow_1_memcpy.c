/* Copies one byte too many into a block with memcpy. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *src = malloc(n + 1);
    memset(src, 'a', n + 1);
    char *p = malloc(n);
    memcpy(p, src, n + 1);
    sink(p);
    free(p);
    free(src);
    return carry_on(n);
}
