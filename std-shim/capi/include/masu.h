/* masu.h: the functions of libmasu.so beyond the C and C++ allocation
 * functions it replaces (those keep their <stdlib.h>, <malloc.h> and <new>
 * declarations). Link with -lmasu, or preload libmasu.so. */
#ifndef MASU_H
#define MASU_H

#ifdef __cplusplus
extern "C" {
#endif

/* Prints masu's statistics report (counts, committed and reserved bytes,
 * where the committed bytes are) on stderr. */
void masu_stats_print(void);

/* Collects the calling thread's heap and the idle heaps of exited threads:
 * frees empty pages and does the purges that are due; with force != 0 also
 * purges everything empty now and releases the segment caches. */
void masu_collect(int force);

#ifdef __cplusplus
}
#endif

#endif /* MASU_H */
