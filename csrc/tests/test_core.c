/*
 * test_core.c -- the portable test suite of lowthread's C core.
 *
 * It uses nothing but lowthread.h and the C library, so that the same file
 * runs on every platform: threads come from lt_thread_start(), all
 * synchronisation from lt locks, time from lt_monotonic_us(), and sleeping
 * is a timed wait on a lock that is never released.  Every wait is bounded:
 * a test that would hang fails instead.  Timing checks are one-sided (never
 * early) plus a generous upper bound.
 *
 * Environment: LT_TEST_QUICK=1 scales the loops down (for valgrind's DRD,
 * which cannot follow 1000 threads).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lowthread.h"
#include "t_support.h"

/* ---- harness (the rest is in t_support.h) ---------------------------------- */

static int t_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* ---- constants and argument checks ------------------------------------------ */

static void test_backend_and_constants(void)
{
    const char *backend = lt_backend();

    CHECK(backend != NULL);
    if (backend == NULL)
        return;
    printf("    back-end: %s\n", backend);
    CHECK(strcmp(backend, "semaphore") == 0 || strcmp(backend, "condvar") == 0
          || strcmp(backend, "win32") == 0);
    CHECK(LT_OK == 0);
    CHECK(LT_TIMEDOUT > 0 && LT_INTR > 0 && LT_TIMEDOUT != LT_INTR);
    CHECK(LT_EINVAL < 0 && LT_ENOMEM < 0 && LT_ENOTLOCKED < 0 && LT_EAGAIN < 0
          && LT_ECLOSED < 0 && LT_ENOTSUP < 0 && LT_ESYS < 0);
    CHECK(LT_TIMEOUT_MAX_US > 0);
    CHECK(LT_STACK_SIZE_MIN == 32768);
}

static void test_monotonic_clock(void)
{
    int64_t prev = lt_monotonic_us(), t0, elapsed;
    int backwards = 0, i;

    for (i = 0; i < 100000; i++) {
        int64_t now = lt_monotonic_us();

        backwards += now < prev;
        prev = now;
    }
    CHECK(backwards == 0);
    t0 = lt_monotonic_us();
    t_sleep_us(20000);
    elapsed = lt_monotonic_us() - t0;
    if (elapsed < 20000 || elapsed > 20000 + T_SLOP)
        t_fail(__FILE__, __LINE__, "a 20 ms sleep took %lld us", (long long)elapsed);
}

static void test_invalid_arguments(void)
{
    lt_lock_t *lock = t_new_lock();
    uint64_t ident = 12345;

    CHECK_RC(lt_lock_new(NULL), LT_EINVAL);
    CHECK_RC(lt_lock_acquire(NULL, 0, 0), LT_EINVAL);
    CHECK_RC(lt_lock_acquire(NULL, -1, 0), LT_EINVAL);
    CHECK_RC(lt_lock_acquire(NULL, T_SEC, LT_WAIT_INTR), LT_EINVAL);
    CHECK_RC(lt_lock_release(NULL), LT_EINVAL);
    CHECK(lt_lock_locked(NULL) == 0);
    CHECK_RC(lt_lock_at_fork_reinit(NULL), LT_EINVAL);
    lt_lock_free(NULL);
    CHECK_RC(lt_thread_start(NULL, NULL, NULL), LT_EINVAL);
    CHECK_RC(lt_thread_start(NULL, &ident, &ident), LT_EINVAL);

    /* Unknown flags are refused before any wait, and change nothing. */
    CHECK_RC(lt_lock_acquire(lock, 0, 2), LT_EINVAL);
    CHECK_RC(lt_lock_acquire(lock, -1, -1), LT_EINVAL);
    CHECK_RC(lt_lock_acquire(lock, T_SEC, LT_WAIT_INTR | 4), LT_EINVAL);
    CHECK(lt_lock_locked(lock) == 0);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, -1, 8), LT_EINVAL);
    CHECK(lt_lock_locked(lock) == 1);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    lt_lock_free(lock);

}

/* ---- locks, one thread --------------------------------------------------------- */

static void test_lock_basics(void)
{
    lt_lock_t *lock = t_new_lock();
    int64_t t0;

    CHECK(lt_lock_locked(lock) == 0);
    CHECK_RC(lt_lock_acquire(lock, -1, 0), LT_OK);
    CHECK(lt_lock_locked(lock) == 1);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_lock_acquire(lock, 0, LT_WAIT_INTR), LT_TIMEDOUT);
    CHECK(lt_lock_locked(lock) == 1);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK(lt_lock_locked(lock) == 0);

    /* Releasing an unlocked lock is refused and changes nothing. */
    CHECK_RC(lt_lock_release(lock), LT_ENOTLOCKED);
    CHECK_RC(lt_lock_release(lock), LT_ENOTLOCKED);
    CHECK(lt_lock_locked(lock) == 0);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_lock_release(lock), LT_OK);

    /* A free lock is taken at once, whatever the timeout and flags. */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(lock, 10 * T_SEC, 0), LT_OK);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, -1, LT_WAIT_INTR), LT_OK);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, 10 * T_SEC, LT_WAIT_INTR), LT_OK);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, 0, LT_WAIT_INTR), LT_OK);
    CHECK(lt_monotonic_us() - t0 < T_SLOP);

    /* Freeing a locked lock is allowed (LeakSanitizer checks the rest). */
    lt_lock_free(lock);
}

/* bpo-11618: a timed-out acquire must leave the lock as it was. */
static void test_state_after_timeout(void)
{
    lt_lock_t *lock = t_new_held_lock();
    int i;

    for (i = 0; i < 3; i++) {
        CHECK_RC(lt_lock_acquire(lock, 5000, 0), LT_TIMEDOUT);
        CHECK(lt_lock_locked(lock) == 1);
    }
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK(lt_lock_locked(lock) == 0);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK_RC(lt_lock_release(lock), LT_ENOTLOCKED);
    lt_lock_free(lock);
}

static void test_timed_waits_never_early(void)
{
    static const int64_t timeouts[] = {1, 100, 1000, 10000, 30000};
    int64_t overshoot[64];
    int64_t worst = 0;
    lt_lock_t *lock = t_new_held_lock();
    int n = 0, i, j;

    for (i = 0; i < (int)(sizeof timeouts / sizeof timeouts[0]); i++) {
        int64_t timeout = timeouts[i];
        int reps = timeout == 10000 ? t_scale(40, 10) : t_scale(5, 2);

        for (j = 0; j < reps; j++) {
            int64_t t0 = lt_monotonic_us(), elapsed;
            int rc = lt_lock_acquire(lock, timeout, 0);

            elapsed = lt_monotonic_us() - t0;
            CHECK_RC(rc, LT_TIMEDOUT);
            if (elapsed < timeout || elapsed > timeout + T_SLOP)
                t_fail(__FILE__, __LINE__, "a %lld us wait took %lld us",
                       (long long)timeout, (long long)elapsed);
            if (elapsed - timeout > worst)
                worst = elapsed - timeout;
            if (timeout == 10000 && n < 64)
                overshoot[n++] = elapsed - timeout;
        }
    }
    qsort(overshoot, (size_t)n, sizeof overshoot[0], t_cmp_i64);
    printf("    10 ms waits: overshoot median %lld us, max %lld us (n=%d); "
           "max over all waits %lld us\n",
           (long long)overshoot[n / 2], (long long)overshoot[n - 1], n,
           (long long)worst);
    CHECK(lt_lock_locked(lock) == 1);
    lt_lock_free(lock);
}

/* ---- locks and threads ----------------------------------------------------------- */

struct t_release_job {
    lt_lock_t *lock;
    int64_t delay_us;
    int rc;
    struct t_latch done;
};

static void t_release_later(void *arg)
{
    struct t_release_job *job = arg;

    t_sleep_us(job->delay_us);
    job->rc = lt_lock_release(job->lock);
    t_latch_count_down(&job->done);
}

/* Starts a thread that releases lock after delay_us.  Returns 0 if the
 * thread could not be started. */
static int t_start_release(struct t_release_job *job, lt_lock_t *lock, int64_t delay_us)
{
    int rc;

    job->lock = lock;
    job->delay_us = delay_us;
    job->rc = 99;
    t_latch_init(&job->done, 1);
    rc = lt_thread_start(t_release_later, job, NULL);
    CHECK_RC(rc, LT_OK);
    if (rc != LT_OK)
        t_latch_free(&job->done);
    return rc == LT_OK;
}

/* Returns the releasing thread's status, or 99 if it did not finish. */
static int t_finish_release(struct t_release_job *job)
{
    if (!t_latch_wait(&job->done, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the releasing thread did not finish");
        return 99;
    }
    t_latch_free(&job->done);
    return job->rc;
}

static void test_release_from_another_thread(void)
{
    struct t_release_job job;
    lt_lock_t *lock = t_new_held_lock();
    int64_t t0;

    /* Contended try: another thread holds the lock. */
    if (t_start_release(&job, lock, 50000)) {
        CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_TIMEDOUT);
        t0 = lt_monotonic_us();
        CHECK_RC(lt_lock_acquire(lock, T_LONG, 0), LT_OK);
        CHECK(lt_monotonic_us() - t0 < T_LONG);
        CHECK_RC(t_finish_release(&job), LT_OK);
        CHECK(lt_lock_locked(lock) == 1);
    }
    /* An untimed wait, released from another thread. */
    if (t_start_release(&job, lock, 20000)) {
        CHECK_RC(lt_lock_acquire(lock, -1, 0), LT_OK);
        CHECK_RC(t_finish_release(&job), LT_OK);
    }
    CHECK_RC(lt_lock_release(lock), LT_OK);
    /* Another thread's release of an unlocked lock is refused too. */
    if (t_start_release(&job, lock, 0))
        CHECK_RC(t_finish_release(&job), LT_ENOTLOCKED);
    CHECK(lt_lock_locked(lock) == 0);
    lt_lock_free(lock);
}

/* lt_lock_wait_unlocked(): it waits for a release and takes nothing, and a
 * waiter that takes, queued behind it, is woken by the same release. */
struct t_unlocked_job {
    lt_lock_t *lock;
    int takes; /* 1: lt_lock_acquire(), 0: lt_lock_wait_unlocked() */
    int rc;
    struct t_latch done;
};

static void t_wait_for_unlock(void *arg)
{
    struct t_unlocked_job *job = arg;

    do
        job->rc = job->takes ? lt_lock_acquire(job->lock, T_LONG, LT_WAIT_INTR)
                             : lt_lock_wait_unlocked(job->lock, T_LONG, LT_WAIT_INTR);
    while (job->rc == LT_INTR);
    if (job->takes && job->rc == LT_OK)
        job->rc = lt_lock_release(job->lock);
    t_latch_count_down(&job->done);
}

/* Waits until lt_waits() lists n waits on what. */
static int t_listed_waits(const void *what, size_t n)
{
    lt_wait_info_t waits[16];
    int64_t until = lt_monotonic_us() + T_LONG;
    size_t i, count, got;

    while (lt_monotonic_us() < until) {
        got = lt_waits(waits, 16);
        for (i = count = 0; i < got && i < 16; i++)
            count += waits[i].on == what;
        if (count >= n)
            return 1;
        t_sleep_us(1000);
    }
    return 0;
}

static void test_wait_unlocked(void)
{
    struct t_unlocked_job jobs[2];
    lt_lock_t lock = LT_LOCK_INIT;
    int64_t t0;
    int i, started = 0;

    CHECK_RC(lt_lock_wait_unlocked(NULL, 0, 0), LT_EINVAL);
    CHECK_RC(lt_lock_wait_unlocked(&lock, 0, 0x100), LT_EINVAL);
    CHECK_RC(lt_lock_wait_unlocked(&lock, 0, 0), LT_OK);
    CHECK_RC(lt_lock_wait_unlocked(&lock, -1, 0), LT_OK);
    CHECK(lt_lock_locked(&lock) == 0);
    CHECK_RC(lt_lock_acquire(&lock, 0, 0), LT_OK);
    CHECK_RC(lt_lock_wait_unlocked(&lock, 0, 0), LT_TIMEDOUT);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_wait_unlocked(&lock, 20000, 0), LT_TIMEDOUT);
    CHECK(lt_monotonic_us() - t0 >= 20000);
    CHECK(lt_lock_locked(&lock) == 1 && lt_lock_holder(&lock) == lt_get_ident());
    /* The one that only waits queues first, the taker behind it. */
    for (i = 0; i < 2; i++) {
        jobs[i].lock = &lock;
        jobs[i].takes = i;
        jobs[i].rc = 99;
        t_latch_init(&jobs[i].done, 1);
        if (lt_thread_start(t_wait_for_unlock, &jobs[i], NULL) != LT_OK) {
            t_fail(__FILE__, __LINE__, "could not start a waiter");
            t_latch_free(&jobs[i].done);
            break;
        }
        started++;
        CHECK(t_listed_waits(&lock, (size_t)i + 1));
    }
    CHECK_RC(lt_lock_release(&lock), LT_OK);
    for (i = 0; i < started; i++) {
        CHECK(t_latch_wait(&jobs[i].done, T_LONG));
        CHECK_RC(jobs[i].rc, LT_OK);
        t_latch_free(&jobs[i].done);
    }
    CHECK(lt_lock_locked(&lock) == 0);
    lt_lock_fini(&lock);
}

/* Huge timeouts are clamped, not refused, and still wait for the lock. */
struct t_holder_job {
    lt_lock_t *lock;
    uint64_t ident;     /* the taker's lt_get_ident() */
    int rc;
    struct t_latch took, may_release, released;
};

static void t_take_and_hold(void *arg)
{
    struct t_holder_job *job = arg;

    job->ident = lt_get_ident();
    /* Interruptible: the semaphore back-end's parked path sets the holder
     * on its own line.  The condvar back-end's waits end every slice. */
    do
        job->rc = lt_lock_acquire(job->lock, T_LONG, LT_WAIT_INTR);
    while (job->rc == LT_INTR);
    t_latch_count_down(&job->took);
    if (t_latch_wait(&job->may_release, T_LONG) && job->rc == LT_OK)
        job->rc = lt_lock_release(job->lock);
    t_latch_count_down(&job->released);
}

/* Waits until lt_waits() lists a wait on what (the condvar back-end lists
 * it between slices only), and copies it into *found. */
static int t_listed_wait(const void *what, lt_wait_info_t *found)
{
    lt_wait_info_t waits[8];
    int64_t until = lt_monotonic_us() + T_LONG;
    size_t i, n;

    while (lt_monotonic_us() < until) {
        n = lt_waits(waits, 8);
        for (i = 0; i < n && i < 8; i++) {
            if (waits[i].on == what) {
                *found = waits[i];
                return 1;
            }
        }
        t_sleep_us(1000);
    }
    return 0;
}

static void test_lock_holder(void)
{
    struct t_holder_job job;
    lt_lock_t *lock = t_new_held_lock();
    lt_wait_info_t wait = {0, NULL, 0, 0};
    int64_t t0 = lt_monotonic_us();

    CHECK(lt_lock_holder(NULL) == 0);
    CHECK(lt_lock_holder(lock) == lt_get_ident());
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK(lt_lock_holder(lock) == 0);
    CHECK_RC(lt_lock_acquire(lock, T_SEC, 0), LT_OK);
    CHECK(lt_lock_holder(lock) == lt_get_ident());

    /* Taken by a waiter when this thread releases it: the holder is the
     * taker until the lock is released, by whichever thread. */
    job.lock = lock;
    job.ident = 0;
    job.rc = 99;
    t_latch_init(&job.took, 1);
    t_latch_init(&job.may_release, 1);
    t_latch_init(&job.released, 1);
    if (lt_thread_start(t_take_and_hold, &job, NULL) == LT_OK) {
        CHECK(t_listed_wait(lock, &wait));
        CHECK(wait.timeout_us == T_LONG);
        CHECK(wait.since_us >= t0 && wait.since_us <= lt_monotonic_us());
        CHECK(lt_lock_holder(lock) == lt_get_ident());
        CHECK_RC(lt_lock_release(lock), LT_OK);
        CHECK(t_latch_wait(&job.took, T_LONG));
        CHECK_RC(job.rc, LT_OK);
        CHECK(wait.ident == job.ident);
        CHECK(lt_waits(NULL, 0) == 0);
        CHECK(lt_lock_holder(lock) == job.ident);
        CHECK(job.ident != lt_get_ident());
        t_latch_count_down(&job.may_release);
        CHECK(t_latch_wait(&job.released, T_LONG));
        CHECK_RC(job.rc, LT_OK);
        CHECK(lt_lock_holder(lock) == 0);
    } else {
        t_fail(__FILE__, __LINE__, "could not start a thread");
    }
    t_latch_free(&job.took);
    t_latch_free(&job.may_release);
    t_latch_free(&job.released);
    CHECK_RC(lt_lock_at_fork_reinit(lock), LT_OK);
    CHECK(lt_lock_holder(lock) == 0);
    lt_lock_free(lock);
}

