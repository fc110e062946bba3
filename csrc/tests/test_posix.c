/*
 * test_posix.c -- POSIX-only tests of lowthread's C core: signals during
 * waits, fork (locks, ids, the registry, joinable handles) and
 * lt_threads_close(), which can only be tested in a forked child because it
 * cannot be undone.
 *
 * Like test_core.c, every wait is bounded and timing checks are one-sided
 * plus a generous upper bound.
 */
#define _GNU_SOURCE /* syscall(), and POSIX under -std=c99 */

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

#include "lowthread.h"
#include "lt_internal.h" /* LT_SLICE_MS */

/* Failures are also reported by forked children: say which process failed. */
#define T_FAIL_TAIL() printf(" [pid %ld]", (long)getpid())
#include "t_support.h"

/* ---- harness (the rest is in t_support.h) ---------------------------------------- */

#define T_MS 1000LL

static int t_is_condvar(void)
{
    return strcmp(lt_backend(), "condvar") == 0;
}

/* ---- child processes ------------------------------------------------------------ */

/* Waits for a child at most timeout_us; returns its exit status, or -1 if it
 * was killed by a signal or had to be killed because it hung. */
static int t_wait_child(pid_t pid, int64_t timeout_us)
{
    int64_t deadline = lt_monotonic_us() + timeout_us;
    int status;

    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);

        if (r == pid) {
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            t_fail(__FILE__, __LINE__, "child %ld died of signal %d", (long)pid,
                   WIFSIGNALED(status) ? WTERMSIG(status) : 0);
            return -1;
        }
        if (r < 0 && errno != EINTR) {
            t_fail(__FILE__, __LINE__, "waitpid: %s", strerror(errno));
            return -1;
        }
        if (lt_monotonic_us() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            t_fail(__FILE__, __LINE__, "child %ld hung and was killed", (long)pid);
            return -1;
        }
        t_sleep_us(2000);
    }
}

/* Prepares the harness in a fresh child: locks that other threads of the
 * parent may have been using at the fork are re-initialised. */
static void t_child_prologue(void)
{
    t_failures = 0;
    if (lt_lock_at_fork_reinit(t_report) != LT_OK
        || lt_lock_at_fork_reinit(t_never) != LT_OK
        || lt_lock_acquire(t_never, 0, 0) != LT_OK) {
        printf("    cannot re-initialise the harness in the child\n");
        _exit(2);
    }
}

/* Runs fn(arg) in a child process; its result is the child's exit status.
 * Returns that status, or -1 (already reported) if the child failed. */
static int t_run_in_child(int (*fn)(void *), void *arg, int64_t timeout_us)
{
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        t_fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int code;

        t_child_prologue();
        code = fn(arg);
        fflush(NULL);
        _exit(t_failures ? 1 : code);
    }
    return t_wait_child(pid, timeout_us);
}

/* ---- signals -------------------------------------------------------------------- */

static volatile sig_atomic_t t_signalled;

static void t_on_signal(int sig)
{
    (void)sig;
    t_signalled = 1;
}

/* Installs t_on_signal for SIGUSR1 without SA_RESTART. */
static void t_catch_sigusr1(struct sigaction *old)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
#if defined(__clang__)
/* glibc defines sa_handler as a macro that names itself. */
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdisabled-macro-expansion"
#endif
    sa.sa_handler = t_on_signal;
#if defined(__clang__)
#pragma clang diagnostic pop
#endif
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    if (sigaction(SIGUSR1, &sa, old) != 0)
        t_fail(__FILE__, __LINE__, "sigaction: %s", strerror(errno));
    t_signalled = 0;
}

/* A thread that signals `target` after `signal_after_us`, then releases
 * `release` (if not NULL) after `release_after_us` more. */
struct t_signal_job {
    pthread_t target;
    int64_t signal_after_us;
    int64_t sent_at;
    lt_lock_t *release;
    int64_t release_after_us;
    int64_t released_at;
    struct t_latch done;
};

static void t_signal_thread(void *arg)
{
    struct t_signal_job *job = arg;

    t_sleep_us(job->signal_after_us);
    job->sent_at = lt_monotonic_us();
    pthread_kill(job->target, SIGUSR1);
    if (job->release != NULL) {
        t_sleep_us(job->release_after_us);
        job->released_at = lt_monotonic_us();
        lt_lock_release(job->release);
    }
    t_latch_count_down(&job->done);
}

