/* strcpy of a string of n characters into n bytes: its NUL lands past the
 * end. */
#include "misuse.h"
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *s = malloc(n + 1);
    memset(s, 'd', n);
    s[n] = 0;
    char *p = malloc(n);
    strcpy(p, s);
    sink(p);
    free(p);
    free(s);
    return carry_on(n);
}
