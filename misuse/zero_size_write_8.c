/* Writes a word into a realloc(p, 0)-style zero-size block (calloc(0, 1)). */
#include "misuse.h"
#include <stdint.h>
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = calloc(0, 1);
    if (!p) return carry_on(n);
    uint64_t v = 7;
    memcpy(p, &v, 8);
    sink(p);
    free(p);
    return carry_on(n);
}