static int t_start_signal_job(struct t_signal_job *job, int64_t signal_after_us,
                              lt_lock_t *release, int64_t release_after_us)
{
    int rc;

    job->target = pthread_self();
    job->signal_after_us = signal_after_us;
    job->release = release;
    job->release_after_us = release_after_us;
    job->sent_at = job->released_at = 0;
    t_latch_init(&job->done, 1);
    rc = lt_thread_start(t_signal_thread, job, NULL);
    CHECK_RC(rc, LT_OK);
    return rc == LT_OK;
}

static int t_finish_signal_job(struct t_signal_job *job)
{
    if (!t_latch_wait(&job->done, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the signalling thread did not finish");
        return 0;
    }
    t_latch_free(&job->done);
    return 1;
}

/* With LT_WAIT_INTR a signal ends the wait with LT_INTR: at once on the
 * semaphore back-end, at the end of the current slice on the condvar one. */
static void test_signal_interrupts_wait(void)
{
    static struct t_signal_job job;
    struct sigaction old;
    lt_lock_t *lock = t_new_held_lock();
    int64_t t0, deadline, latency, bound, returned_at = 0;
    int rc = LT_TIMEDOUT, early = 0;

    t_catch_sigusr1(&old);
    if (!t_start_signal_job(&job, 300 * T_MS, NULL, 0))
        goto out;
    t0 = lt_monotonic_us();
    deadline = t0 + 5 * T_SEC;
    while (lt_monotonic_us() < deadline) {
        rc = lt_lock_acquire(lock, deadline - lt_monotonic_us(), LT_WAIT_INTR);
        returned_at = lt_monotonic_us();
        if (rc != LT_INTR || t_signalled)
            break;
        early++; /* condvar slices end without a signal */
    }
    if (!t_finish_signal_job(&job))
        goto out;
    CHECK_RC(rc, LT_INTR);
    CHECK(t_signalled);
    CHECK(t_is_condvar() || early == 0);
    latency = returned_at - job.sent_at;
    bound = (t_is_condvar() ? LT_SLICE_MS * T_MS : 0) + 500 * T_MS;
    printf("    LT_INTR %lld us after the signal (%d slices before it)\n",
           (long long)latency, early);
    if (latency < 0 || latency > bound)
        t_fail(__FILE__, __LINE__, "LT_INTR came %lld us after the signal",
               (long long)latency);
    CHECK(lt_lock_locked(lock) == 1);
out:
    sigaction(SIGUSR1, &old, NULL);
    lt_lock_free(lock);
}

/* Without LT_WAIT_INTR a signal does not end the wait, nor extend it. */
static void test_signal_does_not_end_wait(void)
{
    static struct t_signal_job job;
    struct sigaction old;
    lt_lock_t *lock = t_new_held_lock();
    int64_t t0, elapsed;
    int rc;

    t_catch_sigusr1(&old);
    if (t_start_signal_job(&job, 100 * T_MS, NULL, 0)) {
        t0 = lt_monotonic_us();
        rc = lt_lock_acquire(lock, 500 * T_MS, 0);
        elapsed = lt_monotonic_us() - t0;
        t_finish_signal_job(&job);
        CHECK_RC(rc, LT_TIMEDOUT);
        CHECK(t_signalled);
        printf("    timed wait of 500 ms with a signal at 100 ms: %lld us\n",
               (long long)elapsed);
        if (elapsed < 500 * T_MS || elapsed > 500 * T_MS + T_SLOP)
            t_fail(__FILE__, __LINE__, "the wait took %lld us", (long long)elapsed);
    }

    /* An untimed wait goes on after the signal until the release. */
    t_signalled = 0;
    if (t_start_signal_job(&job, 50 * T_MS, lock, 200 * T_MS)) {
        rc = lt_lock_acquire(lock, -1, 0);
        elapsed = lt_monotonic_us();
        if (t_finish_signal_job(&job)) {
            CHECK_RC(rc, LT_OK);
            CHECK(t_signalled);
            CHECK(elapsed >= job.released_at);
        }
    }
    sigaction(SIGUSR1, &old, NULL);
    lt_lock_free(lock);
}

/* The condvar back-end cannot see signals: with LT_WAIT_INTR it returns
 * LT_INTR at the end of every slice, never before. */
static void test_wait_intr_without_signal(void)
{
    lt_lock_t *lock = t_new_held_lock();
    int64_t slice = LT_SLICE_MS * T_MS, t0, elapsed;

    if (!t_is_condvar()) {
        t0 = lt_monotonic_us();
        CHECK_RC(lt_lock_acquire(lock, 50 * T_MS, LT_WAIT_INTR), LT_TIMEDOUT);
        CHECK(lt_monotonic_us() - t0 >= 50 * T_MS);
        lt_lock_free(lock);
        return;
    }
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(lock, -1, LT_WAIT_INTR), LT_INTR);
    elapsed = lt_monotonic_us() - t0;
    if (elapsed < slice || elapsed > slice + T_SLOP)
        t_fail(__FILE__, __LINE__, "an untimed slice took %lld us", (long long)elapsed);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(lock, 10 * T_SEC, LT_WAIT_INTR), LT_INTR);
    elapsed = lt_monotonic_us() - t0;
    if (elapsed < slice || elapsed > slice + T_SLOP)
        t_fail(__FILE__, __LINE__, "a timed slice took %lld us", (long long)elapsed);
    /* A timeout shorter than a slice is a plain timeout. */
    t0 = lt_monotonic_us();
    CHECK_RC(lt_lock_acquire(lock, slice / 2, LT_WAIT_INTR), LT_TIMEDOUT);
    CHECK(lt_monotonic_us() - t0 >= slice / 2);
    printf("    slice of %d ms\n", LT_SLICE_MS);
    lt_lock_free(lock);
}