static void test_timeout_max(void)
{
    static const int64_t timeouts[] = {LT_TIMEOUT_MAX_US, LT_TIMEOUT_MAX_US + 1,
                                       INT64_MAX, INT64_MIN, -1};
    struct t_release_job job;
    lt_lock_t *lock = t_new_lock();
    int i, rc, spins;

    CHECK_RC(lt_lock_acquire(lock, LT_TIMEOUT_MAX_US, 0), LT_OK);
    for (i = 0; i < (int)(sizeof timeouts / sizeof timeouts[0]); i++) {
        if (!t_start_release(&job, lock, 20000))
            break;
        CHECK_RC(lt_lock_acquire(lock, timeouts[i], 0), LT_OK);
        CHECK_RC(t_finish_release(&job), LT_OK);
    }
    /* With LT_WAIT_INTR the condvar back-end hands back LT_INTR every
     * slice; the caller goes on waiting. */
    if (t_start_release(&job, lock, 100000)) {
        spins = 0;
        do
            rc = lt_lock_acquire(lock, INT64_MAX, LT_WAIT_INTR);
        while (rc == LT_INTR && ++spins < 10000);
        CHECK_RC(rc, LT_OK);
        CHECK_RC(t_finish_release(&job), LT_OK);
    }
    CHECK_RC(lt_lock_release(lock), LT_OK);
    lt_lock_free(lock);
}

struct t_contention {
    lt_lock_t *lock;
    lt_lock_t *go; /* held until every thread was started */
    long count;    /* guarded by lock */
    int iters;
    struct t_latch done;
};

struct t_contender {
    struct t_contention *shared;
    int mode; /* 0: untimed, 1: timed, 2: untimed with LT_WAIT_INTR */
    int errors;
};

static void t_contend(void *arg)
{
    struct t_contender *me = arg;
    struct t_contention *sh = me->shared;
    int i, rc;

    /* All start together, so that they contend from the first round. */
    if (lt_lock_acquire(sh->go, T_LONG, 0) == LT_OK)
        lt_lock_release(sh->go);
    else
        me->errors++;
    for (i = 0; i < sh->iters; i++) {
        if (me->mode == 0) {
            rc = lt_lock_acquire(sh->lock, -1, 0);
        } else if (me->mode == 1) {
            rc = lt_lock_acquire(sh->lock, T_LONG, 0);
        } else {
            do
                rc = lt_lock_acquire(sh->lock, -1, LT_WAIT_INTR);
            while (rc == LT_INTR);
        }
        if (rc != LT_OK) {
            me->errors++;
            continue;
        }
        sh->count++;
        if (lt_lock_release(sh->lock) != LT_OK)
            me->errors++;
    }
    t_latch_count_down(&sh->done);
}

static void test_contention(void)
{
    enum { NTHREADS = 6 };
    static struct t_contention sh;
    static struct t_contender who[NTHREADS];
    int i, started = 0, errors = 0;
    int64_t t0 = lt_monotonic_us();

    sh.lock = t_new_lock();
    sh.go = t_new_held_lock();
    sh.count = 0;
    sh.iters = t_scale(50000, 500);
    t_latch_init(&sh.done, NTHREADS);
    for (i = 0; i < NTHREADS; i++) {
        who[i].shared = &sh;
        who[i].mode = i % 3;
        who[i].errors = 0;
        if (lt_thread_start(t_contend, &who[i], NULL) == LT_OK)
            started++;
    }
    lt_lock_release(sh.go);
    CHECK(started == NTHREADS);
    if (started != NTHREADS)
        return; /* the latch can never open: leak it */
    if (!t_latch_wait(&sh.done, 120 * T_SEC)) {
        t_fail(__FILE__, __LINE__, "the contending threads did not finish");
        return;
    }
    for (i = 0; i < NTHREADS; i++)
        errors += who[i].errors;
    CHECK(errors == 0);
    if (sh.count != (long)NTHREADS * sh.iters)
        t_fail(__FILE__, __LINE__, "count %ld, expected %ld", sh.count,
               (long)NTHREADS * sh.iters);
    CHECK(lt_lock_locked(sh.lock) == 0);
    printf("    %d threads x %d acquisitions in %lld ms\n", NTHREADS, sh.iters,
           (long long)(lt_monotonic_us() - t0) / 1000);
    t_latch_free(&sh.done);
    lt_lock_free(sh.lock);
    lt_lock_free(sh.go);
}

/* Two threads release the same lock at once: exactly one may succeed, or
 * the lock would afterwards let two threads in.  To make the releases
 * overlap without needing a third core for main, one thread spins until the
 * other releases `start`, and each then releases the target at once. */
struct t_release_race {
    lt_lock_t *go[2];    /* released by main: start a round */
    lt_lock_t *ack[2]; /* released by each thread when its round is done */
    lt_lock_t *spinning; /* released by the spinner before it spins */
    lt_lock_t *start;    /* held until the starter releases it */
    lt_lock_t *target;
    int rounds;
    int ok[2], notlocked[2], other[2];
};

struct t_release_role {
    struct t_release_race *race;
    int starter;
};

static void t_release_rounds(void *arg)
{
    struct t_release_role *role = arg;
    struct t_release_race *rr = role->race;
    int me = role->starter, i, j, rc, locked;
    int64_t give_up;

    for (i = 0; i < rr->rounds; i++) {
        if (lt_lock_acquire(rr->go[me], T_LONG, 0) != LT_OK) {
            rr->other[me]++;
            return; /* main times out and reports it */
        }
        if (me) {
            if (lt_lock_acquire(rr->spinning, T_LONG, 0) != LT_OK)
                rr->other[me]++;
            lt_lock_release(rr->start);
            /* The spinner needs a moment to see that: a delay that varies
             * from round to round lets the two releases meet. */
            for (j = 0; j < i % 64; j++)
                (void)lt_monotonic_us();
        } else {
            lt_lock_release(rr->spinning);
            /* Spins briefly, then blocks: where the starter cannot run
             * meanwhile (one core, valgrind), spinning longer only wastes
             * the round. */
            give_up = lt_monotonic_us() + 500;
            while ((locked = lt_lock_locked(rr->start)) != 0
                   && lt_monotonic_us() < give_up)
                ;
            if (locked) {
                if (lt_lock_acquire(rr->start, T_LONG, 0) == LT_OK)
                    lt_lock_release(rr->start);
                else
                    rr->other[me]++;
            }
        }
        rc = lt_lock_release(rr->target);
        if (rc == LT_OK)
            rr->ok[me]++;
        else if (rc == LT_ENOTLOCKED)
            rr->notlocked[me]++;
        else
            rr->other[me]++;
        lt_lock_release(rr->ack[me]);
    }
}

static void test_concurrent_releases(void)
{
    static struct t_release_race rr;
    static struct t_release_role roles[2];
    int doubled = 0, i, k;
    int64_t t0 = lt_monotonic_us();

    rr.rounds = t_scale(2000, 50);
    rr.go[0] = t_new_held_lock();
    rr.go[1] = t_new_held_lock();
    rr.ack[0] = t_new_held_lock();
    rr.ack[1] = t_new_held_lock();
    rr.spinning = t_new_held_lock();
    rr.start = t_new_held_lock();
    rr.target = t_new_held_lock();
    for (k = 0; k < 2; k++) {
        rr.ok[k] = rr.notlocked[k] = rr.other[k] = 0;
        roles[k].race = &rr;
        roles[k].starter = k;
        if (lt_thread_start(t_release_rounds, &roles[k], NULL) != LT_OK) {
            t_fail(__FILE__, __LINE__, "cannot start a releasing thread");
            return;
        }
    }
    for (i = 0; i < rr.rounds; i++) {
        lt_lock_release(rr.go[0]);
        lt_lock_release(rr.go[1]);
        for (k = 0; k < 2; k++) {
            if (lt_lock_acquire(rr.ack[k], T_LONG, 0) != LT_OK) {
                t_fail(__FILE__, __LINE__, "a releasing thread hung in round %d", i);
                return; /* leaks everything: the threads may still use it */
            }
        }
        CHECK_RC(lt_lock_acquire(rr.start, 0, 0), LT_OK);
        /* The lock must now let exactly one thread in. */
        if (lt_lock_acquire(rr.target, 0, 0) != LT_OK)
            t_fail(__FILE__, __LINE__, "the lock is not free after round %d", i);
        doubled += lt_lock_acquire(rr.target, 0, 0) == LT_OK;
    }
    CHECK(doubled == 0);
    CHECK(rr.ok[0] + rr.ok[1] == rr.rounds);
    CHECK(rr.notlocked[0] + rr.notlocked[1] == rr.rounds);
    CHECK(rr.other[0] + rr.other[1] == 0);
    printf("    %d rounds in %lld ms; successful releases: %d by the spinner, "
           "%d by the starter\n", rr.rounds,
           (long long)(lt_monotonic_us() - t0) / 1000, rr.ok[0], rr.ok[1]);
    lt_lock_free(rr.go[0]);
    lt_lock_free(rr.go[1]);
    lt_lock_free(rr.ack[0]);
    lt_lock_free(rr.ack[1]);
    lt_lock_free(rr.spinning);
    lt_lock_free(rr.start);
    lt_lock_free(rr.target);
}

/* bpo-38106: the waiter frees the lock as soon as it is released to it, so
 * a release that touches the lock after handing it over is a
 * use-after-free that sanitizers and valgrind report. */
struct t_handoff {
    lt_lock_t *go;  /* released by main: a new target is ready */
    lt_lock_t *ack; /* released by the waiter: the target is freed */
    lt_lock_t *target;
    int round;
    int stop;
    int errors;
};

static void t_handoff_waiter(void *arg)
{
    struct t_handoff *h = arg;
    int rc;

    for (;;) {
        if (lt_lock_acquire(h->go, T_LONG, 0) != LT_OK) {
            h->errors++;
            return; /* main times out on ack and reports it */
        }
        if (h->stop)
            break;
        switch (h->round % 3) {
        case 0:
            rc = lt_lock_acquire(h->target, -1, 0);
            break;
        case 1:
            rc = lt_lock_acquire(h->target, T_LONG, 0);
            break;
        default:
            do
                rc = lt_lock_acquire(h->target, T_LONG, LT_WAIT_INTR);
            while (rc == LT_INTR);
        }
        if (rc == LT_OK)
            lt_lock_free(h->target);
        else
            h->errors++;
        lt_lock_release(h->ack);
    }
    lt_lock_release(h->ack);
}

static void test_free_right_after_handoff(void)
{
    static struct t_handoff h;
    int rounds = t_scale(3000, 200), i;
    lt_lock_t *target;

    h.go = t_new_held_lock();
    h.ack = t_new_held_lock();
    h.stop = 0;
    h.errors = 0;
    if (lt_thread_start(t_handoff_waiter, &h, NULL) != LT_OK) {
        t_fail(__FILE__, __LINE__, "cannot start the waiter");
        return;
    }
    for (i = 0; i < rounds; i++) {
        target = t_new_held_lock();
        h.target = target;
        h.round = i;
        lt_lock_release(h.go);
        if (i % 2) {
            /* Give the waiter time to block, so that the release must wake
             * it; even rounds race it instead. */
            int64_t until = lt_monotonic_us() + 50 + i % 200;

            while (lt_monotonic_us() < until)
                ;
        }
        CHECK_RC(lt_lock_release(target), LT_OK); /* target may be gone now */
        if (lt_lock_acquire(h.ack, T_LONG, 0) != LT_OK) {
            t_fail(__FILE__, __LINE__, "the waiter hung in round %d", i);
            return;
        }
    }
    h.stop = 1;
    lt_lock_release(h.go);
    CHECK_RC(lt_lock_acquire(h.ack, T_LONG, 0), LT_OK);
    CHECK(h.errors == 0);
    printf("    %d hand-offs\n", rounds);
    lt_lock_free(h.go);
    lt_lock_free(h.ack);
}

/* ---- recursive locks ------------------------------------------------------------- */

/* They run before thousand_threads: under helgrind every lock operation
 * costs more for each thread the process ever had, and rlock_contention
 * then takes ten times as long. */

static lt_rlock_t *t_new_rlock(void)
{
    lt_rlock_t *rlock = NULL;
    int rc = lt_rlock_new(&rlock);

    if (rc != LT_OK || rlock == NULL) {
        printf("    lt_rlock_new failed: %d\n", rc);
        exit(2); /* no recursive lock can be tested without one */
    }
    return rlock;
}

/* Checks a recursive lock's owner and count, and that lt_rlock_recursion()
 * in the calling thread agrees with them. */
#define CHECK_RLOCK(rlock, owner, count) \
    t_check_rlock(__FILE__, __LINE__, (rlock), (owner), (count))

static void t_check_rlock(const char *file, int line, const lt_rlock_t *rlock,
                          uint64_t owner, unsigned long count)
{
    uint64_t seen_owner = lt_rlock_owner(rlock);
    unsigned long seen_count = lt_rlock_count(rlock);
    unsigned long seen_rec = lt_rlock_recursion(rlock);
    unsigned long rec = owner == lt_get_ident() ? count : 0;

    if (seen_owner != owner || seen_count != count || seen_rec != rec)
        t_fail(file, line, "owner %#llx, count %lu, recursion %lu; expected "
               "owner %#llx, count %lu, recursion %lu",
               (unsigned long long)seen_owner, seen_count, seen_rec,
               (unsigned long long)owner, count, rec);
}

/* A thread that runs one recursive-lock call at a time on main's command,
 * so that a test can interleave the two threads step by step. */
enum {
    T_PEER_LOOK,         /* only reads the state */
    T_PEER_ACQUIRE,      /* lt_rlock_acquire(rlock, timeout_us, 0) */
    T_PEER_ACQUIRE_INTR, /* the same with LT_WAIT_INTR */
    T_PEER_RELEASE,
    T_PEER_SAVE,         /* release_save into saved_count and saved_owner */
    T_PEER_RESTORE,      /* acquire_restore(rlock, count, owner) */
    T_PEER_STOP
};

#define T_HUNG 99 /* the status of a call that did not return in time */

struct t_peer {
    lt_rlock_t *rlock;
    lt_thread_t *thread;
    uint64_t ident;      /* the peer's lt_get_ident() */
    lt_lock_t *go;       /* released by main: run cmd */
    lt_lock_t *done;     /* released by the peer: cmd has returned */
    int busy;            /* main's: a command was sent, done not yet taken */
    int hung;            /* main's: the peer did not answer; it is leaked */
    /* The command, set by main before it releases go. */
    int cmd;
    int64_t timeout_us;  /* T_PEER_ACQUIRE */
    unsigned long count; /* T_PEER_RESTORE */
    uint64_t owner;      /* T_PEER_RESTORE */
    /* The results, set by the peer before it releases done. */
    int rc;
    int64_t elapsed_us;  /* how long the call took */
    unsigned long saved_count; /* T_PEER_SAVE */
    uint64_t saved_owner;
    uint64_t seen_owner; /* lt_rlock_owner() etc. in the peer after the call */
    unsigned long seen_count, seen_rec;
};

