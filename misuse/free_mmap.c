/* Frees a page the program mapped itself. */
#include "misuse.h"
#include <sys/mman.h>
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 3;
    p[0] = 1;
    free(p + 4096);
    return carry_on(n);
}
