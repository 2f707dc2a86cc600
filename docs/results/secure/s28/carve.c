#include <stdlib.h>
#include <stdio.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 512000;
    size_t sz = argc > 2 ? atoi(argv[2]) : 64;
    void **v = malloc(n * sizeof(void *));
    for (int i = 0; i < n; i++) v[i] = malloc(sz);
    unsigned long s = 0;
    for (int i = 0; i < n; i++) s += (unsigned long)v[i] & 0xff0;
    printf("%lu\n", s);
    return 0;
}
