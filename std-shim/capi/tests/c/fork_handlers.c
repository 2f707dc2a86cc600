/* masu registers its fork handlers only once a process needs them (see
 * std-shim/src/lifecycle.rs). argv[1] says what the process does before it
 * forks: "single" nothing more (it never has a second thread), "threaded"
 * start a thread that allocates, "purger" free a large block (which starts
 * masu's purger thread). The child allocates, starts a thread and exits;
 * prints "ok" when it did. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void *worker(void *arg) {
    (void)arg;
    void *p = malloc(64);
    free(p);
    return NULL;
}

static int run_thread(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0) return 0;
    pthread_join(t, NULL);
    return 1;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "single";
    void *p = malloc(100);
    if (strcmp(mode, "threaded") == 0 && !run_thread()) return 2;
    if (strcmp(mode, "purger") == 0) {
        char *big = malloc(8 << 20);
        memset(big, 1, 8 << 20);
        free(big);
    }
    pid_t pid = fork();
    if (pid == 0) {
        alarm(20); /* a deadlocked child dies instead of hanging */
        for (int i = 0; i < 100; i++) free(malloc(1 + i * 50));
        _exit(run_thread() ? 0 : 1);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 3;
    free(p);
    puts("ok");
    return 0;
}
