/* Reallocates an address on the stack. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char buf[64];
    sink(buf);
    char *p = realloc(buf, n);
    sink(p);
    return carry_on(n);
}
