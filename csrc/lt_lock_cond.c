/*
 * lt_lock_cond.c -- the lock back-end on a pthread mutex, a condvar and a
 * "locked" flag (Apple, whose sem_init() fails, or -DLT_FORCE_CONDVAR; see
 * LT_USE_CONDVAR).  The mutex is held only for a few instructions, never
 * while the lock is held, so any thread may release the lock.
 *
 * An interrupt wakes an interruptible wait by broadcasting the lock's
 * condvar (lt__wake), under the mutex, after it set the record's pending
 * flag, which the waiter reads under the mutex before each wait.  Signals
 * cannot end a condvar wait, so such waits still come back every slice.
 */
#ifndef _WIN32
#define _GNU_SOURCE
#define _DARWIN_C_SOURCE /* pthread_cond_timedwait_relative_np() */
#endif

/* Outside the #if below, so that no platform compiles an empty file. */
#include "lt_internal.h"

#if defined(LT_USE_CONDVAR)

#include <errno.h>
#include <stdlib.h>

struct lt_lock_s {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int locked; /* guarded by mutex */
    uint64_t holder; /* the taker's lt_get_ident() while locked; mutex */
};

const char *lt_backend(void)
{
    return "condvar";
}

size_t lt_lock_sizeof(void)
{
    return sizeof(struct lt_lock_s);
}

int lt_lock_wait_slice_ms(void)
{
    return LT_SLICE_MS; /* pthread_cond_*wait() is not ended by a signal */
}

static int lt__status_of(int err)
{
    errno = err;
    return err == ENOMEM ? LT_ENOMEM : LT_ESYS;
}

int lt_lock_new(lt_lock_t **lockp)
{
    lt_lock_t *lock;
    int err;

    if (lockp == NULL)
        return LT_EINVAL;
    lock = malloc(sizeof *lock);
    if (lock == NULL)
        return LT_ENOMEM;
    err = pthread_mutex_init(&lock->mutex, NULL);
    if (err == 0) {
        err = lt__cond_init(&lock->cond);
        if (err != 0)
            pthread_mutex_destroy(&lock->mutex);
    }
    if (err != 0) {
        free(lock);
        return lt__status_of(err);
    }
    lock->locked = 0;
    lock->holder = 0;
    *lockp = lock;
    return LT_OK;
}

void lt_lock_free(lt_lock_t *lock)
{
    if (lock == NULL)
        return;
    pthread_cond_destroy(&lock->cond);
    pthread_mutex_destroy(&lock->mutex);
    free(lock);
}

int lt_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    int64_t deadline = 0, wake = 0;
    int err = 0, sliced = 0, interrupted = 0, rc;
    lt__waiter_t *w = NULL;

    if (lock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    if (timeout_us != 0 && (flags & LT_WAIT_INTR)) {
        /* Parked before the mutex is taken: the registry comes first. */
        w = lt__waiter_self();
        if (w != NULL)
            lt__waiter_park(w, lock, timeout_us);
    }
    if (timeout_us > 0)
        deadline = wake = lt__deadline_ns(timeout_us);
    if (timeout_us != 0 && (flags & LT_WAIT_INTR)) {
        /* Signals do not interrupt condvar waits: hand control back to the
         * caller every slice so that it can look for them itself. */
        int64_t slice_end = lt__now_ns() + (int64_t)LT_SLICE_MS * 1000000;

        if (timeout_us < 0 || slice_end < deadline) {
            wake = slice_end;
            sliced = 1;
        }
    }

    pthread_mutex_lock(&lock->mutex);
    while (lock->locked && timeout_us != 0) {
        if (w != NULL && lt__waiter_take_pending(w)) {
            interrupted = 1;
            break;
        }
        if (timeout_us < 0 && !sliced) {
            err = pthread_cond_wait(&lock->cond, &lock->mutex);
        } else {
            err = lt__cond_wait_until(&lock->cond, &lock->mutex, wake);
            if (err == ETIMEDOUT && lt__now_ns() < wake)
                err = 0; /* ended early (see lt__timespec_from_ns) */
        }
        if (err != 0)
            break;
    }
    /* Checked first: a release that raced the timeout still counts. */
    if (!lock->locked) {
        lock->locked = 1;
        lock->holder = lt_get_ident();
        rc = LT_OK;
    } else if (interrupted) {
        rc = LT_INTR;
    } else if (err != 0 && err != ETIMEDOUT) {
        rc = LT_ESYS;
    } else {
        rc = sliced ? LT_INTR : LT_TIMEDOUT;
    }
    pthread_mutex_unlock(&lock->mutex);
    if (w != NULL)
        lt__waiter_unpark(w);
    if (rc == LT_ESYS)
        errno = err;
    return rc;
}

int lt_lock_release(lt_lock_t *lock)
{
    int rc = LT_OK;

    if (lock == NULL)
        return LT_EINVAL;
    pthread_mutex_lock(&lock->mutex);
    if (lock->locked) {
        lock->locked = 0;
        lock->holder = 0;
        /* Signalled with the mutex held: a woken waiter cannot return, and
         * free the lock, before this thread is done with the condvar
         * (bpo-38106). */
        pthread_cond_signal(&lock->cond);
    } else {
        rc = LT_ENOTLOCKED;
    }
    pthread_mutex_unlock(&lock->mutex);
    return rc;
}

int lt_lock_locked(const lt_lock_t *lock)
{
    /* The mutex is not part of what const promises: the lock's state.  (An
     * unguarded atomic read would do, but valgrind's race detectors cannot
     * see atomics.) */
    lt_lock_t *mut = (lt_lock_t *)(uintptr_t)lock;
    int locked;

    if (lock == NULL)
        return 0;
    pthread_mutex_lock(&mut->mutex);
    locked = mut->locked;
    pthread_mutex_unlock(&mut->mutex);
    return locked;
}

uint64_t lt_lock_holder(const lt_lock_t *lock)
{
    lt_lock_t *mut = (lt_lock_t *)(uintptr_t)lock; /* as in lt_lock_locked */
    uint64_t holder;

    if (lock == NULL)
        return 0;
    pthread_mutex_lock(&mut->mutex);
    holder = mut->holder;
    pthread_mutex_unlock(&mut->mutex);
    return holder;
}

int lt_lock_at_fork_reinit(lt_lock_t *lock)
{
    int err;

    if (lock == NULL)
        return LT_EINVAL;
    /* Initialised over the old state, not destroyed: the mutex may be held,
     * and the condvar waited on, by threads that do not exist in the
     * child. */
    err = pthread_mutex_init(&lock->mutex, NULL);
    if (err == 0)
        err = lt__cond_init(&lock->cond);
    if (err != 0)
        return lt__status_of(err);
    lock->locked = 0;
    lock->holder = 0;
    return LT_OK;
}

/* ---- waiter records ------------------------------------------------------------ */

void lt__wake(lt__waiter_t *w)
{
    /* The registry keeps the lock alive: w is inside its acquire. */
    lt_lock_t *lock = (lt_lock_t *)(uintptr_t)w->on;

    pthread_mutex_lock(&lock->mutex);
    pthread_cond_broadcast(&lock->cond);
    pthread_mutex_unlock(&lock->mutex);
}

#endif /* LT_USE_CONDVAR */
