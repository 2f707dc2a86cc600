// Issue 11's two-thread burst as a C program, for any allocator under
// LD_PRELOAD: two threads each allocate about 512 MiB of mixed blocks
// (60 % 8-255 B, 30 % 256 B-4 KiB, 9 % 4-32 KiB, 1 % 32-512 KiB), free every
// other block of their own and every other block of the other thread's
// (half of the frees are remote), then stay alive, blocked, while the main
// thread prints the resident set after 100, 250, 500, 1000 and 2000 ms.
// FULL=1 writes every byte of each block (else its first 64 and last byte).
//
//   gcc -O2 -pthread -o two_thread_idle benches/c/two_thread_idle.c
//   LD_PRELOAD=target/release/libmasu.so ./two_thread_idle
//
// Results: docs/results/issue11/idle-purge/.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define N (1<<20)
static void *blocks[2][N];
static size_t counts[2];
static pthread_barrier_t bar;
static long rss_kb(void){FILE*f=fopen("/proc/self/statm","r");long a,b;fscanf(f,"%ld %ld",&a,&b);fclose(f);return b*4;}
static unsigned long long rng(unsigned long long*s){*s^=*s<<13;*s^=*s>>7;*s^=*s<<17;return *s;}
static void *worker(void *arg){
  long id=(long)arg; int full=getenv("FULL")!=0; unsigned long long s=id*7919+1; size_t total=0,n=0;
  while(total < (512u<<20) && n < N){
    size_t r=rng(&s)%100, sz;
    if(r<60) sz=8+rng(&s)%248; else if(r<90) sz=256+rng(&s)%3840; else if (r<99) sz=4096+rng(&s)%28672; else sz=32768+rng(&s)%(480u<<10);
    char*p=malloc(sz); memset(p,1,full?sz:(sz<64?sz:64)); p[sz-1]=1; blocks[id][n++]=p; total+=sz;
  }
  counts[id]=n;
  pthread_barrier_wait(&bar);
  // free own even-indexed and the other's odd-indexed
  for(size_t i=0;i<counts[id];i+=2) free(blocks[id][i]);
  long o=1-id;
  for(size_t i=1;i<counts[o];i+=2) free(blocks[o][i]);
  pthread_barrier_wait(&bar);
  pthread_barrier_wait(&bar); // idle until main is done
  return 0;
}
int main(){
  pthread_t t[2]; pthread_barrier_init(&bar,0,3);
  long before=rss_kb();
  for(long i=0;i<2;i++) pthread_create(&t[i],0,worker,(void*)i);
  pthread_barrier_wait(&bar); long peak=rss_kb();
  pthread_barrier_wait(&bar);
  printf("before %ld peak %ld freed %ld", before, peak, rss_kb());
  int ms[]={100,250,500,1000,2000};int last=0;
  for(int k=0;k<5;k++){usleep((ms[k]-last)*1000);last=ms[k];printf(" t%d=%ld",ms[k],rss_kb());}
  printf("\n");
  pthread_barrier_wait(&bar);
  for(int i=0;i<2;i++) pthread_join(t[i],0);
  return 0;
}
