/*
 * lt_lock.c -- the lock, the same on every platform: one word of state in
 * the caller's memory, and a parking lot for the threads that wait.
 *
 * The state word holds two bits: LOCKED, and PARKED ("threads may be
 * queued for this lock").  Without PARKED an acquire is one compare-and-
 * swap (0 -> LOCKED) and a release another (LOCKED -> 0); neither makes a
 * system call or touches anything but the lock.
 *
 * A thread that must wait sets PARKED, then queues itself in a bucket of the
 * parking lot (a static table of mutex + FIFO queue, chosen by the lock's
 * address) and sleeps on its own waiter record's wake (lt_internal.h), so
 * the lock needs no system object and any number of locks share the
 * buckets.  The bucket's mutex orders everything: the waiter checks, under
 * it, that the state is still LOCKED | PARKED before it queues (a release
 * in between would otherwise be missed), and a release that finds PARKED
 * takes the first waiter for the lock off the queue and wakes it under the
 * same mutex, clearing PARKED when no other waiter for the lock is left.
A waiter of lt_lock_wait_unlocked() queues the same way but only waits
for the lock to be free: a release wakes it, and it does not count as the
one waiter that release wakes to take the lock.
 *
 * Fairness, as CPython 3.13's PyMutex does it: the woken waiter usually
 * competes with newcomers for the lock (barging keeps a busy lock moving),
 * but once it has waited LT_HANDOFF_US the release hands the lock to it
 * directly (LOCKED stays set, the holder becomes the waiter), so no waiter
 * starves.
 *
 * Lifetimes: the queue node lives on the waiter's stack, and the waiter
 * leaves only after it has seen, under the bucket's mutex, either that no
 * release took its node or that one did, which wakes it under that mutex,
 * so no release touches a node or a record after its waiter has gone.  A
 * release touches the lock only before it wakes the waiter: a waiter that
 * then takes the lock may free it at once.  A wake that the waiter no
 * longer needed (it left on a timeout or an interrupt after the release
 * chose it) stays in its record and ends its next wait early once; every
 * wait loops on its own condition, so that is harmless.
 */
#include <stdlib.h>

#include "lt_internal.h"

/* Valgrind's DRD knows pthread objects, not atomics.  Built for it
 * (-DLT_VALGRIND, `make drd`), the lock tells it where an acquire and a
 * release order memory, so that what the lock guards is not reported; the
 * lock's own atomic words are suppressed by name (Makefile). */
#if defined(LT_VALGRIND)
#include <valgrind/drd.h>
#define LT__ACQUIRED(lock) ANNOTATE_HAPPENS_AFTER(lock)
#define LT__RELEASING(lock) ANNOTATE_HAPPENS_BEFORE(lock)
#else
#define LT__ACQUIRED(lock) ((void)0)
#define LT__RELEASING(lock) ((void)0)
#endif

#define LT__LOCKED 1u
#define LT__PARKED 2u

/* lt__park's "the state changed before the thread could queue; look again". */
#define LT__AGAIN 100

/* A waiting thread's place in its bucket's queue, on its own stack. */
typedef struct lt__qnode_s lt__qnode_t;
struct lt__qnode_s {
    const lt_lock_t *lock;
    lt__waiter_t *w;
    uint64_t ident;
    int64_t since_us; /* when its acquire first queued, for the handoff */
    int64_t queued_us; /* when it queued this time, for the contention hook */
    lt__qnode_t *next;
    int takes;  /* 0: it waits for the lock to be free, not to take it */
    int woken;  /* a release took it off the queue; bucket mutex */
    int handed; /* ... and gave it the lock; bucket mutex */
};

typedef struct {
    lt__mutex_t mutex;
    lt__qnode_t *head, *tail;
} lt__bucket_t;

/* pthread_mutex_t has a static initialiser, but not one that can be
 * repeated over an array in C99: the buckets are made at first use. */
static lt__bucket_t lt__buckets[LT_PARK_BUCKETS];
static lt__mutex_t lt__buckets_mutex = LT__MUTEX_INIT;
static int lt__buckets_ready; /* __atomic only */

