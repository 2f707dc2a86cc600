/* Frees ten blocks, writes into the fifth, then allocates ten again. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *b[10];
    for (int i = 0; i < 10; i++) b[i] = malloc(n);
    for (int i = 0; i < 10; i++) free(b[i]);
    b[4][n / 3] = 'x';
    sink(b[4]);
    for (int i = 0; i < 10; i++) b[i] = malloc(n);
    for (int i = 0; i < 10; i++) free(b[i]);
    return carry_on(n);
}