static void t_peer_fn(void *arg)
{
    struct t_peer *p = arg;
    int64_t t0;
    int stop;

    do {
        if (lt_lock_acquire(p->go, T_LONG, 0) != LT_OK) {
            t_fail(__FILE__, __LINE__, "the peer waited in vain for a command");
            return;
        }
        t0 = lt_monotonic_us();
        switch (p->cmd) {
        case T_PEER_ACQUIRE:
            p->rc = lt_rlock_acquire(p->rlock, p->timeout_us, 0);
            break;
        case T_PEER_ACQUIRE_INTR:
            p->rc = lt_rlock_acquire(p->rlock, p->timeout_us, LT_WAIT_INTR);
            break;
        case T_PEER_SAVE:
            p->rc = lt_rlock_release_save(p->rlock, &p->saved_count, &p->saved_owner);
            break;
        case T_PEER_RELEASE:
            p->rc = lt_rlock_release(p->rlock);
            break;
        case T_PEER_RESTORE:
            p->rc = lt_rlock_acquire_restore(p->rlock, p->count, p->owner);
            break;
        default:
            p->rc = LT_OK;
        }
        p->elapsed_us = lt_monotonic_us() - t0;
        p->seen_owner = lt_rlock_owner(p->rlock);
        p->seen_count = lt_rlock_count(p->rlock);
        p->seen_rec = lt_rlock_recursion(p->rlock);
        stop = p->cmd == T_PEER_STOP;
        lt_lock_release(p->done);
    } while (!stop);
}

/* Returns 0 (reported) if the peer could not be started. */
static int t_peer_start(struct t_peer *p, lt_rlock_t *rlock)
{
    int rc;

    p->rlock = rlock;
    p->go = t_new_held_lock();
    p->done = t_new_held_lock();
    p->busy = p->hung = 0;
    p->ident = 0;
    rc = lt_thread_start_joinable(t_peer_fn, p, &p->thread, &p->ident);
    CHECK_RC(rc, LT_OK);
    if (rc != LT_OK) {
        lt_lock_free(p->go);
        lt_lock_free(p->done);
        return 0;
    }
    CHECK(p->ident != 0 && p->ident != lt_get_ident());
    return 1;
}

/* Has the peer run cmd without waiting for it to return. */
static void t_peer_send(struct t_peer *p, int cmd, int64_t timeout_us)
{
    if (p->hung)
        return;
    p->cmd = cmd;
    p->timeout_us = timeout_us;
    p->rc = T_HUNG;
    p->seen_owner = 12345;
    p->seen_count = p->seen_rec = 12345;
    p->busy = 1;
    lt_lock_release(p->go);
}

/* 1 if the peer's command has returned (does not wait). */
static int t_peer_finished(struct t_peer *p)
{
    if (p->busy && !p->hung && lt_lock_acquire(p->done, 0, 0) == LT_OK)
        p->busy = 0;
    return !p->busy;
}

/* Waits for the peer's command to return; 0 (reported) if it did not. */
static int t_peer_wait(struct t_peer *p, int64_t timeout_us)
{
    if (p->hung)
        return 0;
    if (p->busy && lt_lock_acquire(p->done, timeout_us, 0) != LT_OK) {
        t_fail(__FILE__, __LINE__, "the peer did not return from command %d", p->cmd);
        p->hung = 1;
        return 0;
    }
    p->busy = 0;
    return 1;
}

/* Runs cmd in the peer and returns its status (T_HUNG if it did not
 * return). */
static int t_peer_do(struct t_peer *p, int cmd, int64_t timeout_us)
{
    t_peer_send(p, cmd, timeout_us);
    if (!t_peer_wait(p, T_LONG + (timeout_us > 0 ? timeout_us : 0)))
        return T_HUNG; /* the peer may still write p->rc */
    return p->rc;
}

/* Ends the peer; a peer that hung is leaked, with its locks. */
static void t_peer_stop(struct t_peer *p)
{
    if (p->hung || (p->busy && !t_peer_wait(p, T_LONG)))
        return;
    t_peer_do(p, T_PEER_STOP, 0);
    if (p->hung)
        return;
    CHECK_RC(lt_thread_join(p->thread, T_LONG, 0), LT_OK);
    lt_thread_free(p->thread);
    lt_lock_free(p->go);
    lt_lock_free(p->done);
}

/* acquire_restore() run on a thread of its own, so that a lock that is
 * wrongly held makes the test fail instead of hang (the caller must then
 * leak the lock: the thread still waits on it).  The call sets the owner it
 * is given, whoever calls it.  Returns its status, or T_HUNG. */
static int t_restore_elsewhere(lt_rlock_t *rlock, unsigned long count, uint64_t owner)
{
    struct t_peer *p = malloc(sizeof *p);
    int rc;

    CHECK(p != NULL);
    if (p == NULL || !t_peer_start(p, rlock)) {
        free(p);
        return T_HUNG;
    }
    p->count = count;
    p->owner = owner;
    rc = t_peer_do(p, T_PEER_RESTORE, 0);
    t_peer_stop(p);
    if (p->hung)
        return T_HUNG; /* p is leaked with its thread */
    free(p);
    return rc;
}

/* What the peer saw after its last command (if it returned). */
#define CHECK_PEER_SAW(p, owner, count)                                           \
    do {                                                                          \
        unsigned long t_rec_ = (owner) == (p)->ident ? (unsigned long)(count) : 0; \
        if (!(p)->hung                                                            \
            && ((p)->seen_owner != (owner) || (p)->seen_count != (count)          \
                || (p)->seen_rec != t_rec_))                                      \
            t_fail(__FILE__, __LINE__, "the peer saw owner %#llx, count %lu, "    \
                   "recursion %lu; expected owner %#llx, count %lu, recursion %lu", \
                   (unsigned long long)(p)->seen_owner, (p)->seen_count,          \
                   (p)->seen_rec, (unsigned long long)(owner),                    \
                   (unsigned long)(count), t_rec_);                               \
    } while (0)

static void test_rlock_invalid_arguments(void)
{
    lt_rlock_t *rlock = t_new_rlock();
    unsigned long count = 7;
    uint64_t me = lt_get_ident(), owner = 7;

    CHECK(LT_ENOTOWNER < 0 && LT_EOVERFLOW < 0 && LT_ENOTOWNER != LT_EOVERFLOW);
    CHECK(LT_ENOTOWNER != LT_ENOTLOCKED && LT_ENOTOWNER != LT_EDEADLK
          && LT_EOVERFLOW != LT_ESYS && LT_EOVERFLOW != LT_EINVAL);
    CHECK_RC(lt_rlock_new(NULL), LT_EINVAL);
    lt_rlock_free(NULL);
    CHECK_RC(lt_rlock_acquire(NULL, 0, 0), LT_EINVAL);
    CHECK_RC(lt_rlock_acquire(NULL, -1, 0), LT_EINVAL);
    CHECK_RC(lt_rlock_acquire(NULL, T_SEC, LT_WAIT_INTR), LT_EINVAL);
    CHECK_RC(lt_rlock_release(NULL), LT_EINVAL);
    CHECK_RC(lt_rlock_release_save(NULL, &count, &owner), LT_EINVAL);
    CHECK(count == 7 && owner == 7);
    CHECK_RC(lt_rlock_release_save(NULL, NULL, NULL), LT_EINVAL);
    CHECK_RC(lt_rlock_acquire_restore(NULL, 1, me), LT_EINVAL);
    CHECK(lt_rlock_recursion(NULL) == 0);
    CHECK(lt_rlock_owner(NULL) == 0);
    CHECK(lt_rlock_count(NULL) == 0);
    CHECK_RC(lt_rlock_at_fork_reinit(NULL), LT_EINVAL);

    /* Unknown flags are refused, free or owned, and change nothing. */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 2), LT_EINVAL);
    CHECK_RC(lt_rlock_acquire(rlock, -1, -1), LT_EINVAL);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, LT_WAIT_INTR | 4), LT_EINVAL);
    CHECK_RC(lt_rlock_acquire(rlock, -1, 8), LT_EINVAL);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);
    lt_rlock_free(rlock);
}

static void test_rlock_basics(void)
{
    lt_rlock_t *rlock = t_new_rlock();
    uint64_t me = lt_get_ident();
    int64_t t0;

    /* Waits that should end at once are bounded here, so that a broken
     * lock fails the test instead of hanging it; the untimed acquires are
     * tested on another thread (rlock_other_thread). */
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, T_LONG, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK(lt_rlock_owner(rlock) == lt_get_ident());

    /* The owner's acquires add one at once, whatever the timeout and flags. */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 2);
    CHECK_RC(lt_rlock_acquire(rlock, T_SEC, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, T_SEC, LT_WAIT_INTR), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, LT_WAIT_INTR), LT_OK);
    CHECK(lt_monotonic_us() - t0 < T_SLOP);
    CHECK_RLOCK(rlock, me, 5);

    /* Each acquire needs its release; the last one frees the lock. */
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, me, 4);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, me, 2);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);

    /* Releasing a free lock is refused and changes nothing. */
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RLOCK(rlock, 0, 0);

    /* Freeing an owned lock is allowed (LeakSanitizer checks the rest). */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    lt_rlock_free(rlock);
}

/* The count saturates: acquire_restore puts it at ULONG_MAX cheaply. */
static void test_rlock_overflow(void)
{
    lt_rlock_t *rlock = t_new_rlock();
    uint64_t me = lt_get_ident(), owner = 0;
    unsigned long count = 0;
    int rc;

    rc = t_restore_elsewhere(rlock, ULONG_MAX, me);
    CHECK_RC(rc, LT_OK);
    if (rc == T_HUNG)
        return; /* a thread may still wait on the lock: leak it */
    CHECK_RLOCK(rlock, me, ULONG_MAX);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_EOVERFLOW);
    CHECK_RC(lt_rlock_acquire(rlock, T_SEC, 0), LT_EOVERFLOW);
    CHECK_RC(lt_rlock_acquire(rlock, T_SEC, LT_WAIT_INTR), LT_EOVERFLOW);
    CHECK_RLOCK(rlock, me, ULONG_MAX);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, me, ULONG_MAX - 1);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, ULONG_MAX);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_EOVERFLOW);
    CHECK_RLOCK(rlock, me, ULONG_MAX);
    CHECK_RC(lt_rlock_release_save(rlock, &count, &owner), LT_OK);
    CHECK(count == ULONG_MAX && owner == me);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    lt_rlock_free(rlock);
}

static void test_rlock_other_thread(void)
{
    static struct t_peer p;
    lt_rlock_t *rlock = t_new_rlock();
    uint64_t me = lt_get_ident();
    int64_t t0, elapsed;

    if (!t_peer_start(&p, rlock))
        return;
    /* A free lock: the peer's try takes it, and it owns it. */
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 1);
    CHECK_RLOCK(rlock, p.ident, 1); /* recursion 0 here */
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, 0, 0);
    CHECK_RLOCK(rlock, 0, 0);
    /* Untimed acquires: of the free lock, then the owner's, which add one
     * at once; main's wait for the peer is bounded. */
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, -1), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, -1), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE_INTR, -1), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE_INTR, 10 * T_SEC), LT_OK);
    CHECK(p.elapsed_us < T_SLOP);
    CHECK_PEER_SAW(&p, p.ident, 4);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 1);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, 0, 0);

    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    /* What the other thread sees: main's owner and count, recursion 0. */
    CHECK_RC(t_peer_do(&p, T_PEER_LOOK, 0), LT_OK);
    CHECK_PEER_SAW(&p, me, 2);
    /* Its release is refused and changes nothing. */
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_ENOTOWNER);
    CHECK_PEER_SAW(&p, me, 2);
    CHECK_RLOCK(rlock, me, 2);
    /* Its try fails at once. */
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_TIMEDOUT);
    CHECK(p.elapsed_us < T_SLOP);
    CHECK_PEER_SAW(&p, me, 2);
    /* Its timed acquire times out, never early. */
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 50000), LT_TIMEDOUT);
    if (p.elapsed_us < 50000 || p.elapsed_us > 50000 + T_SLOP)
        t_fail(__FILE__, __LINE__, "the peer's 50 ms acquire took %lld us",
               (long long)p.elapsed_us);
    CHECK_PEER_SAW(&p, me, 2);
    CHECK_RLOCK(rlock, me, 2);

    /* A waiting acquire gets the lock after the last release, not before. */
    t_peer_send(&p, T_PEER_ACQUIRE, T_LONG);
    t_sleep_us(20000);
    CHECK(!t_peer_finished(&p));
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    t_sleep_us(20000);
    CHECK(!t_peer_finished(&p));
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    if (t_peer_wait(&p, T_LONG)) {
        CHECK_RC(p.rc, LT_OK);
        CHECK_PEER_SAW(&p, p.ident, 1);
    }
    CHECK_RLOCK(rlock, p.ident, 1);

    /* Now main is the other thread. */
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RLOCK(rlock, p.ident, 1);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_TIMEDOUT);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_rlock_acquire(rlock, 20000, 0), LT_TIMEDOUT);
    elapsed = lt_monotonic_us() - t0;
    if (elapsed < 20000 || elapsed > 20000 + T_SLOP)
        t_fail(__FILE__, __LINE__, "a 20 ms acquire took %lld us", (long long)elapsed);
    CHECK_RLOCK(rlock, p.ident, 1);

    /* The peer's own re-acquire and releases. */
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 2);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 1);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, 0, 0);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_ENOTOWNER);
    CHECK_PEER_SAW(&p, 0, 0);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    t_peer_stop(&p);
    if (!p.hung)
        lt_rlock_free(rlock);
}

static void test_rlock_release_save(void)
{
    static struct t_peer p;
    lt_rlock_t *rlock = t_new_rlock();
    uint64_t me = lt_get_ident(), owner = 7;
    unsigned long count = 7;
    int rc;

    /* A free lock: refused, and the out-values are not touched. */
    CHECK_RC(lt_rlock_release_save(rlock, &count, &owner), LT_ENOTLOCKED);
    CHECK(count == 7 && owner == 7);
    CHECK_RC(lt_rlock_release_save(rlock, NULL, NULL), LT_ENOTLOCKED);
    CHECK_RLOCK(rlock, 0, 0);

    /* It frees the lock whatever the count, and says what it was. */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_release_save(rlock, &count, &owner), LT_OK);
    CHECK(count == 3);
    CHECK(owner == me);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RC(lt_rlock_release_save(rlock, NULL, NULL), LT_ENOTLOCKED);

    /* Another thread can take it then, and save it too. */
    if (!t_peer_start(&p, rlock))
        return;
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 1);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    p.saved_count = 7;
    p.saved_owner = 7;
    CHECK_RC(t_peer_do(&p, T_PEER_SAVE, 0), LT_OK);
    CHECK(p.saved_count == 2 && p.saved_owner == p.ident);
    CHECK_PEER_SAW(&p, 0, 0);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    /* As a condition variable built on it uses it: the same thread saves,
     * lets others in, and restores. */
    p.count = p.saved_count;
    p.owner = p.saved_owner;
    CHECK_RC(t_peer_do(&p, T_PEER_RESTORE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 2);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, 0, 0);
    CHECK_RC(t_peer_do(&p, T_PEER_SAVE, 0), LT_ENOTLOCKED);
    t_peer_stop(&p);
    if (p.hung)
        return; /* it may hold the lock: leak it */

    /* acquire_restore puts main's saved state back. */
    rc = t_restore_elsewhere(rlock, count, owner);
    CHECK_RC(rc, LT_OK);
    if (rc == T_HUNG)
        return;
    CHECK_RLOCK(rlock, me, 3);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);

    /* NULL out-pointers are accepted, each or both. */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_release_save(rlock, NULL, NULL), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    count = 0;
    owner = 7;
    CHECK_RC(lt_rlock_release_save(rlock, &count, NULL), LT_OK);
    CHECK(count == 1 && owner == 7);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    count = 7;
    CHECK_RC(lt_rlock_release_save(rlock, NULL, &owner), LT_OK);
    CHECK(owner == me && count == 7);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    lt_rlock_free(rlock);
}

