/* Writes the word before the start of a block. */
#include "misuse.h"
#include <stdint.h>
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *a = malloc(n);
    char *p = malloc(n);
    uint64_t v = 0x4242424242424242ull;
    memcpy(p - 8, &v, 8);
    sink(a);
    sink(p);
    free(p);
    free(a);
    return carry_on(n);
}
