/*
 * lt_park_cond.c -- a waiter record's wake on a pthread mutex, a condvar
 * and a flag (Apple, whose sem_init() fails, or -DLT_FORCE_CONDVAR; see
 * LT_USE_CONDVAR): what a thread sleeps on in the parking lot (lt_lock.c).
 *
 * A wake sets the flag, which the next wait consumes.  Signals cannot end a
 * condvar wait, so a wait with LT_WAIT_INTR returns LT_INTR after each
 * slice of LT_SLICE_MS, for the caller to look for signals itself.
 */
#ifndef _WIN32
#define _GNU_SOURCE
#endif

/* Outside the #if below, so that no platform compiles an empty file. */
#include "lt_internal.h"

#if defined(LT_USE_CONDVAR)

#include <errno.h>
#include <stdlib.h>

const char *lt_backend(void)
{
    return "condvar";
}

int lt_lock_wait_slice_ms(void)
{
    return LT_SLICE_MS; /* pthread_cond_*wait() is not ended by a signal */
}

int lt__wake_init(lt__waiter_t *w)
{
    int err = pthread_mutex_init(&w->wake.mutex, NULL);

    if (err == 0) {
        err = lt__cond_init(&w->wake.cond);
        if (err != 0)
            pthread_mutex_destroy(&w->wake.mutex);
    }
    if (err != 0) {
        errno = err;
        return err == ENOMEM ? LT_ENOMEM : LT_ESYS;
    }
    w->wake.posted = 0;
    return LT_OK;
}

void lt__wake_fini(lt__waiter_t *w)
{
    pthread_cond_destroy(&w->wake.cond);
    pthread_mutex_destroy(&w->wake.mutex);
}

void lt__wake_at_fork_child(lt__waiter_t *w)
{
    /* Over the old state, not destroyed: it may be mid-operation by threads
     * that do not exist in the child.  Fails only for want of memory, which
     * a forked child cannot recover from. */
    if (pthread_mutex_init(&w->wake.mutex, NULL) != 0 || lt__cond_init(&w->wake.cond) != 0)
        abort();
    w->wake.posted = 0;
}

void lt__wake(lt__waiter_t *w)
{
    /* Signalled with the mutex held: the woken thread cannot return, and
     * end (freeing its record), before this thread is done with the
     * condvar (bpo-38106). */
    pthread_mutex_lock(&w->wake.mutex);
    w->wake.posted = 1;
    pthread_cond_signal(&w->wake.cond);
    pthread_mutex_unlock(&w->wake.mutex);
}

int lt__wake_wait(lt__waiter_t *w, const lt__deadline_t *d, int intr)
{
    int64_t until = d->forever ? INT64_MAX : d->ns, slice_end = INT64_MAX, now;
    int err = 0, rc = LT_OK;

    if (intr) {
        slice_end = lt__now_ns() + (int64_t)LT_SLICE_MS * 1000000;
        if (slice_end < until)
            until = slice_end;
    }
    pthread_mutex_lock(&w->wake.mutex);
    while (!w->wake.posted) {
        if (until == INT64_MAX)
            err = pthread_cond_wait(&w->wake.cond, &w->wake.mutex);
        else
            err = lt__cond_wait_until(&w->wake.cond, &w->wake.mutex, until);
        if (err != 0 && err != ETIMEDOUT) {
            rc = LT_ESYS;
            break;
        }
        if (err == ETIMEDOUT && !w->wake.posted) {
            now = lt__now_ns();
            if (!d->forever && now >= d->ns) {
                rc = LT_TIMEDOUT;
                break;
            }
            if (now >= slice_end) {
                rc = LT_INTR;
                break;
            }
            /* early (see lt__timespec_from_ns): wait again */
        }
    }
    if (w->wake.posted) {
        w->wake.posted = 0;
        rc = LT_OK;
    }
    pthread_mutex_unlock(&w->wake.mutex);
    if (rc == LT_ESYS)
        errno = err;
    return rc;
}

#endif /* LT_USE_CONDVAR */
