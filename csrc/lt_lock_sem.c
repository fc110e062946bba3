/*
 * lt_lock_sem.c -- the lock back-end on unnamed POSIX semaphores (Linux,
 * FreeBSD and other POSIX systems but Apple; see LT_USE_SEM).
 *
 * The semaphore's count (0 or 1) is the lock.  A separate word, "locked",
 * lets release() refuse a lock that is not locked: it is set to 1 by the
 * thread whose wait took the count, and only the release that changes it
 * from 1 to 0 may post.  Nothing serialises the callers (a runtime may let
 * go of its own global lock around every call), so two threads may release
 * at once: the compare-and-swap lets exactly one of them post, so the count
 * never exceeds 1.
 *
 * An interruptible wait (LT_WAIT_INTR, by a thread with a waiter record)
 * cannot sleep in the lock's semaphore: only a post of it would wake the
 * thread for an interrupt, and that post would be a token another waiter
 * could take.  It "parks" instead: it counts itself in parked, lists its
 * record (lt__waiter_park), and sleeps in its record's own semaphore,
 * trying the lock's semaphore each time it wakes.  A release reads parked
 * and, after its post, wakes the oldest record parked on the lock, which
 * passes the wake on if it leaves after the release chose it (interrupted,
 * timed out, or with the token of an earlier release).  The lost-wakeup
 * window (a waiter counts itself after the release read parked, and tries
 * before the post) is closed by the waiter reading locked after its try:
 * parked++, the try, the load of locked, and the release's compare-and-swap
 * and load of parked are sequentially consistent, so a waiter that still
 * finds locked set is seen by the release that clears it, and one that
 * finds it clear knows a post is on its way (it yields and tries again).
 * An uncontended release pays one more plain load.
 */
#ifndef _WIN32
#define _GNU_SOURCE /* sem_clockwait() */
#endif

/* Outside the #if below, so that no platform compiles an empty file. */
#include "lt_internal.h"

#if defined(LT_USE_SEM)

#include <errno.h>
#include <sched.h>
#include <semaphore.h>
#include <stdlib.h>

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

struct lt_lock_s {
    sem_t sem;
    int locked; /* 0 or 1; only through __atomic builtins */
    int parked; /* parked interruptible waiters; __atomic only */
    uint64_t holder; /* the taker's lt_get_ident() while locked; LT__LOAD/STORE */
};

const char *lt_backend(void)
{
    return "semaphore";
}

size_t lt_lock_sizeof(void)
{
    return sizeof(struct lt_lock_s);
}

int lt_lock_wait_slice_ms(void)
{
    return 0; /* a signal ends sem_*wait() with EINTR */
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
    if (sem_init(&lock->sem, 0, 1) != 0) {
        err = errno;
        free(lock);
        errno = err;
        return LT_ESYS;
    }
    lock->locked = 0;
    lock->parked = 0;
    lock->holder = 0;
    *lockp = lock;
    return LT_OK;
}

