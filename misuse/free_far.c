/* Frees an address 1 MiB past a block (inside or beyond the heap). */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p + (1 << 20));
    return carry_on(n);
}
