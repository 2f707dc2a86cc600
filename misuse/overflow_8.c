/* Writes a word just past the end of a block. */
#include "misuse.h"
#include <stdint.h>
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    uint64_t v = 0x4141414141414141ull;
    memcpy(p + n, &v, 8);
    sink(p);
    free(p);
    return carry_on(n);
}
