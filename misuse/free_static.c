/* Frees a static array. */
#include "misuse.h"
static char table[4096];
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    sink(table);
    free(table);
    return carry_on(n);
}
