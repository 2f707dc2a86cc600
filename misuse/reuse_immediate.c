/* Frees a block and asks for one of the same size: is the freed block
 * handed out again at once (what a use after free exploits)? Continues
 * only if it is. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    free(p);
    char *q = malloc(n);
    if (q != p) {
        printf("not reused\n");
        return 2;
    }
    free(q);
    return carry_on(n);
}
