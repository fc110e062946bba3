/*
 * embed.c -- lowthread used from C, as a project embedding it would: a pool
 * of worker threads takes jobs from a counter guarded by a lock, and the main
 * thread waits for them with timed waits, reporting progress meanwhile.
 * The locks live in the program's own memory: one static, with
 * LT_LOCK_INIT, one inside the pool's struct; neither needs freeing.
 *
 * `make -C csrc examples` builds it against the static library.  Against an
 * installed lowthread (`make -C csrc install`), build it with pkg-config;
 * --static adds Libs.private (-pthread), which the static library needs:
 *
 *     cc -std=c99 embed.c $(pkg-config --cflags --libs --static lowthread) -o embed
 */
#include <stdio.h>
#include <stdlib.h>

#include "lowthread.h"

#define WORKERS 4
#define JOBS 64
#define SPAN 5000 /* job j counts the primes in [j * SPAN, (j + 1) * SPAN) */

/* Held by main until the last worker leaves. */
static lt_lock_t all_done = LT_LOCK_INIT;

struct pool {
    lt_lock_t mu; /* guards the fields below */
    int next_job;
    int jobs_done;
    long primes;
    int workers_left;
};

static long count_primes(long lo, long hi)
{
    long n, d, count = 0;

    for (n = lo < 2 ? 2 : lo; n < hi; n++) {
        for (d = 2; d * d <= n && n % d != 0; d++)
            ;
        count += d * d > n;
    }
    return count;
}

/* An untimed acquire can still fail (LT_ESYS); this program gives up then. */
static void lock(lt_lock_t *mu)
{
    if (lt_lock_acquire(mu, -1, 0) != LT_OK) {
        fprintf(stderr, "embed: cannot acquire a lock\n");
        exit(1);
    }
}

static void worker(void *arg)
{
    struct pool *pool = arg;
    long found;
    int job, last;

    /* A runtime would set up its per-thread state first; this worker has
     * none, so lt_threads_close() need not wait for it. */
    lt_thread_started();
    for (;;) {
        lock(&pool->mu);
        job = pool->next_job < JOBS ? pool->next_job++ : -1;
        lt_lock_release(&pool->mu);
        if (job < 0)
            break;
        found = count_primes((long)job * SPAN, (long)(job + 1) * SPAN);
        lock(&pool->mu);
        pool->primes += found;
        pool->jobs_done++;
        lt_lock_release(&pool->mu);
    }
    lock(&pool->mu);
    last = --pool->workers_left == 0;
    lt_lock_release(&pool->mu);
    /* The last use of the pool: main may end its life as soon as this
     * returns. */
    if (last)
        lt_lock_release(&all_done);
}

int main(void)
{
    struct pool pool = {LT_LOCK_INIT, 0, 0, 0, WORKERS};
    int64_t start = lt_monotonic_us();
    uint64_t ident;
    long expected;
    int i, rc, done;

    if (lt_lock_acquire(&all_done, 0, 0) != LT_OK) {
        fprintf(stderr, "embed: cannot take a free lock\n");
        return 1;
    }
    printf("lowthread back-end: %s\n", lt_backend());
    for (i = 0; i < WORKERS; i++) {
        rc = lt_thread_start(worker, &pool, &ident);
        if (rc != LT_OK) {
            fprintf(stderr, "embed: cannot start a worker: %d\n", rc);
            return 1;
        }
        printf("worker %d: ident %#llx\n", i, (unsigned long long)ident);
    }

    /* Report progress every 50 ms, and give up after a minute. */
    while ((rc = lt_lock_acquire(&all_done, 50000, 0)) == LT_TIMEDOUT) {
        lock(&pool.mu);
        done = pool.jobs_done;
        lt_lock_release(&pool.mu);
        printf("  %d of %d jobs done\n", done, JOBS);
        if (lt_monotonic_us() - start > 60000000) {
            fprintf(stderr, "embed: the workers did not finish\n");
            return 1;
        }
    }
    if (rc != LT_OK) {
        fprintf(stderr, "embed: waiting failed: %d\n", rc);
        return 1;
    }
    printf("%ld primes below %ld, found by %d workers in %lld ms\n", pool.primes,
           (long)JOBS * SPAN, WORKERS, (long long)(lt_monotonic_us() - start) / 1000);

    /* As a runtime would before tearing itself down: no thread starts any
     * more, and none is half-way through its start-up. */
    if (lt_threads_close(1000000) != LT_OK)
        fprintf(stderr, "embed: a thread was still starting up\n");
    lt_lock_fini(&pool.mu);

    expected = count_primes(0, (long)JOBS * SPAN);
    if (pool.primes != expected) {
        fprintf(stderr, "embed: expected %ld primes\n", expected);
        return 1;
    }
    return 0;
}
