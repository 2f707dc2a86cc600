/* memset of the 32 bytes before a block. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *a = malloc(n);
    char *p = malloc(n);
    memset(p - 32, 'u', 32);
    sink(a);
    sink(p);
    free(a);
    free(p);
    return carry_on(n);
}