static void test_rlock_acquire_restore(void)
{
    static struct t_peer p;
    lt_rlock_t *rlock = t_new_rlock();
    uint64_t me = lt_get_ident(), owner = 0;
    unsigned long count = 0, i;
    int rc;

    if (!t_peer_start(&p, rlock))
        return;
    /* The peer's acquire_restore waits while main owns the lock, then
     * sets the owner and count it was given. */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    p.count = 5;
    p.owner = p.ident;
    t_peer_send(&p, T_PEER_RESTORE, 0);
    t_sleep_us(50000);
    CHECK(!t_peer_finished(&p));
    CHECK_RLOCK(rlock, me, 2);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    t_sleep_us(20000);
    CHECK(!t_peer_finished(&p));
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    if (t_peer_wait(&p, T_LONG)) {
        CHECK_RC(p.rc, LT_OK);
        CHECK_PEER_SAW(&p, p.ident, 5);
    }
    CHECK_RLOCK(rlock, p.ident, 5);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    for (i = 5; i > 0; i--) {
        CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
        CHECK_PEER_SAW(&p, i > 1 ? p.ident : 0, i - 1);
    }
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_ENOTOWNER);
    CHECK_RLOCK(rlock, 0, 0);

    /* Another thread restores a state whose owner is the peer: the lock is
     * the peer's then, not main's nor the restorer's. */
    rc = t_restore_elsewhere(rlock, 2, p.ident);
    CHECK_RC(rc, LT_OK);
    if (rc == T_HUNG)
        return; /* a thread may still wait on the lock: leak it */
    CHECK_RLOCK(rlock, p.ident, 2);
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(t_peer_do(&p, T_PEER_LOOK, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 2);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    CHECK_PEER_SAW(&p, p.ident, 3);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_PEER_SAW(&p, 0, 0);
    CHECK_RLOCK(rlock, 0, 0);

    /* try_restore: on a lock another thread holds it changes nothing;
     * on a free one it sets the state it was given, whoever the caller. */
    CHECK_RC(lt_rlock_try_restore(NULL, 1, me), LT_EINVAL);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    CHECK_RC(lt_rlock_try_restore(rlock, 3, me), LT_TIMEDOUT);
    CHECK_RLOCK(rlock, p.ident, 1);
    CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(lt_rlock_try_restore(rlock, 3, p.ident), LT_OK);
    CHECK_RLOCK(rlock, p.ident, 3);
    for (i = 3; i > 0; i--)
        CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, 0), LT_OK);
    CHECK_RC(lt_rlock_try_restore(rlock, 2, me), LT_OK);
    CHECK_RLOCK(rlock, me, 2);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);

    /* And the peer restores main's saved state. */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_release_save(rlock, &count, &owner), LT_OK);
    p.count = count;
    p.owner = owner;
    CHECK_RC(t_peer_do(&p, T_PEER_RESTORE, 0), LT_OK);
    CHECK_PEER_SAW(&p, me, 2);
    CHECK_RLOCK(rlock, me, 2);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);
    t_peer_stop(&p);
    if (!p.hung)
        lt_rlock_free(rlock);
}

static void test_rlock_at_fork_reinit(void)
{
    static struct t_peer p;
    lt_rlock_t *rlock = t_new_rlock();
    uint64_t me = lt_get_ident();

    /* Owned by the calling thread. */
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_at_fork_reinit(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_release(rlock), LT_ENOTOWNER);
    CHECK_RC(lt_rlock_release_save(rlock, NULL, NULL), LT_ENOTLOCKED);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 1);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);

    /* Owned by a thread that has ended, as in a forked child. */
    if (!t_peer_start(&p, rlock))
        return;
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, 0), LT_OK);
    t_peer_stop(&p);
    if (p.hung)
        return;
    CHECK_RLOCK(rlock, p.ident, 2);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_rlock_at_fork_reinit(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(rlock, 0, 0), LT_OK);
    CHECK_RLOCK(rlock, me, 2);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RC(lt_rlock_release(rlock), LT_OK);
    CHECK_RLOCK(rlock, 0, 0);
    lt_rlock_free(rlock);
}

struct t_rcontention {
    lt_rlock_t *rlock;
    lt_lock_t *go; /* held until every thread was started */
    long count;    /* guarded by rlock */
    int iters;
    struct t_latch done;
};

struct t_rcontender {
    struct t_rcontention *shared;
    int mode; /* the first acquire: 0 untimed, 1 timed, 2 untimed with LT_WAIT_INTR */
    int errors;
};

static void t_rcontend(void *arg)
{
    struct t_rcontender *me = arg;
    struct t_rcontention *sh = me->shared;
    uint64_t ident = lt_get_ident();
    int i, rc;

    if (lt_lock_acquire(sh->go, T_LONG, 0) == LT_OK)
        lt_lock_release(sh->go);
    else
        me->errors++;
    for (i = 0; i < sh->iters; i++) {
        /* Not the owner here: a release must be refused, or two threads
         * would soon be inside. */
        if (lt_rlock_release(sh->rlock) != LT_ENOTOWNER || lt_rlock_recursion(sh->rlock) != 0)
            me->errors++;
        if (me->mode == 0) {
            rc = lt_rlock_acquire(sh->rlock, -1, 0);
        } else if (me->mode == 1) {
            rc = lt_rlock_acquire(sh->rlock, T_LONG, 0);
        } else {
            do
                rc = lt_rlock_acquire(sh->rlock, -1, LT_WAIT_INTR);
            while (rc == LT_INTR);
        }
        if (rc != LT_OK) {
            me->errors++;
            continue;
        }
        if (lt_rlock_recursion(sh->rlock) != 1)
            me->errors++;
        /* The owner's second acquire never waits, even with timeout 0. */
        if (lt_rlock_acquire(sh->rlock, 0, 0) != LT_OK) {
            me->errors++;
            lt_rlock_release(sh->rlock);
            continue;
        }
        if (lt_rlock_recursion(sh->rlock) != 2 || lt_rlock_owner(sh->rlock) != ident
            || lt_rlock_count(sh->rlock) != 2)
            me->errors++;
        sh->count++;
        if (lt_rlock_release(sh->rlock) != LT_OK || lt_rlock_recursion(sh->rlock) != 1)
            me->errors++;
        if (lt_rlock_release(sh->rlock) != LT_OK)
            me->errors++;
    }
    t_latch_count_down(&sh->done);
}

static void test_rlock_contention(void)
{
    enum { NTHREADS = 6 };
    static struct t_rcontention sh;
    static struct t_rcontender who[NTHREADS];
    int i, started = 0, errors = 0;
    int64_t t0 = lt_monotonic_us();

    sh.rlock = t_new_rlock();
    sh.go = t_new_held_lock();
    sh.count = 0;
    sh.iters = t_scale(20000, 300);
    t_latch_init(&sh.done, NTHREADS);
    for (i = 0; i < NTHREADS; i++) {
        who[i].shared = &sh;
        who[i].mode = i % 3;
        who[i].errors = 0;
        if (lt_thread_start(t_rcontend, &who[i], NULL) == LT_OK)
            started++;
    }
    lt_lock_release(sh.go);
    CHECK(started == NTHREADS);
    if (started != NTHREADS)
        return; /* the latch can never open: leak it */
    if (!t_latch_wait(&sh.done, 120 * T_SEC)) {
        t_fail(__FILE__, __LINE__, "the contending threads did not finish");
        return;
    }
    for (i = 0; i < NTHREADS; i++)
        errors += who[i].errors;
    if (errors != 0)
        t_fail(__FILE__, __LINE__, "%d errors in the contending threads", errors);
    if (sh.count != (long)NTHREADS * sh.iters)
        t_fail(__FILE__, __LINE__, "count %ld, expected %ld", sh.count,
               (long)NTHREADS * sh.iters);
    CHECK_RLOCK(sh.rlock, 0, 0);
    printf("    %d threads x %d double acquisitions in %lld ms\n", NTHREADS, sh.iters,
           (long long)(lt_monotonic_us() - t0) / 1000);
    t_latch_free(&sh.done);
    lt_rlock_free(sh.rlock);
    lt_lock_free(sh.go);
}

/* ---- threads ------------------------------------------------------------------- */

struct t_many {
    lt_lock_t *mu;
    lt_lock_t *done; /* released when count reaches target */
    int count;       /* guarded by mu */
    int target;      /* guarded by mu; 0 until every thread was started */
};

static void t_many_arrive(struct t_many *m)
{
    lt_lock_t *done = m->done;
    int last;

    if (lt_lock_acquire(m->mu, T_LONG, 0) != LT_OK) {
        t_fail(__FILE__, __LINE__, "a counting thread could not get the lock");
        return;
    }
    last = ++m->count == m->target;
    lt_lock_release(m->mu);
    /* Last: main frees the locks as soon as done is released. */
    if (last)
        lt_lock_release(done);
}

static void t_many_set_target(struct t_many *m, int target)
{
    CHECK_RC(lt_lock_acquire(m->mu, T_LONG, 0), LT_OK);
    m->target = target;
    if (m->count == target)
        lt_lock_release(m->done);
    lt_lock_release(m->mu);
}

static void t_count_thread(void *arg)
{
    t_many_arrive(arg);
}

static void test_thousand_threads(void)
{
    static struct t_many m;
    int n = t_scale(1000, 100), started = 0, rc = LT_OK;
    int64_t t0 = lt_monotonic_us(), elapsed;

    m.mu = t_new_lock();
    m.done = t_new_held_lock();
    m.count = m.target = 0;
    while (started < n) {
        rc = lt_thread_start(t_count_thread, &m, NULL);
        if (rc != LT_OK)
            break;
        started++;
    }
    if (rc != LT_OK)
        t_fail(__FILE__, __LINE__, "thread %d of %d did not start: %d", started + 1, n, rc);
    if (started == 0)
        return;
    t_many_set_target(&m, started);
    if (lt_lock_acquire(m.done, 60 * T_SEC, 0) != LT_OK) {
        t_fail(__FILE__, __LINE__, "only %d of %d threads ran", m.count, started);
        return;
    }
    elapsed = lt_monotonic_us() - t0;
    printf("    %d threads started and finished in %lld ms (%lld us each)\n",
           started, (long long)elapsed / 1000, (long long)elapsed / started);
    CHECK(m.count == started);
    lt_lock_free(m.mu);
    lt_lock_free(m.done);
}

#define T_IDENT_THREADS 8

struct t_ident_shared;

struct t_ident_rec {
    struct t_ident_shared *sh;
    uint64_t given;  /* the starter's ident_out */
    uint64_t seen;   /* lt_get_ident() in the thread */
    uint64_t native; /* lt_get_native_id() in the thread */
    int stable;      /* both ids are the same when asked again */
};

struct t_ident_shared {
    lt_lock_t *gate; /* held by main while it compares the live threads */
    struct t_latch arrived;
    struct t_latch left;
    struct t_ident_rec recs[T_IDENT_THREADS];
};

static void t_ident_thread(void *arg)
{
    struct t_ident_rec *rec = arg;
    struct t_ident_shared *sh = rec->sh;

    rec->seen = lt_get_ident();
    rec->native = lt_get_native_id();
    rec->stable = lt_get_ident() == rec->seen && lt_get_native_id() == rec->native;
    /* Harmless, and a no-op when repeated. */
    lt_thread_started();
    lt_thread_started();
    t_latch_count_down(&sh->arrived);
    /* Stay alive until main has compared the ids of all live threads. */
    if (lt_lock_acquire(sh->gate, T_LONG, 0) == LT_OK)
        lt_lock_release(sh->gate);
    else
        t_fail(__FILE__, __LINE__, "the gate never opened");
    t_latch_count_down(&sh->left);
}

