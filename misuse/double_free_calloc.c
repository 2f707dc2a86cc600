/* Frees a calloc'd block twice. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = calloc(n, 1);
    free(p);
    free(p);
    return carry_on(n);
}
