/* The misuse suite's shared helpers (see README.md). Every program commits
 * one heap misuse with blocks of the size given as its first argument, then
 * carries on as a program would (a few more allocations of that size and
 * others), and prints "continued" if it was allowed to get that far. */
#ifndef MISUSE_H
#define MISUSE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The block size of this run (argv[1]). */
static size_t block_size(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SIZE\n", argv[0]);
        exit(64);
    }
    return (size_t)strtoull(argv[1], NULL, 10);
}

/* Keeps the compiler from removing a store or a call. */
static void sink(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

/* After the misuse: more allocator calls of the same size and of others,
 * then the verdict. */
static int carry_on(size_t n) {
    void *keep[16];
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 16; i++) {
            keep[i] = malloc(i % 2 ? n : 24 + 8 * i);
            sink(keep[i]);
        }
        for (int i = 0; i < 16; i++) free(keep[i]);
    }
    printf("continued\n");
    fflush(stdout);
    return 0;
}
#endif