/* ---- fork ------------------------------------------------------------------------ */

struct t_holder {
    lt_lock_t *lock; /* taken by the holder, waited on by the waiter */
    lt_lock_t *stop; /* held by main until the child is done */
    struct t_latch holding;
    struct t_latch waiting;
    struct t_latch left;
    int waiter_rc;
};

static void t_hold_thread(void *arg)
{
    struct t_holder *h = arg;

    CHECK_RC(lt_lock_acquire(h->lock, T_LONG, 0), LT_OK);
    t_latch_count_down(&h->holding);
    CHECK_RC(lt_lock_acquire(h->stop, T_LONG, 0), LT_OK);
    lt_lock_release(h->stop);
    CHECK_RC(lt_lock_release(h->lock), LT_OK);
    t_latch_count_down(&h->left);
}

static void t_wait_thread(void *arg)
{
    struct t_holder *h = arg;

    t_latch_count_down(&h->waiting);
    h->waiter_rc = lt_lock_acquire(h->lock, T_LONG, 0);
    if (h->waiter_rc == LT_OK)
        lt_lock_release(h->lock);
    t_latch_count_down(&h->left);
}

struct t_fork_info {
    struct t_holder *h;
    uint64_t parent_native;
};

static void t_flag_thread(void *arg)
{
    lt_thread_started();
    t_latch_count_down(arg);
}

struct t_child_waiter {
    lt_lock_t *lock;
    struct t_latch took;
    int rc;
};

static void t_child_wait_thread(void *arg)
{
    struct t_child_waiter *cw = arg;

    lt_thread_started(); /* lt_threads_close() below waits for no start-up */
    cw->rc = lt_lock_acquire(cw->lock, T_LONG, 0);
    if (cw->rc == LT_OK)
        lt_lock_release(cw->lock);
    t_latch_count_down(&cw->took);
}

static int t_child_after_fork(void *arg)
{
    struct t_fork_info *info = arg;
    lt_lock_t *lock = info->h->lock;
    struct t_latch ran;
    static struct t_child_waiter cw;

    /* Held by a thread that does not exist here. */
    CHECK(lt_lock_locked(lock) == 1);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_TIMEDOUT);
    CHECK_RC(lt_lock_at_fork_reinit(lock), LT_OK);
    CHECK(lt_lock_locked(lock) == 0);
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
    CHECK_RC(lt_lock_acquire(lock, 10 * T_MS, 0), LT_TIMEDOUT);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK_RC(lt_lock_release(lock), LT_ENOTLOCKED);
    CHECK_RC(lt_lock_acquire(lock, T_SEC, 0), LT_OK);
    CHECK_RC(lt_lock_release(lock), LT_OK);

    CHECK(lt_get_ident() != 0);
    CHECK(lt_get_native_id() != info->parent_native);
    CHECK(lt_get_native_id() == (uint64_t)getpid());
#if defined(__linux__)
    CHECK(lt_get_native_id() == (uint64_t)syscall(SYS_gettid));
#endif

    /* The registry was reset: threads start and run in the child, and
     * lt_threads_close() waits for none of the parent's threads, which
     * were inside fn at the fork. */
    t_latch_init(&ran, 1);
    CHECK_RC(lt_thread_start(t_flag_thread, &ran, NULL), LT_OK);
    CHECK(t_latch_wait(&ran, T_LONG));

    /* The parking lot was emptied at the fork (the parent's waiter was
     * queued on this lock): a child's thread parks on it and is woken. */
    CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
    cw.lock = lock;
    cw.rc = 99;
    t_latch_init(&cw.took, 1);
    CHECK_RC(lt_thread_start(t_child_wait_thread, &cw, NULL), LT_OK);
    t_sleep_us(20 * T_MS);
    CHECK_RC(lt_lock_release(lock), LT_OK);
    CHECK(t_latch_wait(&cw.took, T_LONG));
    CHECK_RC(cw.rc, LT_OK);
    CHECK_RC(lt_threads_close(0), LT_OK);
    return 0;
}

