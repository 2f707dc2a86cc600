/* One byte past the end of a posix_memalign'd block (alignment 64). */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    void *v = NULL;
    if (posix_memalign(&v, 64, n) != 0) return 3;
    char *p = v;
    p[n] = 'x';
    sink(p);
    free(p);
    return carry_on(n);
}
