/*
 * t_support.h -- the test harness shared by test_core.c and test_posix.c.
 *
 * Portable like test_core.c: nothing but lowthread.h and the C library.
 * Every function is static; one that a suite may not use is static inline,
 * so that no compiler calls it unused.
 *
 * A suite may define T_FAIL_TAIL() before including this file: it is called
 * after a failure message, before its newline (test_posix.c names the
 * process, since its checks also fail in forked children).
 *
 * Environment: LT_TEST_QUICK=1 scales the loops down (for valgrind's DRD,
 * which cannot follow 1000 threads).
 */
#ifndef T_SUPPORT_H
#define T_SUPPORT_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "lowthread.h"

#ifndef T_FAIL_TAIL
#define T_FAIL_TAIL() ((void)0)
#endif

#if defined(__GNUC__) || defined(__clang__)
#define T_PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define T_PRINTF_LIKE(fmt, args)
#endif

#define T_SEC 1000000LL
#define T_LONG (30 * T_SEC) /* bound of waits that should end at once */
#define T_SLOP (2 * T_SEC)  /* allowed lateness of timed waits (sanitizers) */

static lt_lock_t *t_report; /* guards t_failures and failure messages */
static lt_lock_t *t_never;  /* always held: timed waits on it sleep */
static int t_failures;      /* failed checks in the current test */
static int t_quick;
static int64_t t_started;   /* when t_init() was called */

static void t_fail(const char *file, int line, const char *fmt, ...) T_PRINTF_LIKE(3, 4);

static void t_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    int rc = lt_lock_acquire(t_report, T_LONG, 0);

    t_failures++;
    printf("    FAIL %s:%d: ", file, line);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    T_FAIL_TAIL();
    printf("\n");
    fflush(stdout);
    if (rc == LT_OK)
        lt_lock_release(t_report);
}

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            t_fail(__FILE__, __LINE__, "%s", #cond);                       \
    } while (0)

#define CHECK_RC(expr, want)                                               \
    do {                                                                   \
        int t_rc_ = (expr);                                                \
        if (t_rc_ != (want))                                               \
            t_fail(__FILE__, __LINE__, "%s returned %d, expected %s (%d)", \
                   #expr, t_rc_, #want, (want));                           \
    } while (0)

static inline int t_scale(int full, int quick)
{
    return t_quick ? quick : full;
}

static void t_sleep_us(int64_t us)
{
    lt_lock_acquire(t_never, us, 0);
}

static lt_lock_t *t_new_lock(void)
{
    lt_lock_t *lock = NULL;
    int rc = lt_lock_new(&lock);

    if (rc != LT_OK || lock == NULL) {
        printf("    lt_lock_new failed: %d\n", rc);
        exit(2); /* nothing can be tested without locks */
    }
    return lock;
}

static lt_lock_t *t_new_held_lock(void)
{
    lt_lock_t *lock = t_new_lock();

    if (lt_lock_acquire(lock, 0, 0) != LT_OK) {
        printf("    cannot acquire a new lock\n");
        exit(2);
    }
    return lock;
}

/* A count-down latch: wait() returns once count_down() was called n times. */
struct t_latch {
    lt_lock_t *mu;
    lt_lock_t *done; /* held until the count reaches 0 */
    int count;
};

static void t_latch_init(struct t_latch *l, int n)
{
    l->mu = t_new_lock();
    l->done = t_new_held_lock();
    l->count = n;
}

static void t_latch_count_down(struct t_latch *l)
{
    lt_lock_t *done = l->done;
    int rc = lt_lock_acquire(l->mu, T_LONG, 0), last;

    CHECK_RC(rc, LT_OK);
    last = --l->count == 0;
    if (rc == LT_OK)
        lt_lock_release(l->mu);
    /* Last: the waiter may free the latch as soon as done is released. */
    if (last)
        CHECK_RC(lt_lock_release(done), LT_OK);
}

/* Returns 1 when the count reached 0 within timeout_us. */
static int t_latch_wait(struct t_latch *l, int64_t timeout_us)
{
    return lt_lock_acquire(l->done, timeout_us, 0) == LT_OK;
}

/* Only after a successful t_latch_wait(): a latch that timed out may still
 * be used by its threads, and is leaked. */
static void t_latch_free(struct t_latch *l)
{
    lt_lock_free(l->mu);
    lt_lock_free(l->done);
}

/* ---- driver ------------------------------------------------------------------- */

struct t_test {
    const char *name;
    void (*fn)(void);
};

/* Makes the harness's locks; call first in main(). */
static void t_init(void)
{
    t_started = lt_monotonic_us();
    t_quick = getenv("LT_TEST_QUICK") != NULL;
    t_report = t_new_lock();
    t_never = t_new_held_lock();
}

/* Runs the n tests one after another and reports; returns main()'s status. */
static int t_run(const char *suite, const struct t_test *tests, int n)
{
    int passed = 0, failed = 0, i, failures;

    for (i = 0; i < n; i++) {
        int64_t t1 = lt_monotonic_us();

        printf("%s\n", tests[i].name);
        fflush(stdout);
        tests[i].fn();
        CHECK_RC(lt_lock_acquire(t_report, T_LONG, 0), LT_OK);
        failures = t_failures;
        t_failures = 0;
        lt_lock_release(t_report);
        printf("    %s (%lld ms)\n", failures ? "FAILED" : "ok",
               (long long)(lt_monotonic_us() - t1) / 1000);
        if (failures)
            failed++;
        else
            passed++;
    }
    printf("%s: %lld ms\n", suite, (long long)(lt_monotonic_us() - t_started) / 1000);
    printf("%d passed, %d failed\n", passed, failed);
    if (failed == 0) {
        lt_lock_free(t_report);
        lt_lock_free(t_never);
    }
    return failed ? 1 : 0;
}

#endif /* T_SUPPORT_H */