size_t lt__park_bucket_of(const void *addr)
{
    /* Locks are at least 8-byte aligned: the low bits say nothing. */
    return (size_t)(((uintptr_t)addr >> 3) % LT_PARK_BUCKETS);
}

static void lt__buckets_make(void)
{
    size_t i;

    for (i = 0; i < LT_PARK_BUCKETS; i++) {
        lt__mutex_init(&lt__buckets[i].mutex);
        lt__buckets[i].head = lt__buckets[i].tail = NULL;
    }
}

static lt__bucket_t *lt__bucket(const lt_lock_t *lock)
{
    if (!__atomic_load_n(&lt__buckets_ready, __ATOMIC_ACQUIRE)) {
        lt__mutex_lock(&lt__buckets_mutex);
        if (!__atomic_load_n(&lt__buckets_ready, __ATOMIC_RELAXED)) {
            lt__buckets_make();
            LT__RELEASING(&lt__buckets_ready);
            __atomic_store_n(&lt__buckets_ready, 1, __ATOMIC_RELEASE);
        }
        lt__mutex_unlock(&lt__buckets_mutex);
    }
    LT__ACQUIRED(&lt__buckets_ready);
    return &lt__buckets[lt__park_bucket_of(lock)];
}

void lt__park_at_fork_child(void)
{
    /* The parent's other threads may have held a bucket's mutex or been
     * queued; the child has none of them. */
    if (__atomic_load_n(&lt__buckets_ready, __ATOMIC_ACQUIRE))
        lt__buckets_make();
    lt__mutex_init(&lt__buckets_mutex);
}

/* ---- making and ending ------------------------------------------------- */

int lt_lock_init(lt_lock_t *lock)
{
    if (lock == NULL)
        return LT_EINVAL;
    lock->lt__state = 0;
    lock->lt__spare = 0;
    lock->lt__holder = 0;
    return LT_OK;
}

void lt_lock_fini(lt_lock_t *lock)
{
    (void)lock; /* holds no system object */
}

int lt_lock_new(lt_lock_t **lockp)
{
    lt_lock_t *lock;

    if (lockp == NULL)
        return LT_EINVAL;
    lock = malloc(sizeof *lock);
    if (lock == NULL)
        return LT_ENOMEM;
    (void)lt_lock_init(lock);
    *lockp = lock;
    return LT_OK;
}

void lt_lock_free(lt_lock_t *lock)
{
    if (lock == NULL)
        return;
    lt_lock_fini(lock);
    free(lock);
}

size_t lt_lock_sizeof(void)
{
    return sizeof(lt_lock_t);
}

int lt_lock_at_fork_reinit(lt_lock_t *lock)
{
    if (lock == NULL)
        return LT_EINVAL;
    /* Its waiters, if any, were the parent's other threads: the child's
     * parking lot no longer queues them (lt__park_at_fork_child). */
    __atomic_store_n(&lock->lt__state, 0, __ATOMIC_RELAXED);
    LT__STORE(uint64_t, &lock->lt__holder, 0);
    return LT_OK;
}

/* ---- waiting ------------------------------------------------------------ */

