/* C ABI conformance of libmasu.so: run under LD_PRELOAD (see
 * tests/conformance.rs). Prints one line per failed check and a closing
 * "conformance: N passed, M failed"; exits 1 when a check failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Declared here: not every libc header has them. */
void *reallocarray(void *, size_t, size_t);
void *pvalloc(size_t);
void *valloc(size_t);

static int passed, failed;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                  \
    } while (0)

/* Keeps the compiler from pairing or eliding allocator calls. */
static void *volatile sink;

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static int all_bytes(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static void test_masu_is_active(void) {
    void (*print)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "masu_stats_print");
    void (*collect)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "masu_collect");
    CHECK(print != NULL);
    CHECK(collect != NULL);
    /* masu's smallest class is 8 bytes; glibc's smallest chunk holds 24. */
    void *p = malloc(1);
    CHECK(malloc_usable_size(p) == 8 || malloc_usable_size(p) == 16);
    free(p);
    if (collect) collect(1);
}

static void test_malloc(void) {
    void *a = malloc(0), *b = malloc(0);
    CHECK(a != NULL && b != NULL && a != b);
    free(a);
    free(b);
    free(NULL);

    errno = 0;
    CHECK(malloc(SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(malloc(PTRDIFF_MAX) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(malloc((size_t)PTRDIFF_MAX - 8) == NULL);
    CHECK(errno == ENOMEM);

    int ok_align = 1, ok_size = 1;
    for (size_t n = 1; n <= 3000; n++) {
        unsigned char *p = malloc(n);
        if (!p) { ok_size = 0; break; }
        if (!aligned_to(p, n <= 8 ? 8 : 16)) ok_align = 0;
        if (malloc_usable_size(p) < n) ok_size = 0;
        memset(p, 0xa5, n);
        free(p);
    }
    CHECK(ok_align);
    CHECK(ok_size);
    size_t big[] = {65536, 65537, 200000, 1 << 20, 3 << 20, 5 << 20, 64 << 20};
    for (size_t i = 0; i < sizeof big / sizeof big[0]; i++) {
        unsigned char *p = malloc(big[i]);
        CHECK(p != NULL && aligned_to(p, 16) && malloc_usable_size(p) >= big[i]);
        memset(p, 1, big[i]);
        free(p);
    }
    CHECK(malloc_usable_size(NULL) == 0);
}

static void test_calloc(void) {
    errno = 0;
    CHECK(calloc(SIZE_MAX / 2, 3) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(calloc(3, SIZE_MAX / 2) == NULL);
    CHECK(errno == ENOMEM);
    errno = 0;
    CHECK(calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
    CHECK(errno == ENOMEM);
    void *z = calloc(0, 5);
    CHECK(z != NULL);
    free(z);
    /* Dirty blocks, free them, then calloc must hand out zeroes. */
    size_t sizes[] = {8, 24, 100, 1000, 4096, 40000, 100000, 3 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        for (int k = 0; k < 4; k++) {
            unsigned char *d = malloc(sizes[i]);
            memset(d, 0xff, sizes[i]);
            free(d);
            unsigned char *c = calloc(1, sizes[i]);
            CHECK(c != NULL && all_bytes(c, sizes[i], 0));
            memset(c, 0xee, sizes[i]);
            free(c);
        }
    }
}

static void test_realloc(void) {
    unsigned char *p = realloc(NULL, 10);
    CHECK(p != NULL);
    memset(p, 7, 10);
    /* grow through small, large and huge, shrink back, keep the contents */
    size_t steps[] = {10, 100, 5000, 70000, 300000, 5 << 20, 9 << 20, 1000, 16, 3};
    size_t have = 10;
    for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
        size_t keep = have < steps[i] ? have : steps[i];
        unsigned char *q = realloc(p, steps[i]);
        CHECK(q != NULL);
        if (!q) return;
        CHECK(all_bytes(q, keep, 7));
        CHECK(aligned_to(q, steps[i] <= 8 ? 8 : 16));
        memset(q, 7, steps[i]);
        p = q;
        have = steps[i];
    }
    errno = 0;
    CHECK(realloc(p, SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(all_bytes(p, have, 7)); /* untouched on failure */
    /* glibc: realloc(p, 0) frees p and returns NULL */
    CHECK(realloc(p, 0) == NULL);

    /* an 8-byte block grown keeps the malloc alignment */
    unsigned char *t = malloc(5);
    memcpy(t, "abcd", 5);
    unsigned char *u = realloc(t, 40);
    CHECK(u != NULL && aligned_to(u, 16) && memcmp(u, "abcd", 5) == 0);
    free(u);

    unsigned char *r = malloc(64);
    memset(r, 3, 64);
    errno = 0;
    CHECK(reallocarray(r, SIZE_MAX / 2, 3) == NULL);
    CHECK(errno == ENOMEM);
    CHECK(all_bytes(r, 64, 3));
    unsigned char *r2 = reallocarray(r, 100, 4);
    CHECK(r2 != NULL && all_bytes(r2, 64, 3) && malloc_usable_size(r2) >= 400);
    free(r2);
    void *ra = reallocarray(NULL, 0, 8); /* realloc(NULL, 0) = malloc(0) */
    CHECK(ra != NULL);
    free(ra);
}

static void test_aligned(void) {
    void *p = (void *)0x1234;
    CHECK(posix_memalign(&p, 3, 8) == EINVAL);
    CHECK(posix_memalign(&p, 4, 8) == EINVAL);
    CHECK(posix_memalign(&p, 0, 8) == EINVAL);
    CHECK(posix_memalign(&p, 24, 8) == EINVAL);
    CHECK(p == (void *)0x1234);
    CHECK(posix_memalign(&p, 64, SIZE_MAX) == ENOMEM);
    CHECK(p == (void *)0x1234);
    for (size_t a = sizeof(void *); a <= ((size_t)1 << 23); a <<= 1) {
        size_t sizes[] = {0, 1, 100, 5000, 70000, 3 << 20};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            void *q = NULL;
            int rc = posix_memalign(&q, a, sizes[i]);
            CHECK(rc == 0 && q != NULL && aligned_to(q, a) && malloc_usable_size(q) >= sizes[i]);
            if (q) memset(q, 9, sizes[i]);
            /* realloc of an aligned block keeps the contents */
            unsigned char *g = realloc(q, sizes[i] + 100);
            CHECK(g != NULL && all_bytes(g, sizes[i], 9));
            free(g);
        }
    }
    errno = 0;
    CHECK(aligned_alloc(3, 10) == NULL);
    CHECK(errno == EINVAL);
    errno = 0;
    CHECK(aligned_alloc(0, 10) == NULL);
    CHECK(errno == EINVAL);
    void *a = aligned_alloc(4096, 100);
    CHECK(a != NULL && aligned_to(a, 4096));
    free(a);
    void *m = memalign(24, 10); /* glibc rounds up to 32 */
    CHECK(m != NULL && aligned_to(m, 32));
    free(m);
    m = memalign(0, 10);
    CHECK(m != NULL);
    free(m);
    m = memalign(1 << 20, 1);
    CHECK(m != NULL && aligned_to(m, 1 << 20));
    free(m);
    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(10);
    CHECK(v != NULL && aligned_to(v, page));
    free(v);
    void *pv = pvalloc(0);
    CHECK(pv != NULL && aligned_to(pv, page) && malloc_usable_size(pv) >= (size_t)page);
    free(pv);
    pv = pvalloc(1);
    CHECK(pv != NULL && aligned_to(pv, page) && malloc_usable_size(pv) >= (size_t)page);
    free(pv);
    errno = 0;
    CHECK(pvalloc(SIZE_MAX) == NULL);
    CHECK(errno == ENOMEM);
}

/* ---- threads: cross-thread frees and exits with live blocks ---- */

#define SLOTS 4096
static void *volatile shared[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        size_t n = 1 + (seed >> 8) % 2000;
        unsigned char *p = malloc(n);
        if (!p) abort();
        p[0] = (unsigned char)n;
        p[n - 1] = (unsigned char)n;
        size_t k = (seed >> 4) % SLOTS;
        pthread_mutex_lock(&lock);
        unsigned char *old = shared[k];
        shared[k] = p;
        pthread_mutex_unlock(&lock);
        if (old) free(old); /* usually another thread's block */
    }
    /* leave live blocks behind: the main thread frees them after we exit */
    return NULL;
}

static void test_threads(void) {
    pthread_t t[8];
    for (int i = 0; i < 8; i++) CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1)) == 0);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    int intact = 1;
    for (int k = 0; k < SLOTS; k++) {
        unsigned char *p = shared[k];
        if (p) {
            size_t n = malloc_usable_size(p);
            if (n == 0) intact = 0;
            free(p);
            shared[k] = NULL;
        }
    }
    CHECK(intact);
}

/* ---- fork while other threads allocate ---- */

static volatile int stop_churn;

static void *worker_short(void *arg) {
    (void)arg;
    void *p = malloc(100);
    sink = p;
    free(p);
    return malloc(50); /* a live block left by an exiting thread */
}

static void *churn(void *arg) {
    (void)arg;
    while (!stop_churn) {
        void *p[16];
        for (int i = 0; i < 16; i++) p[i] = malloc(16 + i * 100);
        for (int i = 0; i < 16; i++) free(p[i]);
        /* thread start and exit take masu's pool lock */
        pthread_t t;
        void *left = NULL;
        if (pthread_create(&t, NULL, worker_short, NULL) == 0) pthread_join(t, &left);
        free(left);
    }
    return NULL;
}

static void test_fork(void) {
    pthread_t t[3];
    for (int i = 0; i < 3; i++) pthread_create(&t[i], NULL, churn, NULL);
    int children_ok = 1;
    for (int round = 0; round < 30; round++) {
        void *before = malloc(1000);
        pid_t pid = fork();
        if (pid == 0) {
            alarm(20); /* a deadlocked child dies instead of hanging */
            free(before);
            for (int i = 0; i < 1000; i++) free(malloc(1 + i * 37));
            pthread_t c;
            void *left = NULL;
            if (pthread_create(&c, NULL, worker_short, NULL) != 0) _exit(2);
            pthread_join(c, &left);
            free(left);
            _exit(0);
        }
        free(before);
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            children_ok = 0;
    }
    stop_churn = 1;
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    CHECK(children_ok);
}

/* Run with MASU_MEMORY_LIMIT=64M: allocations fail with ENOMEM before the
 * limit is passed, and succeed again once memory is freed. */
static int limit_mode(void) {
    static void *held[1024];
    int n = 0;
    errno = 0;
    while (n < 1024) {
        void *p = malloc(1 << 20);
        if (!p) break;
        memset(p, 1, 1 << 20);
        held[n++] = p;
    }
    CHECK(n >= 48 && n <= 64);
    CHECK(errno == ENOMEM);
    CHECK(calloc(1, 1 << 20) == NULL);
    for (int i = 0; i < n; i++) free(held[i]);
    void (*collect)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "masu_collect");
    if (collect) collect(1);
    void *again = malloc(32 << 20);
    CHECK(again != NULL);
    free(again);
    printf("limit: %d blocks of 1 MiB; limit mode: %d passed, %d failed\n", n, passed, failed);
    return failed == 0 ? 0 : 1;
}

