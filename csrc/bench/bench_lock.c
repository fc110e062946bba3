/*
 * bench_lock.c -- lowthread's lock against pthread_mutex_t and sem_t, in C.
 *
 * `make -C csrc bench` builds it with the library's flags (-O2) and prints a
 * Markdown table: the uncontended acquire+release pair, and T threads (2, 4,
 * 8) taking one lock in turn for a counter's increment, in nanoseconds per
 * acquisition of the whole run's wall time (lower is better).  Each figure
 * is the best of a few runs; on a machine with fewer cores than threads the
 * contended rows measure handing the lock over through the scheduler.
 * A thread is started and joined first: glibc runs some of its locks
 * without atomic operations until a process has a second thread, which
 * would make the one-thread row measure something no threaded program sees.
 * POSIX only (pthread and unnamed semaphores).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>

#include "lowthread.h"

enum { KIND_LT, KIND_MUTEX, KIND_SEM, NKINDS };
static const char *const kind_names[NKINDS] = {"lt_lock_t", "pthread_mutex_t", "sem_t"};
static const size_t kind_sizes[NKINDS] = {sizeof(lt_lock_t), sizeof(pthread_mutex_t),
                                          sizeof(sem_t)};

struct shared {
    int kind;
    long iters;
    lt_lock_t lt;
    pthread_mutex_t mutex;
    sem_t sem;
    long counter;
};

static void take(struct shared *s)
{
    switch (s->kind) {
    case KIND_LT:
        if (lt_lock_acquire(&s->lt, -1, 0) != LT_OK)
            abort();
        break;
    case KIND_MUTEX:
        pthread_mutex_lock(&s->mutex);
        break;
    default:
        while (sem_wait(&s->sem) != 0)
            ;
        break;
    }
}

static void give(struct shared *s)
{
    switch (s->kind) {
    case KIND_LT:
        lt_lock_release(&s->lt);
        break;
    case KIND_MUTEX:
        pthread_mutex_unlock(&s->mutex);
        break;
    default:
        sem_post(&s->sem);
        break;
    }
}

static void *nothing(void *arg)
{
    return arg;
}

static void *worker(void *arg)
{
    struct shared *s = arg;
    long i;

    for (i = 0; i < s->iters; i++) {
        take(s);
        s->counter++;
        give(s);
    }
    return NULL;
}

/* Nanoseconds per acquisition of one run with nthreads threads (0: the
 * calling thread alone). */
static double run(int kind, int nthreads, long iters)
{
    struct shared s;
    pthread_t threads[8];
    int64_t t0, t1;
    int i, n = nthreads ? nthreads : 1;

    s.kind = kind;
    s.iters = iters;
    s.counter = 0;
    lt_lock_init(&s.lt);
    pthread_mutex_init(&s.mutex, NULL);
    sem_init(&s.sem, 0, 1);
    t0 = lt_monotonic_us();
    if (nthreads == 0) {
        worker(&s);
    } else {
        for (i = 0; i < nthreads; i++)
            if (pthread_create(&threads[i], NULL, worker, &s) != 0)
                abort();
        for (i = 0; i < nthreads; i++)
            pthread_join(threads[i], NULL);
    }
    t1 = lt_monotonic_us();
    if (s.counter != (long)n * iters) {
        fprintf(stderr, "bench_lock: %s lost counts\n", kind_names[kind]);
        exit(1);
    }
    sem_destroy(&s.sem);
    pthread_mutex_destroy(&s.mutex);
    lt_lock_fini(&s.lt);
    return (double)(t1 - t0) * 1000.0 / ((double)n * (double)iters);
}

static double best(int kind, int nthreads, long iters, int tries)
{
    double b = 0, x;
    int i;

    for (i = 0; i < tries; i++) {
        x = run(kind, nthreads, iters);
        if (i == 0 || x < b)
            b = x;
    }
    return b;
}

int main(int argc, char **argv)
{
    static const int rows[] = {0, 2, 4, 8};
    long scale = argc > 1 ? atol(argv[1]) : 1;
    int r, k;

    pthread_t other;

    if (scale < 1)
        scale = 1;
    if (pthread_create(&other, NULL, nothing, NULL) != 0 || pthread_join(other, NULL) != 0)
        abort();
    printf("| | %s (%zu B) | %s (%zu B) | %s (%zu B) |\n|---|---|---|---|\n",
           kind_names[0], kind_sizes[0], kind_names[1], kind_sizes[1], kind_names[2],
           kind_sizes[2]);
    for (r = 0; r < (int)(sizeof rows / sizeof rows[0]); r++) {
        long iters = (rows[r] == 0 ? 20000000L : 2000000L / rows[r]) / scale;
        double ns[NKINDS];

        for (k = 0; k < NKINDS; k++)
            ns[k] = best(k, rows[r], iters, 3);
        if (rows[r] == 0)
            printf("| acquire + release, 1 thread |");
        else
            printf("| %d threads on one lock, per acquisition |", rows[r]);
        for (k = 0; k < NKINDS; k++)
            printf(" %.1f ns |", ns[k]);
        printf("\n");
    }
    return 0;
}
