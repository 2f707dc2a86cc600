/* A burst freed by another thread while its owner stays busy: the main
 * thread makes 8000 blocks of 6000 bytes (about 47 MiB) and hands them to
 * a second thread, which frees them all and sleeps (with the argument
 * "local", the main thread frees every eighth block itself first, so that
 * the burst's pages are not full any more); the main thread then
 * makes and frees small blocks (16-520 bytes, one at a time) for 2 s.
 * Prints the resident set after the burst, after the other thread's
 * frees, and 0.5, 1 and 2 s into the work (KiB). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { N = 8000 };
static void *burst[N];

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        return -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *freer(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++)
        free(burst[i]);
    sleep(3);
    return NULL;
}

int main(int argc, char **argv) {
    for (int i = 0; i < N; i++) {
        burst[i] = malloc(6000);
        memset(burst[i], 1, 6000);
    }
    if (argc > 1 && strcmp(argv[1], "local") == 0) {
        for (int i = 0; i < N; i += 8) {
            free(burst[i]);
            burst[i] = NULL; /* free(NULL) in the other thread */
        }
    }
    printf("burst rss %ld KiB\n", rss_kib());
    pthread_t t;
    pthread_create(&t, NULL, freer, NULL);
    usleep(100000);
    printf("freed rss %ld KiB\n", rss_kib());
    double start = now_s(), marks[] = {0.5, 1.0, 2.0};
    int next = 0;
    for (long k = 0; next < 3; k++) {
        /* volatile: the compiler may not drop the pair. */
        char *volatile q = malloc(16 + (k & 63) * 8);
        q[0] = (char)k;
        free(q);
        if ((k & 0xffff) == 0 && now_s() - start >= marks[next])
            printf("t=%.1f s rss %ld KiB\n", marks[next++], rss_kib());
    }
    return 0;
}
