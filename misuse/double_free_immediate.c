/* Frees a block twice in a row. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    sink(p);
    free(p);
    return carry_on(n);
}
