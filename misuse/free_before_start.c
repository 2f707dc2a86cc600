/* Frees the address 16 bytes before a block. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *a = malloc(n);
    char *p = malloc(n);
    sink(a);
    free(p - 16);
    return carry_on(n);
}