static void test_idents_and_native_ids(void)
{
    static struct t_ident_shared sh;
    uint64_t main_ident = lt_get_ident(), main_native = lt_get_native_id();
    int have_native = lt_have_native_id(), i, j, started = 0;

    printf("    main: ident %#llx, native id %llu, have_native_id %d\n",
           (unsigned long long)main_ident, (unsigned long long)main_native,
           have_native);
    CHECK(main_ident != 0);
    CHECK(lt_get_ident() == main_ident);
    CHECK(lt_get_native_id() == main_native);
    CHECK(have_native == 0 || have_native == 1);
    CHECK(have_native ? main_native != 0 : main_native == 0);
    lt_thread_started(); /* not a thread lt_thread_start() made: no-op */

    sh.gate = t_new_held_lock();
    t_latch_init(&sh.arrived, T_IDENT_THREADS);
    t_latch_init(&sh.left, T_IDENT_THREADS);
    for (i = 0; i < T_IDENT_THREADS; i++) {
        sh.recs[i].sh = &sh;
        sh.recs[i].given = 0;
        if (lt_thread_start(t_ident_thread, &sh.recs[i], &sh.recs[i].given) == LT_OK)
            started++;
    }
    CHECK(started == T_IDENT_THREADS);
    if (started != T_IDENT_THREADS || !t_latch_wait(&sh.arrived, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the threads did not all start");
        return;
    }
    for (i = 0; i < T_IDENT_THREADS; i++) {
        struct t_ident_rec *r = &sh.recs[i];

        CHECK(r->seen != 0);
        CHECK(r->seen == r->given);
        CHECK(r->seen != main_ident);
        CHECK(r->stable);
        CHECK(have_native ? r->native != 0 && r->native != main_native : r->native == 0);
        for (j = 0; j < i; j++) {
            CHECK(sh.recs[j].seen != r->seen);
            CHECK(!have_native || sh.recs[j].native != r->native);
        }
    }
    lt_lock_release(sh.gate);
    if (!t_latch_wait(&sh.left, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the threads did not all finish");
        return;
    }
    lt_lock_free(sh.gate);
    t_latch_free(&sh.arrived);
    t_latch_free(&sh.left);
}

/* Uses some stack, so that a too small stack would crash. */
static int t_recurse(int depth)
{
    volatile char pad[512];

    pad[0] = (char)depth;
    pad[sizeof pad - 1] = (char)depth;
    return depth == 0 ? pad[0] : t_recurse(depth - 1) + pad[sizeof pad - 1];
}

struct t_stack_job {
    int depth;
    int result;
    struct t_latch done;
};

static void t_stack_thread(void *arg)
{
    struct t_stack_job *job = arg;

    job->result = t_recurse(job->depth);
    t_latch_count_down(&job->done);
}

/* Runs t_recurse(depth) on a new thread; returns 1 if it finished. */
static int t_run_on_thread(int depth)
{
    static struct t_stack_job job;
    int rc;

    job.depth = depth;
    job.result = -1;
    t_latch_init(&job.done, 1);
    rc = lt_thread_start(t_stack_thread, &job, NULL);
    CHECK_RC(rc, LT_OK);
    if (rc != LT_OK || !t_latch_wait(&job.done, T_LONG))
        return 0;
    t_latch_free(&job.done);
    return job.result == t_recurse(depth);
}

static void test_stack_size(void)
{
    size_t def = lt_stack_size_default();
    int rc;

    printf("    default stack size: %llu bytes (0: the system's)\n",
           (unsigned long long)def);
    CHECK(def == 0 || def >= LT_STACK_SIZE_MIN);
    CHECK(lt_stack_size_get() == 0);
    CHECK_RC(lt_stack_size_set(0), LT_OK);
    CHECK(lt_stack_size_get() == 0);
    CHECK_RC(lt_stack_size_set(1), LT_EINVAL);
    CHECK_RC(lt_stack_size_set(4096), LT_EINVAL);
    CHECK_RC(lt_stack_size_set(32767), LT_EINVAL);
    CHECK_RC(lt_stack_size_set(LT_STACK_SIZE_MIN - 1), LT_EINVAL);
    CHECK(lt_stack_size_get() == 0);

    CHECK_RC(lt_stack_size_set((size_t)1 << 20), LT_OK);
    CHECK(lt_stack_size_get() == (size_t)1 << 20);
    CHECK_RC(lt_stack_size_set(1), LT_EINVAL);
    CHECK_RC(lt_stack_size_set(32767), LT_EINVAL);
    CHECK(lt_stack_size_get() == (size_t)1 << 20); /* unchanged on error */
    CHECK(t_run_on_thread(256));                   /* 128 KiB of frames */

    /* Some systems want more than 32 KiB (PTHREAD_STACK_MIN); those refuse. */
    rc = lt_stack_size_set(LT_STACK_SIZE_MIN);
    CHECK(rc == LT_OK || rc == LT_EINVAL);
    if (rc == LT_OK) {
        CHECK(lt_stack_size_get() == LT_STACK_SIZE_MIN);
        CHECK(t_run_on_thread(4));
    } else {
        printf("    this system refuses a stack of LT_STACK_SIZE_MIN bytes\n");
    }

    /* Absurd sizes: refused at once, or at thread start (see below). */
    rc = lt_stack_size_set((size_t)-1);
    CHECK(rc == LT_OK || rc == LT_EINVAL);
    CHECK_RC(lt_stack_size_set(0), LT_OK);
    CHECK(lt_stack_size_get() == 0);
    CHECK(t_run_on_thread(16));
}

static struct {
    lt_lock_t *mu;
    int ran;
} t_flag;

static void t_set_flag(void *arg)
{
    (void)arg;
    if (lt_lock_acquire(t_flag.mu, T_LONG, 0) == LT_OK) {
        t_flag.ran = 1;
        lt_lock_release(t_flag.mu);
    }
}

static void test_thread_start_failure(void)
{
    const size_t absurd = SIZE_MAX / 2;
    uint64_t ident = 0;
    int rc, ran;

    rc = lt_stack_size_set(absurd);
    if (rc == LT_EINVAL) {
        printf("    skipped: this system refuses a %llu-byte stack at once\n",
               (unsigned long long)absurd);
        CHECK(lt_stack_size_get() == 0);
        return;
    }
    CHECK_RC(rc, LT_OK);
    t_flag.mu = t_new_lock();
    t_flag.ran = 0;
    rc = lt_thread_start(t_set_flag, NULL, &ident);
    CHECK_RC(lt_stack_size_set(0), LT_OK);
    if (rc == LT_OK) {
        printf("    skipped: this system started a thread with a %llu-byte stack\n",
               (unsigned long long)absurd);
        return; /* t_flag.mu is leaked: the thread may still use it */
    }
    if (rc != LT_EAGAIN && rc != LT_ENOMEM)
        t_fail(__FILE__, __LINE__, "lt_thread_start returned %d, expected "
               "LT_EAGAIN or LT_ENOMEM", rc);
    printf("    a %llu-byte stack: lt_thread_start returned %d\n",
           (unsigned long long)absurd, rc);
    t_sleep_us(50000);
    CHECK_RC(lt_lock_acquire(t_flag.mu, T_LONG, 0), LT_OK);
    ran = t_flag.ran;
    lt_lock_release(t_flag.mu);
    CHECK(ran == 0);
    lt_lock_free(t_flag.mu);
    /* Threads still start afterwards. */
    CHECK(t_run_on_thread(8));
}

/* ---- joinable threads ------------------------------------------------------------ */

/* A joinable thread's job: it waits for gate (if any), then records that it
 * ran, and may try to join its own handle. */
struct t_join_job {
    lt_lock_t *gate;      /* held by the test until the thread may go on */
    lt_lock_t *finished;  /* held until fn is about to return */
    lt_thread_t *self;    /* stored before gate is released */
    int self_join;        /* fn joins self (with timeouts 0 and 10 ms) */
    int self_rc0, self_rc; /* what those joins returned */
    int ran;              /* the side effect a join must make visible */
};

static void t_join_job_init(struct t_join_job *job, int self_join)
{
    job->gate = t_new_held_lock();
    job->finished = t_new_held_lock();
    job->self = NULL;
    job->self_join = self_join;
    job->self_rc0 = job->self_rc = 99;
    job->ran = 0;
}

static void t_join_job_free(struct t_join_job *job)
{
    lt_lock_free(job->gate);
    lt_lock_free(job->finished);
}

static void t_join_fn(void *arg)
{
    struct t_join_job *job = arg;

    if (lt_lock_acquire(job->gate, T_LONG, 0) != LT_OK)
        return; /* the test fails on ran == 0 */
    if (job->self_join) {
        job->self_rc0 = lt_thread_join(job->self, 0, 0);
        job->self_rc = lt_thread_join(job->self, 10000, LT_WAIT_INTR);
    }
    t_sleep_us(20000); /* so that a join that does not wait would see 0 */
    job->ran = 1;
    lt_lock_release(job->finished);
}

static lt_thread_t *t_start_joinable(struct t_join_job *job)
{
    lt_thread_t *h = NULL;
    uint64_t ident = 0;
    int rc = lt_thread_start_joinable(t_join_fn, job, &h, &ident);

    CHECK_RC(rc, LT_OK);
    if (rc != LT_OK || h == NULL) {
        printf("    cannot start a joinable thread\n");
        exit(2);
    }
    CHECK(ident != 0 && ident != lt_get_ident());
    job->self = h;
    return h;
}

static void test_joinable_invalid_arguments(void)
{
    lt_thread_t *h = NULL;
    uint64_t ident = 7;

    CHECK_RC(lt_thread_start_joinable(NULL, NULL, &h, &ident), LT_EINVAL);
    CHECK_RC(lt_thread_start_joinable(t_join_fn, NULL, NULL, &ident), LT_EINVAL);
    CHECK(h == NULL && ident == 7);
    CHECK_RC(lt_thread_join(NULL, 0, 0), LT_EINVAL);
    CHECK_RC(lt_thread_join(NULL, -1, LT_WAIT_INTR), LT_EINVAL);
    CHECK(lt_thread_is_done(NULL) == 0);
    CHECK_RC(lt_thread_set_done(NULL), LT_EINVAL);
    lt_thread_free(NULL);
    CHECK(LT_EDEADLK < 0 && LT_EDEADLK != LT_ESYS && LT_EDEADLK != LT_ENOTSUP);
}

static void test_joinable_join(void)
{
    struct t_join_job job;
    lt_thread_t *h;
    int64_t t0, elapsed;

    t_join_job_init(&job, 0);
    h = t_start_joinable(&job);
    CHECK(lt_thread_is_done(h) == 0);
    CHECK_RC(lt_thread_join(h, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_thread_join(h, 0, 2), LT_EINVAL);

    /* A timed join of a running thread: never early. */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_thread_join(h, 50000, 0), LT_TIMEDOUT);
    elapsed = lt_monotonic_us() - t0;
    if (elapsed < 50000 || elapsed > 50000 + T_SLOP)
        t_fail(__FILE__, __LINE__, "a 50 ms join took %lld us", (long long)elapsed);
    CHECK_RC(lt_thread_join(h, 10000, LT_WAIT_INTR), LT_TIMEDOUT);
    CHECK(lt_thread_is_done(h) == 0);

    lt_lock_release(job.gate);
    CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
    CHECK(job.ran == 1); /* fn's effect is visible after the join */
    CHECK(lt_thread_is_done(h) == 1);
    /* Later joins return at once, whatever the timeout. */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_thread_join(h, 0, 0), LT_OK);
    CHECK_RC(lt_thread_join(h, -1, LT_WAIT_INTR), LT_OK);
    CHECK(lt_monotonic_us() - t0 < T_SLOP);
    CHECK_RC(lt_thread_set_done(h), LT_OK); /* after a join: nothing to do */
    CHECK(lt_thread_is_done(h) == 1);
    lt_thread_free(h);
    t_join_job_free(&job);

    /* A join that waits forever. */
    t_join_job_init(&job, 0);
    h = t_start_joinable(&job);
    lt_lock_release(job.gate);
    CHECK_RC(lt_thread_join(h, -1, 0), LT_OK);
    CHECK(job.ran == 1);
    lt_thread_free(h);
    t_join_job_free(&job);
}

#define T_JOINERS 4

struct t_joiner {
    lt_thread_t *h;
    int rc[T_JOINERS];
    int next;
    lt_lock_t *mu; /* guards rc and next */
    struct t_latch arrived, left;
};

static void t_joiner_fn(void *arg)
{
    struct t_joiner *j = arg;
    int rc, i;

    t_latch_count_down(&j->arrived);
    rc = lt_thread_join(j->h, T_LONG, 0);
    CHECK_RC(lt_lock_acquire(j->mu, T_LONG, 0), LT_OK);
    i = j->next++;
    j->rc[i] = rc;
    lt_lock_release(j->mu);
    t_latch_count_down(&j->left);
}

static void test_joinable_concurrent_joins(void)
{
    static struct t_joiner j;
    struct t_join_job job;
    int i, rounds = t_scale(20, 3), r;

    for (r = 0; r < rounds; r++) {
        t_join_job_init(&job, 0);
        j.h = t_start_joinable(&job);
        j.next = 0;
        j.mu = t_new_lock();
        t_latch_init(&j.arrived, T_JOINERS);
        t_latch_init(&j.left, T_JOINERS);
        for (i = 0; i < T_JOINERS; i++) {
            j.rc[i] = 99;
            CHECK_RC(lt_thread_start(t_joiner_fn, &j, NULL), LT_OK);
        }
        CHECK(t_latch_wait(&j.arrived, T_LONG));
        if (r % 2 == 0)
            t_sleep_us(2000); /* most joiners are waiting by now */
        lt_lock_release(job.gate);
        if (!t_latch_wait(&j.left, T_LONG)) {
            t_fail(__FILE__, __LINE__, "the joiners did not finish");
            return;
        }
        /* A second OS join of the same thread would fail (LT_ESYS) or
         * crash; every joiner sees LT_OK. */
        for (i = 0; i < T_JOINERS; i++)
            CHECK_RC(j.rc[i], LT_OK);
        CHECK(job.ran == 1);
        CHECK_RC(lt_thread_join(j.h, 0, 0), LT_OK);
        lt_thread_free(j.h);
        lt_lock_free(j.mu);
        t_latch_free(&j.arrived);
        t_latch_free(&j.left);
        t_join_job_free(&job);
    }
}

static void test_joinable_self_join(void)
{
    struct t_join_job job;
    lt_thread_t *h;

    t_join_job_init(&job, 1);
    h = t_start_joinable(&job);
    lt_lock_release(job.gate); /* job.self is stored */
    CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
    CHECK_RC(job.self_rc0, LT_EDEADLK);
    CHECK_RC(job.self_rc, LT_EDEADLK);
    CHECK(job.ran == 1);
    lt_thread_free(h);
    t_join_job_free(&job);
}

static void test_joinable_set_done_and_free(void)
{
    struct t_join_job job;
    lt_thread_t *h;
    int64_t t0;

    /* set_done on a running thread: done at once, joins return at once,
     * the thread runs on, detached. */
    t_join_job_init(&job, 0);
    h = t_start_joinable(&job);
    CHECK_RC(lt_thread_set_done(h), LT_OK);
    CHECK(lt_thread_is_done(h) == 1);
    CHECK_RC(lt_thread_set_done(h), LT_OK); /* idempotent */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_thread_join(h, -1, 0), LT_OK);
    CHECK_RC(lt_thread_join(h, 0, 0), LT_OK);
    CHECK(lt_monotonic_us() - t0 < T_SLOP);
    CHECK(job.ran == 0);
    lt_thread_free(h);
    lt_lock_release(job.gate);
    /* The thread outlives its handle; LeakSanitizer sees what it frees. */
    CHECK_RC(lt_lock_acquire(job.finished, T_LONG, 0), LT_OK);
    t_sleep_us(20000);
    t_join_job_free(&job);

    /* Free without a join: the running thread is detached. */
    t_join_job_init(&job, 0);
    h = t_start_joinable(&job);
    lt_thread_free(h);
    lt_lock_release(job.gate);
    CHECK_RC(lt_lock_acquire(job.finished, T_LONG, 0), LT_OK);
    t_sleep_us(20000);
    t_join_job_free(&job);

    /* Free after the thread ended, unjoined. */
    t0 = lt_monotonic_us();
    t_join_job_init(&job, 0);
    h = t_start_joinable(&job);
    lt_lock_release(job.gate);
    CHECK_RC(lt_lock_acquire(job.finished, T_LONG, 0), LT_OK);
    while (!lt_thread_is_done(h) && lt_monotonic_us() - t0 < T_LONG)
        t_sleep_us(1000);
    CHECK(lt_thread_is_done(h) == 1);
    lt_thread_free(h);
    t_join_job_free(&job);
}

static void test_joinable_start_failure(void)
{
    const size_t absurd = SIZE_MAX / 2;
    lt_thread_t *h = NULL;
    uint64_t ident = 0;
    int rc;

    if (lt_stack_size_set(absurd) != LT_OK) {
        printf("    skipped: this system refuses a %llu-byte stack at once\n",
               (unsigned long long)absurd);
        return;
    }
    t_flag.mu = t_new_lock();
    t_flag.ran = 0;
    rc = lt_thread_start_joinable(t_set_flag, NULL, &h, &ident);
    CHECK_RC(lt_stack_size_set(0), LT_OK);
    if (rc == LT_OK) {
        printf("    skipped: this system started a thread with a %llu-byte stack\n",
               (unsigned long long)absurd);
        CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
        lt_thread_free(h);
        lt_lock_free(t_flag.mu);
        return;
    }
    CHECK(rc == LT_EAGAIN || rc == LT_ENOMEM);
    CHECK(h == NULL && ident == 0); /* untouched on failure */
    t_sleep_us(20000);
    CHECK(t_flag.ran == 0);
    lt_lock_free(t_flag.mu);
}

/* ---- thread names ------------------------------------------------------------------ */

/* Sets name on the calling thread and checks that it reads back as want. */
static void t_name_round_trip(const char *name, const char *want)
{
    char buf[256];

    memset(buf, 'x', sizeof buf);
    CHECK_RC(lt_thread_set_name(name), LT_OK);
    CHECK_RC(lt_thread_get_name(buf, sizeof buf), LT_OK);
    if (strcmp(buf, want) != 0)
        t_fail(__FILE__, __LINE__, "name \"%s\" read back as \"%s\", expected \"%s\"",
               name, buf, want);
#if defined(__linux__)
    {
        char path[64], comm[64] = "";
        FILE *f;

        sprintf(path, "/proc/self/task/%llu/comm",
                (unsigned long long)lt_get_native_id());
        f = fopen(path, "r");
        CHECK(f != NULL);
        if (f != NULL) {
            if (fgets(comm, sizeof comm, f) != NULL)
                comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
            if (strcmp(comm, want) != 0)
                t_fail(__FILE__, __LINE__, "%s is \"%s\", expected \"%s\"", path,
                       comm, want);
        }
    }
#endif
}

static void t_name_fn(void *arg)
{
    size_t max = lt_thread_name_max();
    char buf[8], *name, *want;

    (void)arg;
    CHECK_RC(lt_thread_set_name(NULL), LT_EINVAL);
    CHECK_RC(lt_thread_get_name(NULL, 16), LT_EINVAL);
    CHECK_RC(lt_thread_get_name(buf, 0), LT_EINVAL);
    if (max == 0) {
        printf("    thread names are not supported here\n");
        CHECK_RC(lt_thread_set_name("x"), LT_ENOTSUP);
        return;
    }
    printf("    lt_thread_name_max: %llu\n", (unsigned long long)max);
    t_name_round_trip("lt-test", "lt-test");
    t_name_round_trip("", "");
    t_name_round_trip("caf\xc3\xa9", "caf\xc3\xa9"); /* "café" */

    /* A small buf is cut on a character boundary: "ab\xc3" never. */
    CHECK_RC(lt_thread_set_name("ab\xc3\xa9"), LT_OK);
    CHECK_RC(lt_thread_get_name(buf, 4), LT_OK);
    CHECK(strcmp(buf, "ab") == 0);
    CHECK_RC(lt_thread_get_name(buf, 5), LT_OK);
    CHECK(strcmp(buf, "ab\xc3\xa9") == 0);
    CHECK_RC(lt_thread_get_name(buf, 1), LT_OK);
    CHECK(buf[0] == '\0');

    if (max > 200) {
        printf("    (long names: the limit is too large to reach here)\n");
        return;
    }
    /* max - 1 ASCII bytes and an "é" (2 bytes) is one byte too long: the
     * cut must drop the whole "é", not leave its first byte. */
    name = malloc(max + 2);
    want = malloc(max + 2);
    CHECK(name != NULL && want != NULL);
    if (name != NULL && want != NULL) {
        memset(name, 'n', max - 1);
        name[max - 1] = '\xc3';
        name[max] = '\xa9';
        name[max + 1] = '\0';
        memcpy(want, name, max - 1);
        want[max - 1] = '\0';
        t_name_round_trip(name, want);
        /* max ASCII bytes and more: cut at max exactly. */
        memset(name, 'm', max + 1);
        name[max + 1] = '\0';
        memcpy(want, name, max);
        want[max] = '\0';
        t_name_round_trip(name, want);
        /* 3-byte characters around the limit. */
        memset(name, 'k', max + 1);
        if (max >= 3) {
            name[max - 2] = '\xe2';
            name[max - 1] = '\x82';
            name[max] = '\xac'; /* "€" across the limit */
            name[max + 1] = '\0';
            memcpy(want, name, max - 2);
            want[max - 2] = '\0';
            t_name_round_trip(name, want);
        }
    }
    free(name);
    free(want);
}

