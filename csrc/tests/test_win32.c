/*
 * test_win32.c -- Windows-only tests of lowthread's C core: a console
 * Ctrl-C ends the main thread's interruptible waits, and only those.
 *
 * It needs a console (GenerateConsoleCtrlEvent fails without one): the
 * Makefile runs it under script(1), whose pseudo-terminal gives wine one.
 */
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <signal.h>
#include <stdio.h>

#include "lowthread.h"
#include "t_support.h"

static volatile sig_atomic_t t_sigint; /* the C runtime's handler ran */

/* Slow on purpose, as a runtime's handler may be: the C runtime calls it in
 * the console's control thread, after the library's handler returned, and
 * the interrupted wait must not return before it is done. */
static void t_on_sigint(int sig)
{
    (void)sig;
    Sleep(30);
    t_sigint = 1;
    signal(SIGINT, t_on_sigint); /* the C runtime resets it to SIG_DFL */
}

/* A thread that waits, interruptibly, on lock for 300 ms. */
struct t_other {
    lt_lock_t *lock;
    int rc;
    int64_t waited;
};

static void t_other_fn(void *arg)
{
    struct t_other *o = arg;
    int64_t t0 = lt_monotonic_us();

    o->rc = lt_lock_acquire(o->lock, 300000, LT_WAIT_INTR);
    o->waited = lt_monotonic_us() - t0;
}

struct t_ctrl_job {
    int64_t sent_at;
    BOOL sent;
    struct t_latch done;
};

static void t_ctrl_fn(void *arg)
{
    struct t_ctrl_job *job = arg;

    t_sleep_us(100000);
    job->sent_at = lt_monotonic_us();
    job->sent = GenerateConsoleCtrlEvent(CTRL_C_EVENT, 0);
    t_latch_count_down(&job->done);
}

static void test_ctrl_c_ends_main_waits(void)
{
    static struct t_ctrl_job job;
    static struct t_other other;
    lt_lock_t *held = t_new_held_lock();
    lt_thread_t *h = NULL;
    int64_t t0, latency;
    int rc, i;

    signal(SIGINT, t_on_sigint);
    CHECK_RC(lt_set_main_thread(), LT_OK);
    /* The main thread's first interruptible wait installs the handler. */
    CHECK_RC(lt_lock_acquire(held, 1000, LT_WAIT_INTR), LT_TIMEDOUT);
    for (i = 0; i < 2; i++) {
        t_sigint = 0;
        other.lock = held;
        other.rc = 99;
        CHECK_RC(lt_thread_start_joinable(t_other_fn, &other, &h, NULL), LT_OK);
        t_latch_init(&job.done, 1);
        CHECK_RC(lt_thread_start(t_ctrl_fn, &job, NULL), LT_OK);
        t0 = lt_monotonic_us();
        rc = lt_lock_acquire(held, i == 0 ? 10 * T_SEC : -1, LT_WAIT_INTR);
        latency = lt_monotonic_us() - job.sent_at;
        if (!t_latch_wait(&job.done, T_LONG))
            break;
        t_latch_free(&job.done);
        if (!job.sent) {
            t_fail(__FILE__, __LINE__, "GenerateConsoleCtrlEvent failed (%lu): no console?",
                   (unsigned long)GetLastError());
            break;
        }
        CHECK_RC(rc, LT_INTR);
        /* The C runtime's handler, which runs after the library's, has
         * run already when the wait returns. */
        CHECK(t_sigint == 1);
        printf("    %s wait: LT_INTR %lld us after Ctrl-C (%lld us in all)\n",
               i == 0 ? "timed" : "untimed", (long long)latency,
               (long long)(lt_monotonic_us() - t0));
        if (latency > T_SLOP)
            t_fail(__FILE__, __LINE__, "LT_INTR came %lld us after Ctrl-C", (long long)latency);
        CHECK(lt_lock_locked(held) == 1);
        /* Another thread's wait is not interrupted: it times out, whole. */
        CHECK_RC(lt_thread_join(h, T_LONG, 0), LT_OK);
        lt_thread_free(h);
        CHECK_RC(other.rc, LT_TIMEDOUT);
        CHECK(other.waited >= 300000);
    }
    lt_lock_free(held);
}

static const struct t_test t_tests[] = {
    {"ctrl_c_ends_main_waits", test_ctrl_c_ends_main_waits},
};

int main(void)
{
    t_init();
    return t_run("test_win32", t_tests, (int)(sizeof t_tests / sizeof t_tests[0]));
}
