/* Overwrites a whole block after freeing it. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    memset(p, 'F', n);
    sink(p);
    return carry_on(n);
}
