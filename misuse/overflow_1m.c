/* memset of the 1 MiB past the end of a block (a runaway copy): over
 * whatever follows it, other blocks and any allocator metadata there. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    char *q = malloc(n);
    sink(q);
    memset(p + n, 'M', 1 << 20);
    sink(p);
    free(p);
    free(q);
    return carry_on(n);
}
