/* Another thread frees a block; the main thread frees it again. */
#include "misuse.h"
#include <pthread.h>
static void *release(void *p) {
    free(p);
    return NULL;
}
int main(int argc, char **argv) {
    size_t n = block_size(argc, argv);
    char *p = malloc(n);
    pthread_t t;
    pthread_create(&t, NULL, release, p);
    pthread_join(t, NULL);
    free(p);
    return carry_on(n);
}
