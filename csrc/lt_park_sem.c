/*
 * lt_park_sem.c -- a waiter record's wake on an unnamed POSIX semaphore
 * (Linux, FreeBSD and other POSIX systems but Apple; see LT_USE_SEM): what
 * a thread sleeps on in the parking lot (lt_lock.c).
 *
 * A post is a wake; one that finds no wait is kept in the count, and ends
 * the next wait at once (callers loop on their own condition).  A signal
 * ends sem_wait() with EINTR, so a wait with LT_WAIT_INTR returns LT_INTR
 * as soon as a signal handler has run.
 */
#ifndef _WIN32
#define _GNU_SOURCE /* sem_clockwait() */
#endif

/* Outside the #if below, so that no platform compiles an empty file. */
#include "lt_internal.h"

#if defined(LT_USE_SEM)

#include <errno.h>
#include <semaphore.h>

/* ThreadSanitizer does not intercept sem_clockwait() and would report false
 * races, so sanitizer builds take the sem_timedwait() path. */
#if defined(__SANITIZE_THREAD__)
#define LT_NO_SEM_CLOCKWAIT 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LT_NO_SEM_CLOCKWAIT 1
#endif
#endif

#if defined(__GLIBC__) && !defined(LT_NO_SEM_CLOCKWAIT)                   \
    && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
#define LT__HAVE_SEM_CLOCKWAIT 1
#endif

const char *lt_backend(void)
{
    return "semaphore";
}

int lt_lock_wait_slice_ms(void)
{
    return 0; /* a signal ends sem_*wait() with EINTR */
}

/* One wait for the count until the monotonic deadline (ns).  Returns 0 (the
 * count is ours), EINTR, ETIMEDOUT (perhaps early: the caller checks the
 * clock) or another errno value. */
static int lt__sem_wait_until(sem_t *sem, int64_t deadline_ns)
{
    struct timespec ts;
#if defined(LT__HAVE_SEM_CLOCKWAIT)
    lt__timespec_from_ns(deadline_ns, &ts);
    return sem_clockwait(sem, CLOCK_MONOTONIC, &ts) == 0 ? 0 : errno;
#else
    /* sem_timedwait() only takes a CLOCK_REALTIME deadline.  It is derived
     * afresh from the time left on the monotonic clock at every try, so a
     * change of the wall clock during a wait can end it early (the caller
     * waits again) or make it late, but never moves the real deadline. */
    int64_t left = deadline_ns - lt__now_ns();
    int64_t real_ns;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return errno;
    real_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (left < 0)
        left = 0;
    real_ns = left > INT64_MAX - real_ns ? INT64_MAX : real_ns + left;
    lt__timespec_from_ns(real_ns, &ts);
    return sem_timedwait(sem, &ts) == 0 ? 0 : errno;
#endif
}

/* ---- waiter records ------------------------------------------------------------ */

int lt__wake_init(lt__waiter_t *w)
{
    return sem_init(&w->wake, 0, 0) == 0 ? LT_OK : LT_ESYS;
}

void lt__wake_fini(lt__waiter_t *w)
{
    sem_destroy(&w->wake);
}

void lt__wake_at_fork_child(lt__waiter_t *w)
{
    /* Over the old state (not sem_destroy: it may be mid-operation by
     * threads the child does not have); cannot fail with these arguments. */
    (void)sem_init(&w->wake, 0, 0);
}

void lt__wake(lt__waiter_t *w)
{
    sem_post(&w->wake);
}

int lt__wake_wait(lt__waiter_t *w, const lt__deadline_t *d, int intr)
{
    int err;

    for (;;) {
        if (d->forever)
            err = sem_wait(&w->wake) == 0 ? 0 : errno;
        else
            err = lt__sem_wait_until(&w->wake, d->ns);
        if (err == 0)
            return LT_OK;
        if (err == EINTR) {
            if (intr)
                return LT_INTR;
            continue; /* same deadline: a signal does not extend the wait */
        }
        if (err == ETIMEDOUT) {
            if (lt__now_ns() >= d->ns)
                return LT_TIMEDOUT;
            continue; /* early (see lt__timespec_from_ns) */
        }
        errno = err;
        return LT_ESYS;
    }
}

#endif /* LT_USE_SEM */