/* One try to take a lock that may be free, whatever PARKED says. */
static int lt__try_take(lt_lock_t *lock)
{
    uint32_t v = __atomic_load_n(&lock->lt__state, __ATOMIC_RELAXED);

    while (!(v & LT__LOCKED))
        if (__atomic_compare_exchange_n(&lock->lt__state, &v, v | LT__LOCKED, 1,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            LT__ACQUIRED(lock);
            return 1;
        }
    return 0;
}

/* Queues the calling thread (record w) on lock, as waiting since since_us
 * (its first queueing in this acquire: a waiter woken to compete, which
 * lost and queues again, keeps its place in time for the handoff), and
 * sleeps until a release
 * takes it off the queue, the deadline passes, or (intr) a signal or an
 * interrupt ends the wait.  Returns LT_OK (a release handed it the lock, or
 * a wake found the lock free and it took it), LT__AGAIN (woken: try again;
 * or the state changed before it could queue), LT_TIMEDOUT, LT_INTR or
 * LT_ESYS. */
static int lt__park(lt_lock_t *lock, lt__waiter_t *w, int listed, int64_t since_us,
                    const lt__deadline_t *deadline, int intr, int takes)
{
    lt__bucket_t *b = lt__bucket(lock);
    lt__qnode_t node, *p, *prev;
    int rc = LT_OK, interrupted = 0;
    unsigned long err = 0;

    lt__mutex_lock(&b->mutex);
    if (__atomic_load_n(&lock->lt__state, __ATOMIC_RELAXED) != (LT__LOCKED | LT__PARKED)) {
        lt__mutex_unlock(&b->mutex);
        return LT__AGAIN;
    }
    node.lock = lock;
    node.w = w;
    node.ident = lt_get_ident();
    node.since_us = since_us;
    node.queued_us = lt_monotonic_us();
    node.next = NULL;
    node.takes = takes;
    node.woken = node.handed = 0;
    if (b->tail != NULL)
        b->tail->next = &node;
    else
        b->head = &node;
    b->tail = &node;
    lt__mutex_unlock(&b->mutex);

    for (;;) {
        if (listed && lt__waiter_take_pending(w)) {
            interrupted = 1;
            rc = LT_INTR;
        } else {
            rc = lt__wake_wait(w, deadline, intr);
            if (rc == LT_ESYS)
                err = lt__os_error_get();
        }
        lt__mutex_lock(&b->mutex);
        if (node.woken || rc != LT_OK)
            break;
        lt__mutex_unlock(&b->mutex); /* a kept or spurious wake */
    }
    if (node.woken) {
        lt__mutex_unlock(&b->mutex);
        if (!takes) {
            /* Released: look at the lock again (an interrupt that came with
             * the wake is kept for later). */
            if (interrupted)
                lt__waiter_repend(w);
            return LT__AGAIN;
        }
        if (node.handed || (rc != LT_OK && lt__try_take(lock))) {
            /* It has the lock: a timeout, an interrupt or an error that came
             * with it is not reported (the interrupt is kept for later). */
            if (interrupted)
                lt__waiter_repend(w);
            LT__ACQUIRED(lock);
            if (!node.handed)
                LT__STORE(uint64_t, &lock->lt__holder, node.ident);
            return LT_OK;
        }
        /* Not handed, and leaving without a try (rc != LT_OK found the lock
         * held): that holder's release wakes the next waiter. */
        if (rc == LT_OK)
            return LT__AGAIN;
    } else {
        /* Still queued: leave the queue, and the lock's PARKED bit with the
         * last waiter. */
        for (prev = NULL, p = b->head; p != &node; prev = p, p = p->next)
            ;
        if (prev != NULL)
            prev->next = node.next;
        else
            b->head = node.next;
        if (b->tail == &node)
            b->tail = prev;
        for (p = b->head; p != NULL && p->lock != lock; p = p->next)
            ;
        if (p == NULL)
            __atomic_fetch_and(&lock->lt__state, ~LT__PARKED, __ATOMIC_RELAXED);
        lt__mutex_unlock(&b->mutex);
    }
    if (interrupted)
        lt__wake_interrupted(w);
    if (rc == LT_ESYS)
        lt__os_error_set(err);
    return rc;
}

/* ---- the contention hook (lowthread.h) ---------------------------------- */

static lt_contention_fn lt__hook_fn; /* __atomic only */
static void *lt__hook_arg;           /* __atomic only */

void lt_contention_hook(lt_contention_fn fn, void *arg)
{
    __atomic_store_n(&lt__hook_arg, arg, __ATOMIC_RELAXED);
    __atomic_store_n(&lt__hook_fn, fn, __ATOMIC_RELEASE);
}

/* Tells the hook, if one is set, about a wait or a release that woke a
 * waiter (event, in lowthread.h's words); as is the lock the caller named
 * (the recursive lock, for one's inner lock). */
static void lt__tell_hook(int kind, const void *as, int status, uint64_t other,
                          int handed, int64_t since_us)
{
    lt_contention_fn fn = __atomic_load_n(&lt__hook_fn, __ATOMIC_ACQUIRE);
    lt_contention_t event;

    if (fn == NULL)
        return;
    event.event = kind;
    event.status = status;
    event.handed = handed;
    event.lock = as;
    event.thread = lt_get_ident();
    event.other = other;
    event.waited_us = lt_monotonic_us() - since_us;
    fn(&event, __atomic_load_n(&lt__hook_arg, __ATOMIC_RELAXED));
}

/* The acquire that found the lock held (or PARKED): see the top of the file.
 * as: what a wait is reported to the contention hook as, NULL for none;
 * takes 0: only wait until the lock is seen unlocked (lt_lock_wait_unlocked). */
static int lt__acquire_slow(lt_lock_t *lock, int64_t timeout_us, int flags, const void *as,
                            int takes)
{
    lt__deadline_t deadline;
    lt__waiter_t *w = NULL;
    int listed = 0, rc;
    int64_t since_us = 0;
    uint32_t v;

    /* Set at the call's start, so the wait lasts at least timeout_us from
     * any clock reading the caller took before it. */
    if (timeout_us != 0)
        lt__deadline_set(&deadline, timeout_us);
    for (;;) {
        v = __atomic_load_n(&lock->lt__state, __ATOMIC_RELAXED);
        if (!takes && !(__atomic_load_n(&lock->lt__state, __ATOMIC_ACQUIRE) & LT__LOCKED)) {
            LT__ACQUIRED(lock); /* what its last holder did before the release */
            rc = LT_OK;
            break;
        }
        if (!(v & LT__LOCKED)) {
            if (__atomic_compare_exchange_n(&lock->lt__state, &v, v | LT__LOCKED, 1,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
                LT__ACQUIRED(lock);
                LT__STORE(uint64_t, &lock->lt__holder, lt_get_ident());
                rc = LT_OK;
                break;
            }
            continue;
        }
        if (timeout_us == 0) {
            rc = LT_TIMEDOUT;
            break;
        }
        if (w == NULL) {
            w = lt__waiter_self();
            if (w != NULL && (flags & LT_WAIT_INTR)) {
                listed = 1;
                lt__waiter_park(w, lock, timeout_us);
            } else if (w == NULL && (w = lt__waiter_foreign()) == NULL) {
                rc = LT_ENOMEM;
                break;
            }
            continue; /* the state may have changed meanwhile */
        }
        if (!(v & LT__PARKED)
            && !__atomic_compare_exchange_n(&lock->lt__state, &v, v | LT__PARKED, 1,
                                            __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        if (since_us == 0)
            since_us = lt_monotonic_us();
        rc = lt__park(lock, w, listed, since_us, &deadline, flags & LT_WAIT_INTR, takes);
        if (rc != LT__AGAIN)
            break;
    }
    if (listed) {
        unsigned long err = lt__os_error_get();

        lt__waiter_unpark(w);
        lt__os_error_set(err);
    }
    if (since_us != 0 && as != NULL) {
        unsigned long err = lt__os_error_get();

        lt__tell_hook(LT_CONTENTION_WAITED, as, rc, 0, 0, since_us);
        lt__os_error_set(err);
    }
    return rc;
}

int lt__lock_acquire_as(lt_lock_t *lock, int64_t timeout_us, int flags, const void *as)
{
    uint32_t v = 0;

    if (lock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    if (__atomic_compare_exchange_n(&lock->lt__state, &v, LT__LOCKED, 0,
                                    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        LT__ACQUIRED(lock);
        LT__STORE(uint64_t, &lock->lt__holder, lt_get_ident());
        return LT_OK;
    }
    return lt__acquire_slow(lock, timeout_us, flags, as, 1);
}

int lt_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    return lt__lock_acquire_as(lock, timeout_us, flags, lock);
}

int lt_lock_wait_unlocked(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    if (lock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    if (!(__atomic_load_n(&lock->lt__state, __ATOMIC_ACQUIRE) & LT__LOCKED))
        return LT_OK;
    return lt__acquire_slow(lock, timeout_us, flags, NULL, 0);
}

/* ---- releasing ------------------------------------------------------------ */

/* A release that found PARKED: wakes the first waiter for the lock that
 * takes it, or (handoff) hands the lock to it once it has waited
 * LT_HANDOFF_US, and every waiter queued before it that only waits for the
 * lock to be free; tells the hook about the taker as as (NULL: not). */
static int lt__release_slow(lt_lock_t *lock, int handoff, const void *as)
{
    lt__bucket_t *b = lt__bucket(lock);
    lt__qnode_t *node, *prev, *next = NULL, *p, *woken_nodes = NULL, **woken_end = &woken_nodes;
    uint32_t next_state = 0;
    uint64_t woken = 0;
    int64_t woken_since = 0;
    int handed = 0;

    lt__mutex_lock(&b->mutex);
    if (!(__atomic_load_n(&lock->lt__state, __ATOMIC_RELAXED) & LT__LOCKED)) {
        /* Another thread's release came first. */
        lt__mutex_unlock(&b->mutex);
        return LT_ENOTLOCKED;
    }
    /* Off the queue: the lock's waiters in order, up to and including its
     * first taker (those before it only wait for the lock to be free: each
     * must be woken, or a taker behind them would sleep on a free lock). */
    for (prev = NULL, node = b->head; node != NULL; node = next) {
        next = node->next;
        if (node->lock != lock) {
            prev = node;
            continue;
        }
        if (prev != NULL)
            prev->next = next;
        else
            b->head = next;
        if (b->tail == node)
            b->tail = prev;
        node->woken = 1;
        node->next = NULL;
        *woken_end = node;
        woken_end = &node->next;
        if (!node->takes)
            continue;
        if (handoff && lt_monotonic_us() - node->since_us >= LT_HANDOFF_US) {
            node->handed = handed = 1;
            next_state |= LT__LOCKED;
            LT__STORE(uint64_t, &lock->lt__holder, node->ident);
        }
        woken = node->ident;
        woken_since = node->queued_us;
        break;
    }
    for (p = node != NULL ? next : NULL; p != NULL && p->lock != lock; p = p->next)
        ;
    if (p != NULL)
        next_state |= LT__PARKED;
    /* While LOCKED is set no other thread changes the state but to set
     * PARKED, which is set, or to queue, which needs this mutex.  The lock
     * is not touched after this store: a woken waiter may free it once the
     * mutex is let go. */
    __atomic_store_n(&lock->lt__state, next_state, __ATOMIC_RELEASE);
    /* The nodes are their waiters': not to be read once the mutex is let go. */
    for (node = woken_nodes; node != NULL; node = next) {
        next = node->next;
        lt__wake(node->w);
    }
    lt__mutex_unlock(&b->mutex);
    if (woken != 0 && as != NULL)
        lt__tell_hook(LT_CONTENTION_WOKE, as, LT_OK, woken, handed, woken_since);
    return LT_OK;
}

int lt__lock_release_as(lt_lock_t *lock, int handoff, const void *as)
{
    uint32_t v = LT__LOCKED;

    if (lock == NULL)
        return LT_EINVAL;
    LT__RELEASING(lock);
    /* Cleared before the lock can be taken again, so that a new holder's
     * store is not overwritten (a release racing an acquire may leave a
     * stale value: lt_lock_holder() reads it only while locked). */
    LT__STORE(uint64_t, &lock->lt__holder, 0);
    if (__atomic_compare_exchange_n(&lock->lt__state, &v, 0, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED))
        return LT_OK;
    if (!(v & LT__LOCKED))
        return LT_ENOTLOCKED;
    return lt__release_slow(lock, handoff, as);
}

int lt_lock_release(lt_lock_t *lock)
{
    return lt__lock_release_as(lock, 1, lock);
}

int lt_lock_release_unhanded(lt_lock_t *lock)
{
    return lt__lock_release_as(lock, 0, lock);
}

int lt_lock_locked(const lt_lock_t *lock)
{
    return lock != NULL && (__atomic_load_n(&lock->lt__state, __ATOMIC_ACQUIRE) & LT__LOCKED);
}

uint64_t lt_lock_holder(const lt_lock_t *lock)
{
    if (!lt_lock_locked(lock))
        return 0;
    return LT__LOAD(uint64_t, &lock->lt__holder);
}
