/* Frees a block's address plus 8 (aligned, but not a block). */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p + 8);
    return carry_on(n);
}
