/*
 * lt_clock_posix.c -- the monotonic clock and the condvars that wait on it,
 * for every POSIX file: the lock back-ends and the threads' registry.
 */
#ifndef _WIN32
/* Before any system header: -std=c99 hides clock_gettime() and Apple's
 * pthread_cond_timedwait_relative_np() unless asked for. */
#define _GNU_SOURCE
#define _DARWIN_C_SOURCE
#endif

/* Outside the #if below, so that no platform compiles an empty file. */
#include "lt_internal.h"

#ifndef _WIN32

#include <errno.h>
#include <stdlib.h>

/* ---- clock ---------------------------------------------------------------- */

int64_t lt__now_ns(void)
{
    struct timespec ts;

    /* Only a broken system fails here, and then no timeout can be kept. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        abort();
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t lt_monotonic_us(void)
{
    return lt__now_ns() / 1000;
}

int64_t lt__deadline_ns(int64_t timeout_us)
{
    int64_t now = lt__now_ns();
    int64_t span;

    if (timeout_us > LT_TIMEOUT_MAX_US)
        timeout_us = LT_TIMEOUT_MAX_US;
    span = timeout_us * 1000;
    return span > INT64_MAX - now ? INT64_MAX : now + span;
}

void lt__timespec_from_ns(int64_t ns, struct timespec *ts)
{
    int64_t sec = ns / 1000000000;

    if (sizeof(time_t) < sizeof(int64_t) && sec > INT32_MAX)
        sec = INT32_MAX;
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)(ns % 1000000000);
}

/* ---- condvars on the monotonic clock --------------------------------------- */

int lt__cond_init(pthread_cond_t *cond)
{
#if defined(__APPLE__)
    /* Apple has no pthread_condattr_setclock(); lt__cond_wait_until() makes
     * relative waits there, which Apple measures on a monotonic clock. */
    return pthread_cond_init(cond, NULL);
#else
    pthread_condattr_t attr;
    int err;

    err = pthread_condattr_init(&attr);
    if (err != 0)
        return err;
    err = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    if (err == 0)
        err = pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
    return err;
#endif
}

int lt__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex,
                        int64_t deadline_ns)
{
    struct timespec ts;
#if defined(__APPLE__)
    const int64_t max_ns = (int64_t)INT32_MAX * 1000000000;
    int64_t left = deadline_ns - lt__now_ns();

    if (left <= 0)
        return ETIMEDOUT;
    /* Far below anything the system's own conversions could overflow; a
     * longer wait ends early and the caller waits again. */
    if (left > max_ns)
        left = max_ns;
    lt__timespec_from_ns(left, &ts);
    return pthread_cond_timedwait_relative_np(cond, mutex, &ts);
#else
    lt__timespec_from_ns(deadline_ns, &ts);
    return pthread_cond_timedwait(cond, mutex, &ts);
#endif
}

#endif /* !_WIN32 */
