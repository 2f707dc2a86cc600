/* A program that does a little work at intervals after a burst: 8000
 * blocks of 6000 bytes (about 47 MiB) made and freed, then every PERIOD ms
 * (argument; default 50) 64 blocks of 2-3 KB made and freed, for 3 s.
 * Prints the resident set after the burst, after the first interval,
 * at the first interval past 500 ms, and at the end (KiB). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long rss_kib(void) {
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL || fscanf(f, "%ld %ld", &pages, &resident) != 2)
        return -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
    int period = argc > 1 ? atoi(argv[1]) : 50;
    enum { N = 8000 };
    static void *burst[N];
    for (int i = 0; i < N; i++) {
        burst[i] = malloc(6000);
        memset(burst[i], 1, 6000);
    }
    printf("burst rss %ld KiB\n", rss_kib());
    for (int i = 0; i < N; i++)
        free(burst[i]);
    int steps = 3000 / period, said_500 = 0;
    for (int t = 1; t <= steps; t++) {
        usleep(period * 1000);
        void *work[64];
        for (int i = 0; i < 64; i++)
            work[i] = malloc(2000 + i * 16);
        for (int i = 0; i < 64; i++)
            free(work[i]);
        int ms = t * period;
        if (t == 1 || (ms >= 500 && !said_500) || t == steps) {
            said_500 |= ms >= 500;
            printf("t=%d ms rss %ld KiB\n", ms, rss_kib());
        }
    }
    return 0;
}