/* glibc's statistics calls, answered from masu's figures. */
static void test_glibc_stats(void) {
    char *big = malloc(1 << 20);
    CHECK(big != NULL);
    memset(big, 1, 1 << 20);
    struct mallinfo2 mi = mallinfo2();
    CHECK(mi.uordblks >= (1u << 20));
    CHECK(mi.arena >= mi.uordblks);
    CHECK(mi.fordblks == mi.arena - mi.uordblks);
    CHECK(mi.hblks > 0 && mi.hblkhd >= mi.arena);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (f) {
        CHECK(malloc_info(0, f) == 0);
        char text[1024] = {0};
        rewind(f);
        size_t n = fread(text, 1, sizeof text - 1, f);
        CHECK(n > 0);
        CHECK(strstr(text, "<malloc version=\"masu-1\">") != NULL);
        CHECK(strstr(text, "type=\"live\"") != NULL);
        errno = 0;
        CHECK(malloc_info(1, f) == -1 && errno == EINVAL);
        fclose(f);
    }
    free(big);
    struct mallinfo2 after = mallinfo2();
    CHECK(after.uordblks + (1u << 20) <= mi.uordblks);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "limit") == 0) return limit_mode();
    test_masu_is_active();
    test_malloc();
    test_calloc();
    test_realloc();
    test_aligned();
    test_threads();
    test_fork();
    test_glibc_stats();
    void (*cf)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "cfree");
    CHECK(cf != NULL);
    if (cf) cf(malloc(10));
    printf("conformance: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