static void test_thread_names(void)
{
    lt_thread_t *h = NULL;
    int rc = lt_thread_start_joinable(t_name_fn, NULL, &h, NULL);

    CHECK_RC(rc, LT_OK);
    if (rc != LT_OK)
        return;
    CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
    lt_thread_free(h);
}

/* ---- the start-up gate ---------------------------------------------------------- */

/* A thread that records what it saw while it was still starting up. */
struct t_startup {
    lt_lock_t *mu;    /* guards the fields below */
    lt_lock_t *hold;  /* held until the thread may say it started up */
    int entered;      /* fn was entered */
    int rc_self;      /* what the thread's own call returned */
    int64_t took;     /* how long that call took, in us */
    int close;        /* the thread calls lt_threads_close(), not the wait */
    struct t_latch inside; /* the thread's own call has returned */
    struct t_latch left;
};

/* The bound of the waits in these tests, in us. */
#define T_STARTUP_WAIT (100 * 1000LL)

static void t_startup_thread(void *arg)
{
    struct t_startup *st = arg;
    int64_t t0 = lt_monotonic_us();
    /* Before lt_thread_started(): this thread is itself starting up, and a
     * wait that counted it would wait for itself until the timeout. */
    int rc = st->close ? lt_threads_close(T_STARTUP_WAIT) : lt_threads_wait_started(T_STARTUP_WAIT);
    int64_t took = lt_monotonic_us() - t0;

    CHECK_RC(lt_lock_acquire(st->mu, T_LONG, 0), LT_OK);
    st->entered = 1;
    st->rc_self = rc;
    st->took = took;
    lt_lock_release(st->mu);
    t_latch_count_down(&st->inside);
    if (st->hold != NULL) {
        if (lt_lock_acquire(st->hold, T_LONG, 0) == LT_OK)
            lt_lock_release(st->hold);
        else
            t_fail(__FILE__, __LINE__, "hold was never released");
    }
    lt_thread_started();
    t_latch_count_down(&st->left);
}

static void t_startup_init(struct t_startup *st, int hold, int close)
{
    st->mu = t_new_lock();
    st->hold = hold ? t_new_held_lock() : NULL;
    st->entered = 0;
    st->rc_self = 99;
    st->took = 0;
    st->close = close;
    t_latch_init(&st->inside, 1);
    t_latch_init(&st->left, 1);
}

static void t_startup_free(struct t_startup *st)
{
    lt_lock_free(st->mu);
    lt_lock_free(st->hold);
    t_latch_free(&st->inside);
    t_latch_free(&st->left);
}

static void test_threads_wait_started(void)
{
    struct t_startup st;
    int64_t t0, elapsed;
    int rc, entered;

    CHECK_RC(lt_threads_wait_started(0), LT_OK);
    CHECK_RC(lt_threads_wait_started(-1), LT_OK);

    /* A thread in fn before lt_thread_started() is waited for, and leaves
     * itself out of its own wait. */
    t_startup_init(&st, 1, 0);
    CHECK_RC(lt_thread_start(t_startup_thread, &st, NULL), LT_OK);
    if (!t_latch_wait(&st.inside, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the thread did not start");
        return;
    }
    CHECK_RC(st.rc_self, LT_OK);
    CHECK(st.took < T_STARTUP_WAIT);
    CHECK_RC(lt_threads_wait_started(0), LT_TIMEDOUT);
    t0 = lt_monotonic_us();
    rc = lt_threads_wait_started(T_STARTUP_WAIT);
    elapsed = lt_monotonic_us() - t0;
    CHECK_RC(rc, LT_TIMEDOUT);
    if (elapsed < T_STARTUP_WAIT || elapsed > T_STARTUP_WAIT + T_SLOP)
        t_fail(__FILE__, __LINE__, "a 100 ms wait took %lld us", (long long)elapsed);
    /* Let go, the thread says it started up. */
    lt_lock_release(st.hold);
    CHECK_RC(lt_threads_wait_started(T_LONG), LT_OK);
    CHECK(t_latch_wait(&st.left, T_LONG));
    t_startup_free(&st);

    /* A thread that has not yet entered fn is waited for too: one started
     * and waited for at once has been through its start-up when the wait
     * returns. */
    t_startup_init(&st, 0, 0);
    CHECK_RC(lt_thread_start(t_startup_thread, &st, NULL), LT_OK);
    CHECK_RC(lt_threads_wait_started(T_LONG), LT_OK);
    CHECK_RC(lt_lock_acquire(st.mu, T_LONG, 0), LT_OK);
    entered = st.entered;
    lt_lock_release(st.mu);
    CHECK(entered);
    CHECK(t_latch_wait(&st.left, T_LONG));
    t_startup_free(&st);
}

/* lt_threads_close() from a thread still starting up leaves that thread out
 * of the count it waits for, on every platform (the POSIX back-end once
 * waited for the caller itself, until the timeout).  Closing cannot be
 * undone, so this test runs last. */
static void test_threads_close_from_starting_thread(void)
{
    struct t_startup st;

    t_startup_init(&st, 0, 1);
    CHECK_RC(lt_thread_start(t_startup_thread, &st, NULL), LT_OK);
    if (!t_latch_wait(&st.left, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the thread did not finish");
        return;
    }
    CHECK_RC(st.rc_self, LT_OK);
    if (st.took >= T_STARTUP_WAIT)
        t_fail(__FILE__, __LINE__, "the close waited %lld us for its caller",
               (long long)st.took);
    CHECK_RC(lt_thread_start(t_startup_thread, &st, NULL), LT_ECLOSED);
    CHECK_RC(lt_threads_close(0), LT_OK);
    t_startup_free(&st);
}


/* ---- interrupts ------------------------------------------------------------------ */

/* 1 on the condvar back-end, whose LT_WAIT_INTR waits also end every slice. */
static int t_sliced(void)
{
    return lt_lock_wait_slice_ms() != 0;
}

/* Ends a pending interrupt of the calling thread, if any, so that the next
 * test starts without one.  Returns 1 if one was pending. */
static int t_drain_interrupt(void)
{
    return lt_lock_acquire(t_never, 1, LT_WAIT_INTR) == LT_INTR;
}

/* A thread that, after delay_us, releases release (if not NULL) and
 * interrupts target (0: the main thread), in that order or, with
 * interrupt_first, the other. */
struct t_intr_job {
    lt_lock_t *mu; /* guards sent_at */
    lt_lock_t *release;
    int interrupt_first;
    uint64_t target;
    int64_t delay_us;
    int64_t sent_at; /* 0 until the interrupt is about to be sent */
    int rc;
    struct t_latch done;
};

static void t_intr_later(void *arg)
{
    struct t_intr_job *job = arg;

    t_sleep_us(job->delay_us);
    if (job->release != NULL && !job->interrupt_first)
        lt_lock_release(job->release);
    CHECK_RC(lt_lock_acquire(job->mu, T_LONG, 0), LT_OK);
    job->sent_at = lt_monotonic_us();
    lt_lock_release(job->mu);
    job->rc = job->target != 0 ? lt_thread_interrupt(job->target) : lt_interrupt_main();
    if (job->release != NULL && job->interrupt_first)
        lt_lock_release(job->release);
    t_latch_count_down(&job->done);
}

static int t_intr_start(struct t_intr_job *job, uint64_t target, lt_lock_t *release,
                        int64_t delay_us)
{
    int rc;

    job->mu = t_new_lock();
    job->release = release; /* interrupt_first is the caller's to set */
    job->target = target;
    job->delay_us = delay_us;
    job->sent_at = 0;
    job->rc = 99;
    t_latch_init(&job->done, 1);
    rc = lt_thread_start(t_intr_later, job, NULL);
    if (rc != LT_OK)
        lt_lock_free(job->mu);
    CHECK_RC(rc, LT_OK);
    return rc == LT_OK;
}

static int64_t t_intr_sent_at(struct t_intr_job *job)
{
    int64_t at;

    CHECK_RC(lt_lock_acquire(job->mu, T_LONG, 0), LT_OK);
    at = job->sent_at;
    lt_lock_release(job->mu);
    return at;
}

/* Returns the interrupter's status, or 99 if it did not finish. */
static int t_intr_finish(struct t_intr_job *job)
{
    if (!t_latch_wait(&job->done, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the interrupting thread did not finish");
        return 99;
    }
    t_latch_free(&job->done);
    lt_lock_free(job->mu);
    return job->rc;
}

/* What a test waits on: an interruptible wait of obj for timeout_us. */
typedef int (*t_wait_fn)(void *obj, int64_t timeout_us);

static int t_wait_lock(void *obj, int64_t timeout_us)
{
    return lt_lock_acquire(obj, timeout_us, LT_WAIT_INTR);
}

static int t_wait_rlock(void *obj, int64_t timeout_us)
{
    return lt_rlock_acquire(obj, timeout_us, LT_WAIT_INTR);
}

static int t_wait_join(void *obj, int64_t timeout_us)
{
    return lt_thread_join(obj, timeout_us, LT_WAIT_INTR);
}

/* Waits (timeout_us < 0: untimed) until a wait ends otherwise than by a
 * condvar slice that came before the interrupt was sent; stores the time
 * from the sending to the return in *latency (-1 if none was sent). */
static int t_wait_interrupted(struct t_intr_job *job, t_wait_fn wait, void *obj,
                              int64_t timeout_us, int64_t *latency)
{
    int64_t t0 = lt_monotonic_us(), now, sent;
    int rc;

    *latency = -1;
    for (;;) {
        now = lt_monotonic_us();
        rc = wait(obj, timeout_us < 0 ? -1 : (t0 + timeout_us > now ? t0 + timeout_us - now : 0));
        now = lt_monotonic_us();
        sent = t_intr_sent_at(job);
        if (sent != 0)
            *latency = now - sent;
        if (rc != LT_INTR || sent != 0 || !t_sliced() || now - t0 > T_LONG)
            return rc;
    }
}

static void test_interrupt_calls(void)
{
    lt_lock_t *held = t_new_held_lock(), *free_lock = t_new_lock();
    int64_t t0, elapsed;

    /* No main thread yet (no test before this one sets it). */
    CHECK(lt_main_thread() == 0);
    CHECK_RC(lt_interrupt_main(), LT_ESRCH);
    CHECK_RC(lt_thread_interrupt(lt_get_ident()), LT_ESRCH);
    CHECK_RC(lt_thread_interrupt(0), LT_ESRCH);
    CHECK(LT_ESRCH < 0 && LT_ESRCH != LT_EOVERFLOW);
    CHECK_RC(lt_set_main_thread(), LT_OK);
    CHECK(lt_main_thread() == lt_get_ident());
    CHECK_RC(lt_set_main_thread(), LT_OK); /* again, from the same thread */
    CHECK(lt_main_thread() == lt_get_ident());

    /* Pending until a blocking wait with LT_WAIT_INTR reports it; twice is
     * reported once; a try and a wait without the flag do not look. */
    CHECK_RC(lt_interrupt_main(), LT_OK);
    CHECK_RC(lt_thread_interrupt(lt_get_ident()), LT_OK);
    CHECK_RC(lt_lock_acquire(held, 0, LT_WAIT_INTR), LT_TIMEDOUT);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(held, 30000, 0), LT_TIMEDOUT);
    CHECK(lt_monotonic_us() - t0 >= 30000);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(held, T_LONG, LT_WAIT_INTR), LT_INTR);
    elapsed = lt_monotonic_us() - t0;
    if (elapsed > T_SLOP)
        t_fail(__FILE__, __LINE__, "a pending interrupt ended a wait after %lld us",
               (long long)elapsed);
    CHECK(lt_lock_locked(held) == 1);
    /* Reported: the next wait (shorter than a condvar slice) times out. */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(held, 10000, LT_WAIT_INTR), LT_TIMEDOUT);
    CHECK(lt_monotonic_us() - t0 >= 10000);

    /* A wait that gets the lock leaves the interrupt pending. */
    CHECK_RC(lt_interrupt_main(), LT_OK);
    CHECK_RC(lt_lock_acquire(free_lock, T_LONG, LT_WAIT_INTR), LT_OK);
    CHECK_RC(lt_lock_release(free_lock), LT_OK);
    CHECK(t_drain_interrupt() == 1);
    CHECK(t_drain_interrupt() == 0);
    lt_lock_free(held);
    lt_lock_free(free_lock);
}

/* The main thread's waits of every kind end promptly when another thread
 * interrupts it, and only then: the lock is not taken. */
static void test_interrupt_wakes_main_waits(void)
{
    static const char *const names[] = {"lock, untimed", "lock, 60 s", "rlock, untimed",
                                        "rlock, 60 s", "join, untimed"};
    lt_lock_t *held = t_new_held_lock();
    lt_rlock_t *rlock = NULL;
    struct t_join_job jj;
    lt_thread_t *h;
    int i;

    CHECK_RC(lt_rlock_new(&rlock), LT_OK);
    t_join_job_init(&jj, 0);
    h = t_start_joinable(&jj);
    for (i = 0; i < 5; i++) {
        static struct t_intr_job job;
        t_wait_fn wait = i < 2 ? t_wait_lock : i < 4 ? t_wait_rlock : t_wait_join;
        void *obj = i < 2 ? (void *)held : i < 4 ? (void *)rlock : (void *)h;
        int64_t timeout = i == 1 || i == 3 ? 60 * T_SEC : -1, latency;
        struct t_peer p;
        int rc;

        if (i == 2 && !t_peer_start(&p, rlock))
            break;
        if (i == 2)
            CHECK_RC(t_peer_do(&p, T_PEER_ACQUIRE, T_LONG), LT_OK);
        if (!t_intr_start(&job, 0, NULL, 50000))
            break;
        rc = t_wait_interrupted(&job, wait, obj, timeout, &latency);
        CHECK_RC(t_intr_finish(&job), LT_OK);
        CHECK_RC(rc, LT_INTR);
        printf("    %s: LT_INTR %lld us after the interrupt\n", names[i], (long long)latency);
        if (latency < 0 || latency > T_SLOP)
            t_fail(__FILE__, __LINE__, "%s: LT_INTR %lld us after the interrupt", names[i],
                   (long long)latency);
        t_drain_interrupt(); /* a condvar slice may have come just before it */
        if (i == 3) {
            CHECK(lt_rlock_owner(rlock) != lt_get_ident());
            CHECK_RC(t_peer_do(&p, T_PEER_RELEASE, T_LONG), LT_OK);
            t_peer_stop(&p);
        }
    }
    CHECK(lt_lock_locked(held) == 1);
    CHECK(lt_thread_is_done(h) == 0);
    lt_lock_release(jj.gate);
    CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
    lt_thread_free(h);
    t_join_job_free(&jj);
    lt_rlock_free(rlock);
    lt_lock_free(held);
}

/* A thread the library started, waiting on a lock with LT_WAIT_INTR. */
struct t_intr_waiter {
    lt_lock_t *lock;
    lt_lock_t *sent; /* held until it is interrupted; NULL: never */
    int64_t timeout_us;
    int rc;
    int64_t returned_at;
};

static void t_intr_waiter_fn(void *arg)
{
    struct t_intr_waiter *wt = arg;
    int64_t t0 = lt_monotonic_us(), left = wt->timeout_us;

    /* A condvar slice before the interrupt is no interrupt: it waits on
     * with the time left. */
    for (;;) {
        wt->rc = lt_lock_acquire(wt->lock, left, LT_WAIT_INTR);
        left = wt->timeout_us - (lt_monotonic_us() - t0);
        if (wt->rc != LT_INTR || !t_sliced() || left <= 0
            || (wt->sent != NULL && !lt_lock_locked(wt->sent)))
            break;
    }
    wt->returned_at = lt_monotonic_us();
}

