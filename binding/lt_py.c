/*
 * lt_py.c -- the C side of the cffi binding (not part of the C core).
 *
 * Two things the Python layer cannot do well on its own:
 *
 *  - cffi passes one argument without building a tuple (its METH_O path),
 *    so the calls made on every lock operation take only the lock.
 *
 *  - The interpreter may run a signal handler as soon as a C call returns,
 *    before the Python code has stored the result; if the handler raises,
 *    the result of an acquire that succeeded is lost and the lock stays
 *    held.  Each acquire made through here therefore records, per thread,
 *    which lock (if any) it just took, and ltpy_lock_untake() and
 *    ltpy_rlock_untake() let the exception handler give back exactly that
 *    acquire.
 *
 *  - The contention profile (lowthread/diagnostics/_contention.py) needs, synchronously,
 *    to know that a lock call waited (or woke a waiter), so that it can take
 *    the Python stack there and then.  While it records, the C core's
 *    contention hook notes the calling thread's event here, sampled, and
 *    the call returns LTPY_NOTED instead of its status; ltpy_noted_take()
 *    gives the status and the event.  Off, the calls only test a global.
 */
#include <stdlib.h>

#include "lt_py.h"

#if defined(_MSC_VER)
#define LTPY_THREAD_LOCAL __declspec(thread)
#else
#define LTPY_THREAD_LOCAL __thread
#endif

/* The lock or recursive lock the calling thread's last acquire took, or
 * NULL if that acquire took nothing. */
static LTPY_THREAD_LOCAL const void *ltpy_taken;

/* ---- the contention events ---------------------------------------------- */

/* 0: not recording; else one in that many events is noted.  Set by the
 * Python side (with its lock held), read by any thread. */
static volatile int ltpy_every;

/* The calling thread's event: the lock the current call is about, what the
 * hook noted of it, and what a wait cut by an interrupt had waited so far
 * (the Python side calls again: one wait, noted once, at its end). */
static LTPY_THREAD_LOCAL struct {
    const void *armed;
    int event;  /* LT_CONTENTION_WAITED / _WOKE, or 0 if nothing noted */
    int status; /* of the call */
    int handed;
    uint64_t other;
    int64_t waited_us, carried_us;
    uint32_t random;
} ltpy_ev;

/* One event in ltpy_every, at random (xorshift32, per thread), so that a
 * program's own rhythm cannot line up with the sampling. */
static int ltpy_sampled(int every)
{
    uint32_t x = ltpy_ev.random;

    if (every <= 1)
        return 1;
    if (x == 0)
        x = (uint32_t)(lt_get_ident() * 2654435761u) | 1u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    ltpy_ev.random = x;
    return x % (uint32_t)every == 0;
}

static void ltpy_on_contention(const lt_contention_t *e, void *arg)
{
    int64_t us = e->waited_us;
    int every = ltpy_every;

    (void)arg;
    if (e->lock != ltpy_ev.armed || every == 0)
        return;
    if (e->event == LT_CONTENTION_WAITED) {
        if (e->status == LT_INTR) {
            ltpy_ev.carried_us += us;
            return;
        }
        us += ltpy_ev.carried_us;
        ltpy_ev.carried_us = 0;
    }
    if (!ltpy_sampled(every))
        return;
    ltpy_ev.event = e->event;
    ltpy_ev.handed = e->handed;
    ltpy_ev.other = e->other;
    ltpy_ev.waited_us = us;
}

void ltpy_record_contention(int every)
{
    ltpy_every = every > 0 ? every : 0;
    lt_contention_hook(every > 0 ? ltpy_on_contention : NULL, NULL);
}

/* Before a call that may wait or wake one, while recording: what it is about. */
static void ltpy_arm(const void *what)
{
    if (ltpy_ev.armed != what)
        ltpy_ev.carried_us = 0;
    ltpy_ev.armed = what;
    ltpy_ev.event = 0;
}

/* After it: LTPY_NOTED if the hook noted an event and the call did not fail. */
static int ltpy_noted(int rc)
{
    if (rc < 0)
        ltpy_ev.event = 0;
    if (ltpy_ev.event == 0)
        return rc;
    ltpy_ev.status = rc;
    return LTPY_NOTED;
}

int ltpy_noted_take(int64_t out[5])
{
    int event = ltpy_ev.event;

    out[0] = event;
    out[1] = ltpy_ev.status;
    out[2] = ltpy_ev.waited_us;
    out[3] = (int64_t)ltpy_ev.other;
    out[4] = ltpy_ev.handed;
    ltpy_ev.event = 0;
    return event;
}

/* ---- the calls ------------------------------------------------------------- */

static int ltpy_note(const void *what, int rc)
{
    ltpy_taken = rc == LT_OK ? what : NULL;
    return rc;
}

/* An acquire that may wait, as ltpy_note() notes it, and noted if recording. */
#define LTPY_WAIT(what, call)                                              \
    do {                                                                   \
        if (!ltpy_every)                                                   \
            return ltpy_note((what), (call));                              \
        ltpy_arm(what);                                                    \
        return ltpy_noted(ltpy_note((what), (call)));                      \
    } while (0)

int ltpy_lock_wait(lt_lock_t *lock)
{
    LTPY_WAIT(lock, lt_lock_acquire(lock, -1, LT_WAIT_INTR));
}

int ltpy_lock_try(lt_lock_t *lock)
{
    return ltpy_note(lock, lt_lock_acquire(lock, 0, 0));
}

