/* free(a); free(b); free(a): the pattern that fools a check of the last
 * freed block only. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *a = malloc(n);
    char *b = malloc(n);
    free(a);
    free(b);
    free(a);
    return carry_on(n);
}