static void test_interrupt_thread_by_ident(void)
{
    static struct t_intr_waiter a, b;
    lt_lock_t *lock = t_new_held_lock();
    lt_thread_t *ha = NULL, *hb = NULL;
    uint64_t ia = 0;
    int64_t sent, latency;

    a.lock = b.lock = lock;
    a.sent = t_new_held_lock();
    b.sent = NULL;
    a.timeout_us = b.timeout_us = T_LONG;
    a.rc = b.rc = 99;
    CHECK_RC(lt_thread_start_joinable(t_intr_waiter_fn, &a, &ha, &ia), LT_OK);
    CHECK_RC(lt_thread_start_joinable(t_intr_waiter_fn, &b, &hb, NULL), LT_OK);
    if (ha == NULL || hb == NULL)
        return;
    t_sleep_us(50000);
    lt_lock_release(a.sent);
    sent = lt_monotonic_us();
    CHECK_RC(lt_thread_interrupt(ia), LT_OK);
    CHECK_RC(lt_thread_join(ha, T_LONG, 0), LT_OK);
    lt_lock_free(a.sent);
    CHECK_RC(a.rc, LT_INTR);
    latency = a.returned_at - sent;
    printf("    the thread's wait ended %lld us after lt_thread_interrupt\n", (long long)latency);
    if (latency > T_SLOP)
        t_fail(__FILE__, __LINE__, "LT_INTR %lld us after the interrupt", (long long)latency);
    /* Gone: nothing to interrupt.  b still waits, undisturbed, and gets the
     * lock when it is released. */
    CHECK_RC(lt_thread_interrupt(ia), LT_ESRCH);
    CHECK(lt_thread_is_done(hb) == 0);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK_RC(lt_thread_join(hb, T_LONG, 0), LT_OK);
    CHECK_RC(b.rc, LT_OK);
    CHECK(lt_lock_locked(lock) == 1);
    lt_thread_free(ha);
    lt_thread_free(hb);
    lt_lock_free(lock);
}

/* An interrupt that lands as the lock is released to the main thread: the
 * main thread either takes the lock (and keeps it) or not (LT_INTR), and
 * the token is never lost: another waiter, parked on the same lock, gets it
 * when the main thread does not. */
static void test_interrupt_races_release(void)
{
    int rounds = t_scale(300, 20), i, taken = 0, interrupted = 0;
    lt_lock_t *lock = t_new_held_lock();

    for (i = 0; i < rounds; i++) {
        static struct t_intr_job job;
        static struct t_intr_waiter other;
        lt_thread_t *h = NULL;
        int64_t latency;
        int rc;

        other.lock = lock;
        other.sent = NULL;
        other.timeout_us = T_LONG;
        other.rc = 99;
        if (i % 2 == 1
            && lt_thread_start_joinable(t_intr_waiter_fn, &other, &h, NULL) != LT_OK)
            break;
        job.interrupt_first = i % 4 >= 2;
        if (!t_intr_start(&job, 0, lock, i % 7 == 0 ? 0 : 1000))
            break;
        rc = t_wait_interrupted(&job, t_wait_lock, lock, T_LONG, &latency);
        CHECK_RC(t_intr_finish(&job), LT_OK);
        t_drain_interrupt();
        if (rc == LT_OK) {
            taken++;
            CHECK(lt_lock_locked(lock) == 1);
            if (h != NULL)
                CHECK_RC(lt_lock_release(lock), LT_OK); /* to the other waiter */
        } else {
            CHECK_RC(rc, LT_INTR);
            interrupted++;
        }
        if (h != NULL) {
            CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
            CHECK_RC(other.rc, LT_OK);
            lt_thread_free(h);
        } else if (rc != LT_OK) {
            CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
        }
        CHECK(lt_lock_locked(lock) == 1);
    }
    printf("    %d rounds: taken %d, interrupted %d\n", rounds, taken, interrupted);
    lt_lock_free(lock);
}


/* Waiters and releasers on one lock used as a binary semaphore, every wait
 * interruptible (so parked, on the semaphore back-end, by threads the
 * library started): each successful release adds a token, each successful
 * acquire takes one.  At the end the untimed waiters must all come back once
 * the releasers have released enough: one that a lost wakeup left asleep on
 * an unlocked lock would never return. */
struct t_tokens {
    lt_lock_t *lock;
    lt_lock_t *mu; /* guards the rest */
    int stop;
    int untimed_left; /* untimed waiters not yet back after stop */
    long released, taken;
    struct t_latch done;
};

struct t_tokens_role {
    struct t_tokens *t;
    int kind; /* 0: untimed waiter, 1: timed waiter, 2: releaser */
    unsigned seed;
};

static unsigned t_rand(unsigned *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return (*seed >> 16) & 0x7fff;
}

/* An interruptible wait that goes on through condvar slices. */
static int t_tokens_wait(lt_lock_t *lock, int64_t timeout_us)
{
    int64_t t0 = lt_monotonic_us(), left = timeout_us;
    int rc;

    for (;;) {
        rc = lt_lock_acquire(lock, left, LT_WAIT_INTR);
        if (rc != LT_INTR)
            return rc;
        if (timeout_us > 0) {
            left = timeout_us - (lt_monotonic_us() - t0);
            if (left <= 0)
                return LT_TIMEDOUT;
        }
    }
}

static void t_tokens_fn(void *arg)
{
    static const int64_t timeouts[] = {0, 10, 100, 500, 2000};
    struct t_tokens_role *r = arg;
    struct t_tokens *t = r->t;
    int stop = 0, rc;

    while (!stop) {
        if (r->kind == 2) {
            rc = lt_lock_release(t->lock);
            CHECK(rc == LT_OK || rc == LT_ENOTLOCKED);
            CHECK_RC(lt_lock_acquire(t->mu, T_LONG, 0), LT_OK);
            t->released += rc == LT_OK;
            stop = t->stop && t->untimed_left == 0;
            lt_lock_release(t->mu);
        } else {
            rc = t_tokens_wait(t->lock, r->kind == 0 ? -1 : timeouts[t_rand(&r->seed) % 5]);
            CHECK(rc == LT_OK || (r->kind == 1 && rc == LT_TIMEDOUT));
            CHECK_RC(lt_lock_acquire(t->mu, T_LONG, 0), LT_OK);
            t->taken += rc == LT_OK;
            stop = t->stop;
            if (stop && r->kind == 0)
                t->untimed_left--;
            lt_lock_release(t->mu);
        }
        if (t_rand(&r->seed) % 4 == 0)
            t_sleep_us(t_rand(&r->seed) % 50);
    }
    t_latch_count_down(&t->done);
}

static void test_parked_token_handoff(void)
{
    enum { NROLES = 8 };
    static struct t_tokens t;
    static struct t_tokens_role roles[NROLES];
    static const int kinds[NROLES] = {0, 0, 0, 1, 1, 1, 2, 2};
    int i, started = 0;

    t.lock = t_new_held_lock();
    t.mu = t_new_lock();
    t.stop = 0;
    t.untimed_left = 3;
    t.released = t.taken = 0;
    t_latch_init(&t.done, NROLES);
    for (i = 0; i < NROLES; i++) {
        roles[i].t = &t;
        roles[i].kind = kinds[i];
        roles[i].seed = 7u * (unsigned)i + 1u;
        started += lt_thread_start(t_tokens_fn, &roles[i], NULL) == LT_OK;
    }
    CHECK(started == NROLES);
    if (started != NROLES)
        return; /* the latch can never open: leak it */
    t_sleep_us(t_scale(1000000, 200000));
    CHECK_RC(lt_lock_acquire(t.mu, T_LONG, 0), LT_OK);
    t.stop = 1;
    lt_lock_release(t.mu);
    if (!t_latch_wait(&t.done, T_LONG)) {
        t_fail(__FILE__, __LINE__, "a waiter never came back: a lost wakeup");
        return;
    }
    printf("    %ld tokens released, %ld taken, lock %s\n", t.released, t.taken,
           lt_lock_locked(t.lock) ? "locked" : "free");
    CHECK(t.released - t.taken == (lt_lock_locked(t.lock) ? 0 : 1));
    t_latch_free(&t.done);
    lt_lock_free(t.lock);
    lt_lock_free(t.mu);
}


/* ---- the lock in the caller's memory, and the parking lot -------------------- */

/* The parking lot's bucket of an address: hidden in the library, declared
 * here so that the stress test can make locks share one (lt_internal.h). */
size_t lt__park_bucket_of(const void *addr);

static lt_lock_t t_static_lock = LT_LOCK_INIT;
static lt_rlock_t t_static_rlock = LT_RLOCK_INIT;

struct t_embedder {
    int before;
    lt_lock_t lock;
    lt_rlock_t rlock;
    int after;
};

