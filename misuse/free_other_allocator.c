/* Frees a block of the C library's own allocator (through glibc's
 * __libc_malloc, which an LD_PRELOAD'ed malloc does not replace). */
#include "misuse.h"
extern void *__libc_malloc(size_t);
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    void *p = __libc_malloc(n);
    sink(p);
    free(p);
    return carry_on(n);
}
