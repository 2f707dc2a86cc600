/* Frees a block's address plus one. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p + 1);
    return carry_on(n);
}