static void test_fork_with_held_lock(void)
{
    static struct t_holder h;
    struct t_fork_info info;

    h.lock = t_new_lock();
    h.stop = t_new_held_lock();
    h.waiter_rc = 99;
    t_latch_init(&h.holding, 1);
    t_latch_init(&h.waiting, 1);
    t_latch_init(&h.left, 2);
    if (lt_thread_start(t_hold_thread, &h, NULL) != LT_OK
        || !t_latch_wait(&h.holding, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the holder did not start");
        return;
    }
    if (lt_thread_start(t_wait_thread, &h, NULL) != LT_OK
        || !t_latch_wait(&h.waiting, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the waiter did not start");
        return;
    }
    t_sleep_us(20 * T_MS); /* let the waiter block on the lock */

    info.h = &h;
    info.parent_native = lt_get_native_id();
    CHECK(info.parent_native == 0 || info.parent_native == (uint64_t)getpid());
    CHECK_RC(t_run_in_child(t_child_after_fork, &info, 20 * T_SEC), 0);

    /* The parent's lock is untouched by the child. */
    CHECK(lt_lock_locked(h.lock) == 1);
    lt_lock_release(h.stop);
    if (!t_latch_wait(&h.left, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the holder and waiter did not finish");
        return;
    }
    CHECK_RC(h.waiter_rc, LT_OK);
    t_latch_free(&h.holding);
    t_latch_free(&h.waiting);
    t_latch_free(&h.left);
    lt_lock_free(h.lock);
    lt_lock_free(h.stop);
}

/* A thread that cached its native id forks: the child's id is its own. */
struct t_fork_thread_job {
    uint64_t native;
    uint64_t parents_main;
    int child_status;
    struct t_latch done;
};

static int t_child_native_id(void *arg)
{
    struct t_fork_thread_job *job = arg;

    CHECK(lt_get_native_id() != job->native);
    CHECK(lt_get_native_id() == (uint64_t)getpid());
    /* The forking thread is the child's main thread: an interrupt of it
     * ends its wait; the parent's main thread is not here. */
    CHECK(lt_main_thread() == lt_get_ident());
    CHECK(job->parents_main != 0 && job->parents_main != lt_get_ident());
    CHECK_RC(lt_thread_interrupt(job->parents_main), LT_ESRCH);
    CHECK_RC(lt_interrupt_main(), LT_OK);
    CHECK_RC(lt_lock_acquire(t_never, T_LONG, LT_WAIT_INTR), LT_INTR);
    CHECK_RC(lt_lock_acquire(t_never, 1000, LT_WAIT_INTR), LT_TIMEDOUT);
    return 0;
}

static void t_fork_thread(void *arg)
{
    struct t_fork_thread_job *job = arg;

    job->native = lt_get_native_id();
    job->parents_main = lt_main_thread();
    job->child_status = t_run_in_child(t_child_native_id, job, 20 * T_SEC);
    t_latch_count_down(&job->done);
}

static void test_fork_from_thread(void)
{
    static struct t_fork_thread_job job;

    if (!lt_have_native_id()) {
        printf("    skipped: no native ids on this system\n");
        return;
    }
    t_latch_init(&job.done, 1);
    CHECK_RC(lt_thread_start(t_fork_thread, &job, NULL), LT_OK);
    if (!t_latch_wait(&job.done, 60 * T_SEC)) {
        t_fail(__FILE__, __LINE__, "the forking thread did not finish");
        return;
    }
    CHECK_RC(job.child_status, 0);
    CHECK(job.native != lt_get_native_id());
    t_latch_free(&job.done);
}

#if defined(__linux__)
struct t_tid_job {
    uint64_t native, tid;
    struct t_latch done;
};

static void t_tid_thread(void *arg)
{
    struct t_tid_job *job = arg;

    job->native = lt_get_native_id();
    job->tid = (uint64_t)syscall(SYS_gettid);
    t_latch_count_down(&job->done);
}
#endif

static void test_native_id_is_gettid(void)
{
#if defined(__linux__)
    static struct t_tid_job job;

    CHECK(lt_get_native_id() == (uint64_t)syscall(SYS_gettid));
    CHECK(lt_get_native_id() == (uint64_t)getpid()); /* the main thread */
    CHECK(lt_have_native_id() == 1);
    t_latch_init(&job.done, 1);
    CHECK_RC(lt_thread_start(t_tid_thread, &job, NULL), LT_OK);
    if (!t_latch_wait(&job.done, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the thread did not finish");
        return;
    }
    CHECK(job.native == job.tid);
    CHECK(job.native != lt_get_native_id());
    t_latch_free(&job.done);
#else
    printf("    skipped: not Linux\n");
#endif
}

/* ---- lt_threads_close, in children ------------------------------------------------- */

struct t_closing {
    lt_lock_t *hold;  /* held until the threads may finish starting up */
    struct t_latch inside;
    struct t_latch left;
};

static void t_starting_thread(void *arg)
{
    struct t_closing *c = arg;
    static int n;
    int calls_started;

    /* Half the threads say they started; the others count as started when
     * they return.  (n is only touched under c->inside.mu.) */
    CHECK_RC(lt_lock_acquire(c->inside.mu, T_LONG, 0), LT_OK);
    calls_started = n++ % 2;
    lt_lock_release(c->inside.mu);
    t_latch_count_down(&c->inside);
    if (lt_lock_acquire(c->hold, T_LONG, 0) == LT_OK)
        lt_lock_release(c->hold);
    else
        t_fail(__FILE__, __LINE__, "hold was never released");
    if (calls_started)
        lt_thread_started();
    t_latch_count_down(&c->left);
}

static void t_must_not_run(void *arg)
{
    (void)arg;
    t_fail(__FILE__, __LINE__, "a thread ran after lt_threads_close()");
}

static int t_grandchild_after_close(void *arg)
{
    (void)arg;
    /* Inherits the closed gate, but none of the parent's threads. */
    CHECK_RC(lt_thread_start(t_must_not_run, NULL, NULL), LT_ECLOSED);
    CHECK_RC(lt_threads_close(0), LT_OK);
    return 0;
}

static int t_child_close(void *arg)
{
    enum { NTHREADS = 4 };
    struct t_closing c;
    int64_t t0, elapsed;
    int i, rc;

    (void)arg;
    c.hold = t_new_held_lock();
    t_latch_init(&c.inside, NTHREADS);
    t_latch_init(&c.left, NTHREADS);
    for (i = 0; i < NTHREADS; i++)
        CHECK_RC(lt_thread_start(t_starting_thread, &c, NULL), LT_OK);
    if (!t_latch_wait(&c.inside, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the threads did not start");
        return 1;
    }
    CHECK_RC(lt_threads_close(0), LT_TIMEDOUT);
    t0 = lt_monotonic_us();
    rc = lt_threads_close(100 * T_MS);
    elapsed = lt_monotonic_us() - t0;
    CHECK_RC(rc, LT_TIMEDOUT);
    if (elapsed < 100 * T_MS || elapsed > 100 * T_MS + T_SLOP)
        t_fail(__FILE__, __LINE__, "a 100 ms close took %lld us", (long long)elapsed);
    CHECK_RC(lt_thread_start(t_must_not_run, NULL, NULL), LT_ECLOSED);
    CHECK_RC(lt_thread_start(NULL, NULL, NULL), LT_EINVAL);
    CHECK_RC(t_run_in_child(t_grandchild_after_close, NULL, 20 * T_SEC), 0);

    lt_lock_release(c.hold);
    t0 = lt_monotonic_us();
    CHECK_RC(lt_threads_close(T_LONG), LT_OK);
    CHECK(lt_monotonic_us() - t0 < T_LONG);
    CHECK_RC(lt_threads_close(0), LT_OK);
    CHECK_RC(lt_threads_close(-1), LT_OK);
    CHECK_RC(lt_thread_start(t_must_not_run, NULL, NULL), LT_ECLOSED);
    CHECK(t_latch_wait(&c.left, T_LONG));
    t_sleep_us(20 * T_MS); /* a t_must_not_run would have reported by now */
    return 0;
}

static void test_threads_close(void)
{
    CHECK_RC(t_run_in_child(t_child_close, NULL, 60 * T_SEC), 0);
}

/* A thread started just before lt_threads_close() either entered fn before
 * the close (which then waited for it) or never enters it. */
static struct {
    lt_lock_t *mu;
    int entered;
} t_race;

static void t_enter(void *arg)
{
    (void)arg;
    if (lt_lock_acquire(t_race.mu, T_LONG, 0) == LT_OK) {
        t_race.entered = 1;
        lt_lock_release(t_race.mu);
    }
}

static int t_entered(void)
{
    int entered;

    CHECK_RC(lt_lock_acquire(t_race.mu, T_LONG, 0), LT_OK);
    entered = t_race.entered;
    lt_lock_release(t_race.mu);
    return entered;
}

static int t_child_close_race(void *arg)
{
    int64_t until;
    int before;

    t_race.mu = t_new_lock();
    t_race.entered = 0;
    CHECK_RC(lt_thread_start(t_enter, NULL, NULL), LT_OK);
    /* A varying head start, so that both outcomes occur. */
    until = lt_monotonic_us() + *(int *)arg * 25;
    while (lt_monotonic_us() < until)
        ;
    CHECK_RC(lt_threads_close(T_LONG), LT_OK);
    before = t_entered();
    t_sleep_us(30 * T_MS);
    CHECK(t_entered() == before);
    return before ? 0 : 3; /* 3: stopped at the gate */
}

static void test_gate_stops_threads_not_yet_in_fn(void)
{
    int runs = 20, gated = 0, entered = 0, i, status;

    for (i = 0; i < runs; i++) {
        status = t_run_in_child(t_child_close_race, &i, 20 * T_SEC);
        if (status == 3)
            gated++;
        else if (status == 0)
            entered++;
        else
            t_fail(__FILE__, __LINE__, "child %d exited with %d", i, status);
    }
    printf("    of %d threads started just before the close, %d entered fn "
           "(waited for), %d were stopped at the gate\n", runs, entered, gated);
}

/* ---- the fork gate ----------------------------------------------------------------- */

/* Set by the gated thread just before it leaves the section, read by both
 * processes after the fork; atomic, as no lock may be held across fork(). */
static int t_section_done;

struct t_section {
    struct t_latch inside;
    struct t_latch left;
};

static void t_gated_section(void *arg)
{
    struct t_section *s = arg;

    lt_fork_gate_enter();
    t_latch_count_down(&s->inside);
    t_sleep_us(100 * T_MS); /* a fork() now must wait for the rest */
    __atomic_store_n(&t_section_done, 1, __ATOMIC_SEQ_CST);
    lt_fork_gate_leave();
    t_latch_count_down(&s->left);
}

static void t_pass_gate(void *arg)
{
    lt_fork_gate_enter();
    lt_fork_gate_leave();
    t_latch_count_down(arg);
}

static int t_child_after_gated_fork(void *arg)
{
    struct t_latch passed;

    (void)arg;
    /* fork() waited for the section, so the child has all of its work. */
    CHECK(__atomic_load_n(&t_section_done, __ATOMIC_SEQ_CST) == 1);
    /* The gate is free in the child, for this thread and for new ones. */
    lt_fork_gate_enter();
    lt_fork_gate_leave();
    t_latch_init(&passed, 1);
    CHECK_RC(lt_thread_start(t_pass_gate, &passed, NULL), LT_OK);
    CHECK(t_latch_wait(&passed, T_LONG));
    return 0;
}

static void test_fork_waits_for_gated_section(void)
{
    static struct t_section s;
    int64_t t0;

    t_latch_init(&s.inside, 1);
    t_latch_init(&s.left, 1);
    if (lt_thread_start(t_gated_section, &s, NULL) != LT_OK
        || !t_latch_wait(&s.inside, T_LONG)) {
        t_fail(__FILE__, __LINE__, "the gated thread did not start");
        return;
    }
    t0 = lt_monotonic_us();
    CHECK_RC(t_run_in_child(t_child_after_gated_fork, NULL, 20 * T_SEC), 0);
    CHECK(__atomic_load_n(&t_section_done, __ATOMIC_SEQ_CST) == 1);
    printf("    fork() and the child took %lld ms, the section up to 100\n",
           (long long)((lt_monotonic_us() - t0) / T_MS));
    CHECK(t_latch_wait(&s.left, T_LONG));
    /* And free in the parent after the fork. */
    lt_fork_gate_enter();
    lt_fork_gate_leave();
}

/* ---- errors from the system ---------------------------------------------------------- */

static void test_thread_start_failure_errno(void)
{
    int rc;

    rc = lt_stack_size_set(SIZE_MAX / 2);
    if (rc != LT_OK) {
        printf("    skipped: the stack size was refused at once\n");
        return;
    }
    errno = 0;
    rc = lt_thread_start(t_must_not_run, NULL, NULL);
    CHECK(rc == LT_EAGAIN || rc == LT_ENOMEM);
    CHECK(errno == EAGAIN || errno == ENOMEM || errno == EINVAL);
    printf("    lt_thread_start: %d, errno %d (%s)\n", rc, errno, strerror(errno));
    CHECK_RC(lt_stack_size_set(0), LT_OK);
}

static void test_pthread_stack_min(void)
{
#ifdef PTHREAD_STACK_MIN
    size_t min = (size_t)PTHREAD_STACK_MIN; /* a sysconf() call in glibc */
    int rc = lt_stack_size_set(LT_STACK_SIZE_MIN);

    printf("    PTHREAD_STACK_MIN %llu\n", (unsigned long long)min);
    if (min > LT_STACK_SIZE_MIN)
        CHECK_RC(rc, LT_EINVAL);
    else
        CHECK_RC(rc, LT_OK);
    if (min > 1)
        CHECK_RC(lt_stack_size_set(min - 1), LT_EINVAL);
    CHECK_RC(lt_stack_size_set(0), LT_OK);
#else
    printf("    skipped: no PTHREAD_STACK_MIN\n");
#endif
}

/* ---- fork and joinable threads ------------------------------------------------------ */

struct t_fork_join {
    lt_lock_t *gate;       /* held by main: the parent's thread runs on */
    lt_thread_t *running;  /* a parent's thread, running at the fork */
    lt_thread_t *ended;    /* a parent's thread, ended and unjoined */
    lt_thread_t *forker;   /* the joinable thread that forks */
    int child_status;
};

static void t_gate_thread(void *arg)
{
    struct t_fork_join *fj = arg;

    if (lt_lock_acquire(fj->gate, T_LONG, 0) == LT_OK)
        lt_lock_release(fj->gate);
}

static void t_noop_thread(void *arg)
{
    (void)arg;
}

static int t_child_parents_handles(void *arg)
{
    struct t_fork_join *fj = arg;
    int64_t t0 = lt_monotonic_us();

    /* The parent's threads do not exist here: their handles are done, and
     * no call reaches pthread_join (which would hang) or pthread_detach. */
    CHECK(lt_thread_is_done(fj->running) == 1);
    CHECK_RC(lt_thread_join(fj->running, -1, 0), LT_OK);
    CHECK_RC(lt_thread_join(fj->running, 0, 0), LT_OK);
    CHECK_RC(lt_thread_set_done(fj->running), LT_OK);
    CHECK(lt_thread_is_done(fj->ended) == 1);
    CHECK_RC(lt_thread_join(fj->ended, T_SEC, LT_WAIT_INTR), LT_OK);
    CHECK(lt_monotonic_us() - t0 < T_SLOP);
    lt_thread_free(fj->running);
    lt_thread_free(fj->ended);
    return 0;
}

static void test_fork_with_joinable_thread(void)
{
    static struct t_fork_join fj;
    int64_t t0;

    fj.gate = t_new_held_lock();
    CHECK_RC(lt_thread_start_joinable(t_gate_thread, &fj, &fj.running, NULL), LT_OK);
    CHECK_RC(lt_thread_start_joinable(t_noop_thread, NULL, &fj.ended, NULL), LT_OK);
    t0 = lt_monotonic_us();
    while (!lt_thread_is_done(fj.ended) && lt_monotonic_us() - t0 < T_LONG)
        t_sleep_us(1000);
    CHECK_RC(t_run_in_child(t_child_parents_handles, &fj, 20 * T_SEC), 0);
    /* In the parent the handles are untouched. */
    CHECK(lt_thread_is_done(fj.running) == 0);
    CHECK_RC(lt_thread_join(fj.running, 0, 0), LT_TIMEDOUT);
    lt_lock_release(fj.gate);
    CHECK_RC(lt_thread_join(fj.running, T_LONG, 0), LT_OK);
    CHECK_RC(lt_thread_join(fj.ended, T_LONG, 0), LT_OK);
    lt_thread_free(fj.running);
    lt_thread_free(fj.ended);
    lt_lock_free(fj.gate);
}

/* In a child forked by a joinable thread, that thread's own handle is still
 * its own: not done, and joining it is joining oneself. */
static int t_child_of_forker(void *arg)
{
    struct t_fork_join *fj = arg;

    CHECK(lt_thread_is_done(fj->forker) == 0);
    CHECK_RC(lt_thread_join(fj->forker, 0, 0), LT_EDEADLK);
    CHECK(lt_thread_is_done(fj->running) == 1);
    CHECK_RC(lt_thread_join(fj->running, -1, 0), LT_OK);
    lt_thread_free(fj->running);
    return 0;
}

static void t_forking_thread(void *arg)
{
    struct t_fork_join *fj = arg;

    /* fj->forker is stored before the gate opens. */
    if (lt_lock_acquire(fj->gate, T_LONG, 0) != LT_OK)
        return;
    lt_lock_release(fj->gate);
    fj->child_status = t_run_in_child(t_child_of_forker, fj, 20 * T_SEC);
}

static void test_fork_from_joinable_thread(void)
{
    static struct t_fork_join fj, blocked;
    lt_lock_t *block = t_new_held_lock();

    blocked.gate = block;
    fj.gate = t_new_held_lock();
    fj.child_status = 99;
    fj.running = NULL;
    /* A second thread that runs at the fork, blocked on a lock. */
    CHECK_RC(lt_thread_start_joinable(t_gate_thread, &blocked, &fj.running, NULL), LT_OK);
    CHECK_RC(lt_thread_start_joinable(t_forking_thread, &fj, &fj.forker, NULL), LT_OK);
    lt_lock_release(fj.gate);
    CHECK_RC(lt_thread_join(fj.forker, T_LONG, 0), LT_OK);
    CHECK_RC(fj.child_status, 0);
    lt_lock_release(block);
    CHECK_RC(lt_thread_join(fj.running, T_LONG, 0), LT_OK);
    lt_thread_free(fj.forker);
    lt_thread_free(fj.running);
    lt_lock_free(fj.gate);
    lt_lock_free(block);
}

/* ---- threads ended inside fn ------------------------------------------------------ */

/* CPython ends its daemon threads at exit with pthread_exit(), inside fn,
 * while other threads go on: the ended thread's record must not be left
 * dangling in the registry's lists (it lived on the thread's stack once),
 * its joinable handle must learn that it is done, and it must not stay
 * counted as starting up. */
static void t_exit_inside_fn(void *arg)
{
    lt_lock_t *lock = arg;

    /* A contended interruptible wait first, so that the record was parked
     * and woken on the semaphore back-end. */
    if (lt_lock_acquire(lock, T_LONG, LT_WAIT_INTR) == LT_OK)
        lt_lock_release(lock);
    pthread_exit(NULL);
}

static void test_thread_ended_inside_fn(void)
{
    enum { ROUNDS = 40, PER_ROUND = 8 };
    lt_lock_t *lock = NULL;
    lt_thread_t *h[PER_ROUND];
    uint64_t ident[PER_ROUND];
    int round, i;

    CHECK_RC(lt_lock_new(&lock), LT_OK);
    for (round = 0; round < ROUNDS; round++) {
        CHECK_RC(lt_lock_acquire(lock, 0, 0), LT_OK);
        for (i = 0; i < PER_ROUND; i++)
            CHECK_RC(lt_thread_start_joinable(t_exit_inside_fn, lock, &h[i], &ident[i]), LT_OK);
        lt_lock_release(lock);
        for (i = 0; i < PER_ROUND; i++) {
            /* Done as if fn had returned: joined, not counted. */
            CHECK_RC(lt_thread_join(h[i], T_LONG, 0), LT_OK);
            lt_thread_free(h[i]);
        }
        for (i = 0; i < PER_ROUND; i++)
            CHECK_RC(lt_thread_interrupt(ident[i]), LT_ESRCH);
        CHECK_RC(lt_threads_wait_started(T_SEC), LT_OK);
    }
    lt_lock_free(lock);
}

/* ---- driver ------------------------------------------------------------------------ */

static const struct t_test t_tests[] = {
    {"signal_interrupts_wait", test_signal_interrupts_wait},
    {"signal_does_not_end_wait", test_signal_does_not_end_wait},
    {"wait_intr_without_signal", test_wait_intr_without_signal},
    {"native_id_is_gettid", test_native_id_is_gettid},
    {"fork_with_held_lock", test_fork_with_held_lock},
    {"fork_from_thread", test_fork_from_thread},
    {"fork_with_joinable_thread", test_fork_with_joinable_thread},
    {"fork_from_joinable_thread", test_fork_from_joinable_thread},
    {"thread_start_failure_errno", test_thread_start_failure_errno},
    {"pthread_stack_min", test_pthread_stack_min},
    {"threads_close", test_threads_close},
    {"gate_stops_threads_not_yet_in_fn", test_gate_stops_threads_not_yet_in_fn},
    {"fork_waits_for_gated_section", test_fork_waits_for_gated_section},
    {"thread_ended_inside_fn", test_thread_ended_inside_fn},
};

int main(void)
{
    t_init();
    /* With a record, the main thread's interruptible waits park (on the
     * semaphore back-end): the signal tests below check that signals still
     * end them at once. */
    if (lt_set_main_thread() != LT_OK) {
        printf("lt_set_main_thread failed\n");
        return 2;
    }
    printf("back-end: %s\n", lt_backend());
    return t_run("test_posix", t_tests, (int)(sizeof t_tests / sizeof t_tests[0]));
}