void lt_lock_free(lt_lock_t *lock)
{
    if (lock == NULL)
        return;
    sem_destroy(&lock->sem);
    free(lock);
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

/* Waits in w's own semaphore (see the top of the file). */
static int lt__sem_acquire_parked(lt_lock_t *lock, lt__waiter_t *w,
                                  int64_t timeout_us, int64_t deadline)
{
    int err = 0, rc;

    lt__waiter_park(w, lock, timeout_us);
    __atomic_fetch_add(&lock->parked, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        /* A release that chose w before this try is served by it: the
         * exchange that reads its mark also makes its post visible. */
        (void)__atomic_exchange_n(&w->handed, 0, __ATOMIC_SEQ_CST);
        if (sem_trywait(&lock->sem) == 0) {
            /* At once: other parked waiters yield while it is clear. */
            __atomic_store_n(&lock->locked, 1, __ATOMIC_RELEASE);
            LT__STORE(uint64_t, &lock->holder, w->ident);
            rc = LT_OK;
            break;
        }
        if (errno != EAGAIN && errno != EINTR) {
            err = errno;
            rc = LT_ESYS;
            break;
        }
        if (lt__waiter_take_pending(w)) {
            rc = LT_INTR;
            break;
        }
        if (timeout_us > 0 && lt__now_ns() >= deadline) {
            rc = LT_TIMEDOUT;
            break;
        }
        if (!__atomic_load_n(&lock->locked, __ATOMIC_SEQ_CST)) {
            sched_yield(); /* released, its post not yet made (or taken) */
            continue;
        }
        if (timeout_us < 0)
            err = sem_wait(&w->wake) == 0 ? 0 : errno;
        else
            err = lt__sem_wait_until(&w->wake, deadline);
        if (err == 0 || err == ETIMEDOUT)
            continue; /* the loop checks the lock, then the clock */
        if (err == EINTR) {
            rc = LT_INTR; /* a signal: at once, as in the lock's semaphore */
            break;
        }
        rc = LT_ESYS;
        break;
    }
    __atomic_fetch_sub(&lock->parked, 1, __ATOMIC_SEQ_CST);
    lt__waiter_unpark(w);
    /* No post comes for w from here on: it drains its semaphore, and passes
     * on the wake of a release that chose it after its last try, whatever
     * that try found: the token of that release is not the one w took, if it
     * took one (at worst the wake is spurious). */
    while (sem_trywait(&w->wake) == 0)
        ;
    if (__atomic_load_n(&w->handed, __ATOMIC_SEQ_CST))
        lt__waiters_wake_one(lock);
    if (rc == LT_ESYS)
        errno = err;
    return rc;
}

int lt_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    int64_t deadline = 0;
    lt__waiter_t *w;
    int err;

    if (lock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    if (timeout_us > 0)
        deadline = lt__deadline_ns(timeout_us);
    if (timeout_us != 0 && (flags & LT_WAIT_INTR)) {
        if (sem_trywait(&lock->sem) == 0) {
            __atomic_store_n(&lock->locked, 1, __ATOMIC_RELEASE);
            LT__STORE(uint64_t, &lock->holder, lt_get_ident());
            return LT_OK;
        }
        w = lt__waiter_self();
        if (w != NULL)
            return lt__sem_acquire_parked(lock, w, timeout_us, deadline);
    }

    for (;;) {
        if (timeout_us == 0)
            err = sem_trywait(&lock->sem) == 0 ? 0 : errno;
        else if (timeout_us < 0)
            err = sem_wait(&lock->sem) == 0 ? 0 : errno;
        else
            err = lt__sem_wait_until(&lock->sem, deadline);

        if (err == 0)
            break;
        if (err == EINTR) {
            if (flags & LT_WAIT_INTR)
                return LT_INTR;
            continue; /* same deadline: a signal does not extend the wait */
        }
        if (err == EAGAIN && timeout_us == 0)
            return LT_TIMEDOUT;
        if (err == ETIMEDOUT) {
            if (lt__now_ns() >= deadline)
                return LT_TIMEDOUT;
            continue;
        }
        errno = err;
        return LT_ESYS;
    }
    __atomic_store_n(&lock->locked, 1, __ATOMIC_RELEASE);
    LT__STORE(uint64_t, &lock->holder, lt_get_ident());
    return LT_OK;
}

int lt_lock_release(lt_lock_t *lock)
{
    int expected = 1, parked;
    uint64_t holder;

    if (lock == NULL)
        return LT_EINVAL;
    /* Cleared before the lock can be taken again, so that a new holder's
     * store is not overwritten (a release racing an acquire of an unlocked
     * lock may leave a stale value: lt_lock_holder() reads it only while
     * locked); restored if the post fails. */
    holder = LT__LOAD(uint64_t, &lock->holder);
    LT__STORE(uint64_t, &lock->holder, 0);
    if (!__atomic_compare_exchange_n(&lock->locked, &expected, 0, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_ACQUIRE))
        return LT_ENOTLOCKED;
    /* Read before the post (see the top of the file), since: */
    parked = __atomic_load_n(&lock->parked, __ATOMIC_SEQ_CST);
    /* A successful sem_post() is the last touch of the lock: a waiter that
     * takes the count may free the lock at once, which sem_post() itself
     * allows for (POSIX lets a semaphore be destroyed as soon as no thread
     * is blocked on it).  A failed one posted nothing, so the lock is still
     * ours to restore.  Waking a parked record needs only the lock's
     * address. */
    if (sem_post(&lock->sem) != 0) {
        __atomic_store_n(&lock->locked, 1, __ATOMIC_RELEASE);
        LT__STORE(uint64_t, &lock->holder, holder);
        return LT_ESYS;
    }
    if (parked != 0)
        lt__waiters_wake_one(lock);
    return LT_OK;
}

int lt_lock_locked(const lt_lock_t *lock)
{
    return lock != NULL && __atomic_load_n(&lock->locked, __ATOMIC_ACQUIRE);
}

uint64_t lt_lock_holder(const lt_lock_t *lock)
{
    if (!lt_lock_locked(lock))
        return 0;
    return LT__LOAD(uint64_t, &lock->holder);
}

int lt_lock_at_fork_reinit(lt_lock_t *lock)
{
    if (lock == NULL)
        return LT_EINVAL;
    /* Not sem_destroy(): the old state may be mid-operation by threads
     * that do not exist in the child. */
    if (sem_init(&lock->sem, 0, 1) != 0)
        return LT_ESYS;
    __atomic_store_n(&lock->locked, 0, __ATOMIC_RELEASE);
    __atomic_store_n(&lock->parked, 0, __ATOMIC_RELEASE);
    LT__STORE(uint64_t, &lock->holder, 0);
    return LT_OK;
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
    /* Over the old state, as lt_lock_at_fork_reinit(); cannot fail with
     * these arguments. */
    (void)sem_init(&w->wake, 0, 0);
}

void lt__wake(lt__waiter_t *w)
{
    sem_post(&w->wake);
}

#endif /* LT_USE_SEM */