int ltpy_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    LTPY_WAIT(lock, lt_lock_acquire(lock, timeout_us, flags));
}

/* ---- sentinel locks ----------------------------------------------------- */

/* The C locks of the live sentinel locks (_set_sentinel() in
 * lowthread/core/_threads.py: threading's _tstate_lock on CPython 3.9-3.12
 * and PyPy, which a joiner acquires and releases at once).  The waits of
 * lt_py_kept.h let a joiner take one only with the GIL held: threading
 * asserts, right after a thread's own release of it, that it is unlocked
 * (Thread._stop), and a joiner that took it in C would hold it while it
 * waits for the GIL.  A list here rather than a mark in the lock, which is
 * the C core's; as long as the threads alive, and read only by a wait that
 * found the lock held. */
static lt_lock_t ltpy_sentinels_mutex = LT_LOCK_INIT;
static const lt_lock_t **ltpy_sentinels; /* the mutex */
static size_t ltpy_sentinels_cap;        /* the mutex */
static volatile size_t ltpy_sentinels_n; /* the mutex; read without it to skip */

int ltpy_sentinel_add(const lt_lock_t *lock)
{
    const lt_lock_t **grown;
    size_t cap;
    int rc = LT_OK;

    lt_lock_acquire(&ltpy_sentinels_mutex, -1, 0);
    if (ltpy_sentinels_n == ltpy_sentinels_cap) {
        cap = ltpy_sentinels_cap ? 2 * ltpy_sentinels_cap : 16;
        grown = realloc((void *)ltpy_sentinels, cap * sizeof *grown);
        if (grown == NULL) {
            rc = LT_ENOMEM;
        } else {
            ltpy_sentinels = grown;
            ltpy_sentinels_cap = cap;
        }
    }
    if (rc == LT_OK)
        ltpy_sentinels[ltpy_sentinels_n++] = lock;
    lt_lock_release(&ltpy_sentinels_mutex);
    return rc;
}

void ltpy_sentinel_drop(const lt_lock_t *lock)
{
    size_t i;

    lt_lock_acquire(&ltpy_sentinels_mutex, -1, 0);
    for (i = 0; i < ltpy_sentinels_n; i++) {
        if (ltpy_sentinels[i] == lock) {
            ltpy_sentinels[i] = ltpy_sentinels[--ltpy_sentinels_n];
            break;
        }
    }
    lt_lock_release(&ltpy_sentinels_mutex);
}

int ltpy_is_sentinel(const lt_lock_t *lock)
{
    size_t i;
    int found = 0;

    if (ltpy_sentinels_n == 0)
        return 0;
    lt_lock_acquire(&ltpy_sentinels_mutex, -1, 0);
    for (i = 0; i < ltpy_sentinels_n && !found; i++)
        found = ltpy_sentinels[i] == lock;
    lt_lock_release(&ltpy_sentinels_mutex);
    return found;
}

void ltpy_sentinels_at_fork_child(void)
{
    /* Another thread of the parent may have held the mutex. */
    lt_lock_at_fork_reinit(&ltpy_sentinels_mutex);
}

/* A wait until the lock is free that takes nothing (so nothing to untake);
 * not noted: lowthread's own locks are not profiled. */
int ltpy_lock_wait_unlocked(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    ltpy_taken = NULL;
    return lt_lock_wait_unlocked(lock, timeout_us, flags);
}

int ltpy_rlock_wait(lt_rlock_t *rlock)
{
    LTPY_WAIT(rlock, lt_rlock_acquire(rlock, -1, LT_WAIT_INTR));
}

int ltpy_rlock_try(lt_rlock_t *rlock)
{
    return ltpy_note(rlock, lt_rlock_acquire(rlock, 0, 0));
}

int ltpy_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags)
{
    LTPY_WAIT(rlock, lt_rlock_acquire(rlock, timeout_us, flags));
}

int ltpy_rlock_acquire_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner)
{
    if (!ltpy_every)
        return lt_rlock_acquire_restore(rlock, count, owner);
    ltpy_arm(rlock);
    return ltpy_noted(lt_rlock_acquire_restore(rlock, count, owner));
}

/* The releases, noted if recording and they woke a waiter. */
int ltpy_lock_release(lt_lock_t *lock)
{
    if (!ltpy_every)
        return lt_lock_release_unhanded(lock);
    ltpy_arm(lock);
    return ltpy_noted(lt_lock_release_unhanded(lock));
}

int ltpy_rlock_release(lt_rlock_t *rlock)
{
    if (!ltpy_every)
        return lt_rlock_release(rlock);
    ltpy_arm(rlock);
    return ltpy_noted(lt_rlock_release(rlock));
}

int ltpy_rlock_release_save(lt_rlock_t *rlock, unsigned long *count, uint64_t *owner)
{
    if (!ltpy_every)
        return lt_rlock_release_save(rlock, count, owner);
    ltpy_arm(rlock);
    return ltpy_noted(lt_rlock_release_save(rlock, count, owner));
}

void ltpy_forget(void)
{
    ltpy_taken = NULL;
}

int ltpy_lock_untake(lt_lock_t *lock)
{
    if (lock == NULL || ltpy_taken != lock)
        return 0;
    ltpy_taken = NULL;
    return lt_lock_release_unhanded(lock) == LT_OK;
}

int ltpy_rlock_untake(lt_rlock_t *rlock)
{
    if (rlock == NULL || ltpy_taken != rlock)
        return 0;
    ltpy_taken = NULL;
    return lt_rlock_release(rlock) == LT_OK;
}