static void test_locks_in_callers_memory(void)
{
    struct t_embedder e;
    lt_lock_t automatic = LT_LOCK_INIT;

    CHECK(sizeof(lt_lock_t) == 16);
    CHECK(lt_lock_sizeof() == sizeof(lt_lock_t));
    CHECK(lt_rlock_sizeof() == sizeof(lt_rlock_t));
    CHECK(sizeof(lt_rlock_t) <= 32);
    /* Static and automatic locks, straight from the initialiser. */
    CHECK_RC(lt_lock_acquire(&t_static_lock, 0, 0), LT_OK);
    CHECK(lt_lock_holder(&t_static_lock) == lt_get_ident());
    CHECK_RC(lt_lock_acquire(&t_static_lock, 1000, 0), LT_TIMEDOUT);
    CHECK_RC(lt_lock_release(&t_static_lock), LT_OK);
    CHECK_RC(lt_lock_release(&t_static_lock), LT_ENOTLOCKED);
    CHECK_RC(lt_rlock_acquire(&t_static_rlock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(&t_static_rlock, 0, 0), LT_OK);
    CHECK(lt_rlock_count(&t_static_rlock) == 2);
    CHECK_RC(lt_rlock_release(&t_static_rlock), LT_OK);
    CHECK_RC(lt_rlock_release(&t_static_rlock), LT_OK);
    CHECK_RC(lt_rlock_release(&t_static_rlock), LT_ENOTOWNER);
    CHECK_RC(lt_lock_acquire(&automatic, -1, 0), LT_OK);
    CHECK_RC(lt_lock_release(&automatic), LT_OK);
    CHECK_RC(lt_lock_acquire(&automatic, 0, 0), LT_OK);
    CHECK_RC(lt_lock_release_unhanded(&automatic), LT_OK);
    CHECK_RC(lt_lock_release_unhanded(&automatic), LT_ENOTLOCKED);
    CHECK_RC(lt_lock_release_unhanded(NULL), LT_EINVAL);
    lt_lock_fini(&automatic);
    /* Inside a struct, through init/fini, its neighbours untouched. */
    memset(&e, 0x5A, sizeof e);
    e.before = e.after = 7;
    CHECK_RC(lt_lock_init(&e.lock), LT_OK);
    CHECK_RC(lt_rlock_init(&e.rlock), LT_OK);
    CHECK(lt_lock_locked(&e.lock) == 0 && lt_rlock_owner(&e.rlock) == 0);
    CHECK_RC(lt_lock_acquire(&e.lock, 0, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(&e.rlock, -1, 0), LT_OK);
    CHECK(lt_rlock_owner(&e.rlock) == lt_get_ident());
    CHECK_RC(lt_rlock_release(&e.rlock), LT_OK);
    CHECK_RC(lt_lock_release(&e.lock), LT_OK);
    CHECK(e.before == 7 && e.after == 7);
    lt_rlock_fini(&e.rlock);
    lt_lock_fini(&e.lock);
    CHECK_RC(lt_lock_init(NULL), LT_EINVAL);
    CHECK_RC(lt_rlock_init(NULL), LT_EINVAL);
    lt_lock_fini(NULL);
    lt_rlock_fini(NULL);
}

/* Many locks in one bucket of the parking lot, each contended by threads
 * that wait forever, wait with short timeouts (which race the releases) or
 * try; some threads are interrupted at random (lt_thread_interrupt, racing
 * handoffs).  Each lock guards a counter and an "inside" flag: a second
 * thread inside, a lost count, a lock left locked or a waiter never woken
 * (the latch's bound) fails. */
enum { T_PARK_LOCKS = 6, T_PARK_THREADS = 12 };

struct t_park_shared {
    lt_lock_t *locks[T_PARK_LOCKS]; /* all in one bucket */
    long counts[T_PARK_LOCKS];      /* each guarded by its lock */
    int inside[T_PARK_LOCKS];       /* each guarded by its lock */
    uint64_t idents[T_PARK_THREADS]; /* for the interrupter */
    lt_lock_t *mu;                   /* guards idents and stop */
    int stop;
    int iters;
    struct t_latch done;        /* the parkers */
    struct t_latch interrupter; /* the interrupter, after stop */
};

struct t_parker {
    struct t_park_shared *sh;
    int index;
    long taken, timeouts, interrupts, errors;
};

static void t_park_fn(void *arg)
{
    struct t_parker *p = arg;
    struct t_park_shared *sh = p->sh;
    unsigned seed = 31u * (unsigned)p->index + 3u;
    int i, k, rc, hold;
    int64_t timeout;

    CHECK_RC(lt_lock_acquire(sh->mu, T_LONG, 0), LT_OK);
    sh->idents[p->index] = lt_get_ident();
    lt_lock_release(sh->mu);
    for (i = 0; i < sh->iters; i++) {
        k = (int)(t_rand(&seed) % T_PARK_LOCKS);
        switch (p->index % 3) {
        case 0: timeout = -1; break;
        case 1: timeout = 50 + (int64_t)(t_rand(&seed) % 400); break;
        default: timeout = t_rand(&seed) % 4 == 0 ? 0 : 2000; break;
        }
        rc = lt_lock_acquire(sh->locks[k], timeout, LT_WAIT_INTR);
        if (rc == LT_TIMEDOUT) {
            p->timeouts++;
            continue;
        }
        if (rc == LT_INTR) {
            p->interrupts++;
            continue;
        }
        if (rc != LT_OK) {
            p->errors++;
            continue;
        }
        if (sh->inside[k]++ != 0)
            p->errors++;
        sh->counts[k]++;
        p->taken++;
        /* Now and then hold it past LT_HANDOFF_US, so releases hand off. */
        hold = t_rand(&seed) % 16 == 0;
        if (hold)
            t_sleep_us(LT_HANDOFF_US + 200);
        sh->inside[k]--;
        if (lt_lock_release(sh->locks[k]) != LT_OK)
            p->errors++;
    }
    t_latch_count_down(&sh->done);
}

static void t_park_interrupter(void *arg)
{
    struct t_park_shared *sh = arg;
    unsigned seed = 99u;
    uint64_t who;
    int stop = 0;

    while (!stop) {
        t_sleep_us(100 + t_rand(&seed) % 300);
        CHECK_RC(lt_lock_acquire(sh->mu, T_LONG, 0), LT_OK);
        who = sh->idents[t_rand(&seed) % T_PARK_THREADS];
        stop = sh->stop;
        lt_lock_release(sh->mu);
        if (who != 0) {
            int rc = lt_thread_interrupt(who);

            CHECK(rc == LT_OK || rc == LT_ESRCH); /* it may have ended */
        }
    }
    t_latch_count_down(&sh->interrupter);
}

static void test_park_shared_bucket(void)
{
    static struct t_park_shared sh;
    static struct t_parker who[T_PARK_THREADS];
    static lt_lock_t pool[4096];
    size_t bucket = lt__park_bucket_of(&pool[0]);
    long taken = 0, timeouts = 0, interrupts = 0, errors = 0, counted = 0;
    int i, n = 0, started = 0;
    int64_t t0 = lt_monotonic_us();

    for (i = 0; i < 4096 && n < T_PARK_LOCKS; i++)
        if (lt__park_bucket_of(&pool[i]) == bucket)
            sh.locks[n++] = &pool[i];
    CHECK(n == T_PARK_LOCKS);
    if (n != T_PARK_LOCKS)
        return;
    for (i = 0; i < T_PARK_LOCKS; i++) {
        CHECK_RC(lt_lock_init(sh.locks[i]), LT_OK);
        sh.counts[i] = 0;
        sh.inside[i] = 0;
    }
    sh.mu = t_new_lock();
    sh.stop = 0;
    sh.iters = t_scale(4000, 40);
    t_latch_init(&sh.done, T_PARK_THREADS);
    t_latch_init(&sh.interrupter, 1);
    for (i = 0; i < T_PARK_THREADS; i++) {
        sh.idents[i] = 0;
        who[i].sh = &sh;
        who[i].index = i;
        who[i].taken = who[i].timeouts = who[i].interrupts = who[i].errors = 0;
        started += lt_thread_start(t_park_fn, &who[i], NULL) == LT_OK;
    }
    CHECK(started == T_PARK_THREADS);
    CHECK_RC(lt_thread_start(t_park_interrupter, &sh, NULL), LT_OK);
    if (started != T_PARK_THREADS)
        return; /* the latch can never open: leak it */
    if (!t_latch_wait(&sh.done, 120 * T_SEC)) {
        t_fail(__FILE__, __LINE__, "a waiter never came back: a lost wakeup");
        return;
    }
    CHECK_RC(lt_lock_acquire(sh.mu, T_LONG, 0), LT_OK);
    sh.stop = 1;
    lt_lock_release(sh.mu);
    if (!t_latch_wait(&sh.interrupter, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the interrupter never stopped");
        return;
    }
    for (i = 0; i < T_PARK_THREADS; i++) {
        taken += who[i].taken;
        timeouts += who[i].timeouts;
        interrupts += who[i].interrupts;
        errors += who[i].errors;
    }
    for (i = 0; i < T_PARK_LOCKS; i++) {
        counted += sh.counts[i];
        CHECK(lt_lock_locked(sh.locks[i]) == 0);
    }
    CHECK(errors == 0);
    CHECK(counted == taken);
    CHECK(taken + timeouts + interrupts == (long)T_PARK_THREADS * sh.iters);
    printf("    %d locks in bucket %lu, %d threads: %ld taken, %ld timed out, "
           "%ld interrupted in %lld ms\n", T_PARK_LOCKS, (unsigned long)bucket,
           T_PARK_THREADS, taken, timeouts, interrupts,
           (long long)(lt_monotonic_us() - t0) / 1000);
    t_latch_free(&sh.done);
    t_latch_free(&sh.interrupter);
    lt_lock_free(sh.mu);
}

/* A thread that releases and re-takes a lock in a tight loop cannot starve
 * a waiter: once the waiter has waited LT_HANDOFF_US, a release hands the
 * lock to it.  Without the handoff the waiter, woken, finds the lock taken
 * again almost every time. */
struct t_barger {
    lt_lock_t lock;
    int stop; /* guarded by lock */
    long rounds;
    struct t_latch done;
};

static void t_barge(void *arg)
{
    struct t_barger *b = arg;
    int stop = 0;
    int64_t until;

    while (!stop) {
        CHECK_RC(lt_lock_acquire(&b->lock, T_LONG, 0), LT_OK);
        /* Held for 20 us, let go for an instant: a woken waiter comes too
         * late to find it free. */
        until = lt_monotonic_us() + 20;
        while (lt_monotonic_us() < until)
            b->rounds++;
        stop = b->stop;
        lt_lock_release(&b->lock);
    }
    t_latch_count_down(&b->done);
}

static void test_handoff_ends_starvation(void)
{
    static struct t_barger b;
    int64_t worst = 0, waited, t0;
    /* Under valgrind (LT_TEST_QUICK) threads take turns of a time slice
     * each, which a woken waiter may wait for: 101 ms seen on a full DRD
     * run, and each try takes ~2 s there. */
    int i, tries = t_quick ? 5 : 20;
    int64_t bound = t_quick ? 1000000 : 100000;

    lt_lock_init(&b.lock);
    b.stop = 0;
    b.rounds = 0;
    t_latch_init(&b.done, 1);
    if (lt_thread_start(t_barge, &b, NULL) != LT_OK) {
        t_fail(__FILE__, __LINE__, "cannot start the barger");
        return;
    }
    for (i = 0; i < tries; i++) {
        t_sleep_us(1000);
        t0 = lt_monotonic_us();
        CHECK_RC(lt_lock_acquire(&b.lock, T_LONG, 0), LT_OK);
        waited = lt_monotonic_us() - t0;
        if (waited > worst)
            worst = waited;
        if (i == tries - 1)
            b.stop = 1;
        lt_lock_release(&b.lock);
    }
    CHECK(t_latch_wait(&b.done, T_LONG));
    printf("    %d acquires against a barging thread: the longest waited %lld us\n", tries,
           (long long)worst);
    /* The handoff comes after LT_HANDOFF_US; the rest is being scheduled. */
    CHECK(worst < bound);
    t_latch_free(&b.done);
}

/* ---- the contention hook ------------------------------------------------------ */

/* What the hook saw of the locks a test names; the rest (the harness's own
 * waits) only counted.  Atomics: the hook runs in any thread. */
struct t_seen {
    const void *watched[2];
    int waited[2], woke[2], handed[2];
    int status[2];
    uint64_t waiter[2], woke_other[2], woke_by[2];
    int64_t waited_us[2], woke_us[2];
    int others;     /* events of other locks ... */
    int others_mine; /* ... of them, told by the thread me */
    uint64_t me;
};

static struct t_seen t_seen;

static void t_hook(const lt_contention_t *e, void *arg)
{
    struct t_seen *seen = arg;
    int i;

    for (i = 0; i < 2; i++)
        if (e->lock == seen->watched[i])
            break;
    if (i == 2) {
        __atomic_fetch_add(&seen->others, 1, __ATOMIC_RELAXED);
        if (e->thread == seen->me)
            __atomic_fetch_add(&seen->others_mine, 1, __ATOMIC_RELAXED);
        return;
    }
    if (e->event == LT_CONTENTION_WAITED) {
        CHECK(e->other == 0);
        __atomic_store_n(&seen->status[i], e->status, __ATOMIC_RELAXED);
        __atomic_store_n(&seen->waiter[i], e->thread, __ATOMIC_RELAXED);
        __atomic_store_n(&seen->waited_us[i], e->waited_us, __ATOMIC_RELAXED);
        __atomic_fetch_add(&seen->waited[i], 1, __ATOMIC_RELEASE);
    } else {
        CHECK_RC(e->event, LT_CONTENTION_WOKE);
        __atomic_store_n(&seen->woke_other[i], e->other, __ATOMIC_RELAXED);
        __atomic_store_n(&seen->woke_by[i], e->thread, __ATOMIC_RELAXED);
        __atomic_store_n(&seen->woke_us[i], e->waited_us, __ATOMIC_RELAXED);
        __atomic_fetch_add(&seen->handed[i], e->handed, __ATOMIC_RELAXED);
        __atomic_fetch_add(&seen->woke[i], 1, __ATOMIC_RELEASE);
    }
}

static int t_seen_count(const int *n)
{
    return __atomic_load_n(n, __ATOMIC_ACQUIRE);
}

struct t_hook_waiter {
    lt_lock_t *lock;
    lt_rlock_t *rlock;
    uint64_t ident;
    int64_t measured_us; /* the wait, as the thread timed it */
    int rc;
    struct t_latch done;
};

static void t_hook_wait_once(void *arg)
{
    struct t_hook_waiter *c = arg;
    int64_t t0 = lt_monotonic_us();

    c->ident = lt_get_ident();
    c->rc = c->lock != NULL ? lt_lock_acquire(c->lock, T_LONG, 0)
                            : lt_rlock_acquire(c->rlock, T_LONG, 0);
    c->measured_us = lt_monotonic_us() - t0;
    if (c->rc == LT_OK)
        (void)(c->lock != NULL ? lt_lock_release(c->lock) : lt_rlock_release(c->rlock));
    t_latch_count_down(&c->done);
}

/* Starts a thread that waits for lock (or rlock), held by the caller, and
 * returns once it is queued (lt_waits: the test's threads use LT_WAIT_INTR
 * only where they say so, so it waits here a while instead). */
static int t_hook_wait_start(struct t_hook_waiter *c, lt_lock_t *lock, lt_rlock_t *rlock)
{
    c->lock = lock;
    c->rlock = rlock;
    c->rc = 99;
    t_latch_init(&c->done, 1);
    if (lt_thread_start(t_hook_wait_once, c, NULL) != LT_OK) {
        t_fail(__FILE__, __LINE__, "cannot start the contending thread");
        t_latch_free(&c->done);
        return 0;
    }
    t_sleep_us(20000);
    return 1;
}

static void t_spin_fn(void *arg)
{
    int64_t until = lt_monotonic_us() + *(int64_t *)arg;

    while (lt_monotonic_us() < until)
        ;
}

/* The hook is called once per contended wait and once per release that
 * woke a waiter, with the right lock, threads and times; never for an
 * uncontended acquire, a try, or a join; not once removed. */
static void test_contention_hook(void)
{
    struct t_hook_waiter c;
    lt_lock_t lock = LT_LOCK_INIT;
    lt_rlock_t rlock = LT_RLOCK_INIT;
    lt_thread_t *h;
    int64_t spin_us = 20000, t0;
    int i, rounds = t_scale(10, 3), before;

    memset(&t_seen, 0, sizeof t_seen);
    t_seen.watched[0] = &lock;
    t_seen.watched[1] = &rlock;
    t_seen.me = lt_get_ident();
    lt_contention_hook(t_hook, &t_seen);

    for (i = 0; i < rounds; i++) {
        CHECK_RC(lt_lock_acquire(&lock, 0, 0), LT_OK);
        if (!t_hook_wait_start(&c, &lock, NULL))
            break;
        CHECK_RC(lt_lock_release(&lock), LT_OK);
        CHECK(t_latch_wait(&c.done, T_LONG));
        t_latch_free(&c.done);
        CHECK_RC(c.rc, LT_OK);
        CHECK_RC(t_seen_count(&t_seen.waited[0]), i + 1);
        CHECK_RC(t_seen_count(&t_seen.woke[0]), i + 1);
        CHECK(t_seen.waiter[0] == c.ident && t_seen.status[0] == LT_OK);
        CHECK(t_seen.woke_by[0] == lt_get_ident() && t_seen.woke_other[0] == c.ident);
        /* Slept at least most of the 20 ms, never more than it measured. */
        CHECK(t_seen.waited_us[0] >= 10000 && t_seen.waited_us[0] <= c.measured_us);
        /* The releaser reads the clock after the wake: the waiter may have
         * told its hook first. */
        CHECK(t_seen.woke_us[0] >= 10000 && t_seen.woke_us[0] < T_LONG);
    }
    /* It had waited over LT_HANDOFF_US: lt_lock_release() handed it over. */
    CHECK_RC(t_seen_count(&t_seen.handed[0]), rounds);

    /* Uncontended pairs and a try on a held lock: nothing. */
    for (i = 0; i < 1000; i++) {
        CHECK_RC(lt_lock_acquire(&lock, -1, 0), LT_OK);
        CHECK_RC(lt_lock_acquire(&lock, 0, 0), LT_TIMEDOUT);
        CHECK_RC(lt_lock_release(&lock), LT_OK);
        CHECK_RC(lt_rlock_acquire(&rlock, -1, 0), LT_OK);
        CHECK_RC(lt_rlock_release(&rlock), LT_OK);
    }
    CHECK_RC(t_seen_count(&t_seen.waited[0]), rounds);
    CHECK_RC(t_seen_count(&t_seen.waited[1]), 0);

    /* A timed wait that times out is a wait too. */
    CHECK_RC(lt_lock_acquire(&lock, 0, 0), LT_OK);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(&lock, 5000, 0), LT_TIMEDOUT);
    CHECK_RC(t_seen_count(&t_seen.waited[0]), rounds + 1);
    CHECK_RC(t_seen.status[0], LT_TIMEDOUT);
    CHECK(t_seen.waited_us[0] <= lt_monotonic_us() - t0);
    CHECK_RC(lt_lock_release(&lock), LT_OK);
    CHECK_RC(t_seen_count(&t_seen.woke[0]), rounds); /* no one to wake */

    /* A recursive lock is named as itself, not as its inner lock. */
    CHECK_RC(lt_rlock_acquire(&rlock, -1, 0), LT_OK);
    CHECK_RC(lt_rlock_acquire(&rlock, -1, 0), LT_OK);
    if (t_hook_wait_start(&c, NULL, &rlock)) {
        CHECK_RC(lt_rlock_release(&rlock), LT_OK);
        CHECK_RC(t_seen_count(&t_seen.woke[1]), 0); /* still held once */
        CHECK_RC(lt_rlock_release(&rlock), LT_OK);
        CHECK(t_latch_wait(&c.done, T_LONG));
        t_latch_free(&c.done);
        CHECK_RC(c.rc, LT_OK);
        CHECK_RC(t_seen_count(&t_seen.waited[1]), 1);
        CHECK_RC(t_seen_count(&t_seen.woke[1]), 1);
        CHECK(t_seen.waiter[1] == c.ident && t_seen.woke_other[1] == c.ident);
    }

    /* A join waits on a lock inside the library: not contention.  (Only
     * this thread's events: a thread that ended a test above may still be
     * telling the hook of its last release.) */
    before = __atomic_load_n(&t_seen.others_mine, __ATOMIC_ACQUIRE);
    if (lt_thread_start_joinable(t_spin_fn, &spin_us, &h, NULL) == LT_OK) {
        CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
        lt_thread_free(h);
        CHECK_RC(__atomic_load_n(&t_seen.others_mine, __ATOMIC_ACQUIRE), before);
    } else {
        t_fail(__FILE__, __LINE__, "cannot start the joinable thread");
    }

    /* Removed: nothing more. */
    lt_contention_hook(NULL, NULL);
    CHECK_RC(lt_lock_acquire(&lock, 0, 0), LT_OK);
    if (t_hook_wait_start(&c, &lock, NULL)) {
        CHECK_RC(lt_lock_release(&lock), LT_OK);
        CHECK(t_latch_wait(&c.done, T_LONG));
        t_latch_free(&c.done);
    }
    CHECK_RC(t_seen_count(&t_seen.waited[0]), rounds + 1);
    CHECK_RC(t_seen_count(&t_seen.woke[0]), rounds);
    printf("    %d contended waits and wakes seen, each once; last wait %lld us\n", rounds,
           (long long)t_seen.waited_us[0]);
}

/* ---- driver ------------------------------------------------------------------- */

static const struct t_test t_tests[] = {
    {"backend_and_constants", test_backend_and_constants},
    {"monotonic_clock", test_monotonic_clock},
    {"invalid_arguments", test_invalid_arguments},
    {"lock_basics", test_lock_basics},
    {"state_after_timeout", test_state_after_timeout},
    {"timed_waits_never_early", test_timed_waits_never_early},
    {"release_from_another_thread", test_release_from_another_thread},
    {"wait_unlocked", test_wait_unlocked},
    {"lock_holder", test_lock_holder},
    {"timeout_max", test_timeout_max},
    {"contention", test_contention},
    {"concurrent_releases", test_concurrent_releases},
    {"free_right_after_handoff", test_free_right_after_handoff},
    {"rlock_invalid_arguments", test_rlock_invalid_arguments},
    {"rlock_basics", test_rlock_basics},
    {"rlock_overflow", test_rlock_overflow},
    {"rlock_other_thread", test_rlock_other_thread},
    {"rlock_release_save", test_rlock_release_save},
    {"rlock_acquire_restore", test_rlock_acquire_restore},
    {"rlock_at_fork_reinit", test_rlock_at_fork_reinit},
    {"rlock_contention", test_rlock_contention},
    {"thousand_threads", test_thousand_threads},
    {"idents_and_native_ids", test_idents_and_native_ids},
    {"stack_size", test_stack_size},
    {"thread_start_failure", test_thread_start_failure},
    {"joinable_invalid_arguments", test_joinable_invalid_arguments},
    {"joinable_join", test_joinable_join},
    {"joinable_concurrent_joins", test_joinable_concurrent_joins},
    {"joinable_self_join", test_joinable_self_join},
    {"joinable_set_done_and_free", test_joinable_set_done_and_free},
    {"joinable_start_failure", test_joinable_start_failure},
    {"thread_names", test_thread_names},
    {"threads_wait_started", test_threads_wait_started},
    /* The first makes this thread the main thread (none before it). */
    {"interrupt_calls", test_interrupt_calls},
    {"interrupt_wakes_main_waits", test_interrupt_wakes_main_waits},
    {"interrupt_thread_by_ident", test_interrupt_thread_by_ident},
    {"interrupt_races_release", test_interrupt_races_release},
    {"parked_token_handoff", test_parked_token_handoff},
    {"locks_in_callers_memory", test_locks_in_callers_memory},
    {"park_shared_bucket", test_park_shared_bucket},
    {"handoff_ends_starvation", test_handoff_ends_starvation},
    {"contention_hook", test_contention_hook},
    /* Closes the gate for the rest of the process: keep it last. */
    {"threads_close_from_starting_thread", test_threads_close_from_starting_thread},
};

int main(void)
{
    t_init();
    return t_run("test_core", t_tests, (int)(sizeof t_tests / sizeof t_tests[0]));
}
