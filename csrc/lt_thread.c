/*
 * lt_thread.c -- threads, the same on every platform: starting them, the
 * start-up gate, the done event of a joinable thread, join-once, the
 * handle's references and fork generations, the stack size setting, and
 * the waiter records that interrupts reach, over the small layer that
 * lt_posix.c and lt_win32.c provide (see lt_internal.h).
 */
#include <stdlib.h>

#include "lt_internal.h"

/* Guarded by the registry (lt__reg_lock). */
static int lt__closed;             /* lt_threads_close() was called */
static size_t lt__entering;        /* created, not yet through the gate */
static size_t lt__starting;        /* in fn, before lt_thread_started() */
static size_t lt__waiters;         /* in a wait for the two counts above */
static size_t lt__stack_size;      /* lt_stack_size_set(); 0: the default */
static unsigned long lt__fork_gen; /* forks this process descends from */
static lt__waiter_t *lt__records;  /* every waiter record */
static lt__waiter_t *lt__parked_head, *lt__parked_tail;

/* The main thread's record: lt_set_main_thread() gives it an ident (and
 * lt__main_set, read without the registry, says so). */
static lt__waiter_t lt__main;
static int lt__main_set; /* __atomic only */

/* What the handle of a joinable thread still owes the system. */
enum {
    LT__OS_OWNED,   /* to be joined or detached */
    LT__OS_JOINING, /* a joiner waits for it, outside the registry */
    LT__OS_RELEASED /* joined or detached: nothing left to do */
};

struct lt_thread_s {
    lt__os_thread_t thread;
    lt_lock_t *done; /* held until the done event is set */
    /* Guarded by the registry. */
    unsigned long gen; /* lt__fork_gen when made; older: a parent's thread */
    int finished;      /* the done event is set */
    int os;            /* LT__OS_* */
    int refs;          /* the caller's, and the thread's until it ends */
};

/* What a thread the library started knows of itself: on the heap (made by
 * the starter, which hands fn and arg over in it), since a thread may be
 * ended without returning from fn (pthread_exit(), which CPython calls in
 * its daemon threads at exit) and its record must stay valid while it is
 * listed.  The platform's thread-local slot points to it while fn runs. */
struct lt__local {
    lt_thread_fn fn;
    void *arg;
    lt_thread_t *handle; /* NULL for a detached thread */
    int counted;         /* counted in lt__starting; only this thread writes it */
    int has_waiter;      /* waiter is made and listed */
    lt__waiter_t waiter;
};

/* Under the registry: wakes the threads waiting for the start-ups. */
static void lt__startup_dropped(void)
{
    if (lt__waiters > 0)
        lt__reg_wake_all(LT__REG_STARTUP);
}

static void lt__handle_destroy(lt_thread_t *h)
{
    lt_lock_free(h->done);
    free(h);
}

/* The end of a joinable thread: sets the done event, then gives up the
 * thread's reference to the handle, which the caller may have freed. */
static void lt__thread_finish(lt_thread_t *h)
{
    int last;

    lt__reg_lock();
    h->finished = 1;
    lt__reg_unlock();
    /* Wakes the joiners; LT_ENOTLOCKED after lt_thread_set_done(), which
     * released it already. */
    lt__lock_release_as(h->done, 1, NULL);
    lt__reg_lock();
    last = --h->refs == 0;
    lt__reg_unlock();
    if (last)
        lt__handle_destroy(h);
}

/* Under the registry: the thread is no longer counted as starting up. */
static void lt__uncount(struct lt__local *local)
{
    if (local->counted) {
        local->counted = 0;
        lt__starting--;
        lt__startup_dropped();
    }
}

/* After fn, whether it returned or the thread is being ended inside it
 * (lt__thread_ended_in_fn): the thread's record leaves the list, and a
 * joinable thread's handle learns that it is done. */
static void lt__thread_end(struct lt__local *local)
{
    lt_thread_t *handle = local->handle;

    lt__reg_lock();
    lt__uncount(local);
    if (local->has_waiter) {
        lt__waiter_t **pp;

        for (pp = &lt__records; *pp != &local->waiter; pp = &(*pp)->next)
            ;
        *pp = local->waiter.next;
    }
    lt__reg_unlock();
    if (local->has_waiter)
        lt__wake_fini(&local->waiter);
    free(local);
    if (handle != NULL)
        lt__thread_finish(handle);
}

void lt__thread_ended_in_fn(void *local)
{
    lt__thread_end(local);
}

void lt__thread_main(void *p)
{
    struct lt__local *local = p;
    int admitted;

    local->counted = 0;
    local->has_waiter = 0;
    /* The gate: once closed, fn is never entered and arg is abandoned. */
    lt__reg_lock();
    admitted = !lt__closed;
    lt__entering--;
    if (admitted) {
        lt__starting++;
        local->counted = 1;
    } else {
        lt__startup_dropped();
    }
    lt__reg_unlock();
    if (admitted) {
        /* Without a record (the system refused its wake) the thread's
         * waits only miss lt_thread_interrupt(). */
        if (lt__wake_init(&local->waiter) == LT_OK) {
            local->waiter.ident = lt_get_ident();
            local->waiter.pending = 0;
            local->waiter.on = NULL;
            local->waiter.label = NULL;
            lt__reg_lock();
            local->waiter.next = lt__records;
            lt__records = &local->waiter;
            local->has_waiter = 1;
            lt__reg_unlock();
        }
        lt__os_tls_set(local);
        local->fn(local->arg);
        lt__os_tls_set(NULL);
    }
    lt__thread_end(local);
}

/* What lt_thread_start() and lt_thread_start_joinable() share: the gate,
 * the stack size and the thread itself.  handle is NULL for a detached
 * thread; on failure the caller still owns it. */
static int lt__start(lt_thread_fn fn, void *arg, lt_thread_t *handle,
                     lt__os_thread_t *thread, uint64_t *ident)
{
    struct lt__local *boot = NULL;
    size_t stack_size;
    unsigned long err;
    int closed, rc;

    lt__reg_lock();
    closed = lt__closed;
    stack_size = lt__stack_size;
    if (!closed) {
        lt__entering++;
        if (handle != NULL)
            handle->gen = lt__fork_gen;
    }
    lt__reg_unlock();
    if (closed)
        return LT_ECLOSED;
    /* A close that happens from here on is caught by the gate in
     * lt__thread_main: the thread starts but never enters fn. */
    if (stack_size == 0)
        stack_size = lt_stack_size_default();

    rc = lt__os_threads_prepare();
    if (rc == LT_OK) {
        /* The new thread's own block, which it frees when it ends. */
        boot = malloc(sizeof *boot);
        if (boot == NULL) {
            lt__os_error_nomem();
            rc = LT_ENOMEM;
        }
    }
    if (rc == LT_OK) {
        boot->fn = fn;
        boot->arg = arg;
        boot->handle = handle;
        /* Whatever the system's reason (too many threads, a stack it cannot
         * map), a refusal is LT_EAGAIN: LT_ENOMEM is kept for this
         * library's own allocations. */
        rc = lt__os_thread_create(thread, ident, stack_size, handle == NULL, boot);
    }
    if (rc != LT_OK) {
        err = lt__os_error_get();
        free(boot);
        lt__reg_lock();
        lt__entering--;
        lt__startup_dropped();
        lt__reg_unlock();
        lt__os_error_set(err);
    }
    return rc;
}

int lt_thread_start(lt_thread_fn fn, void *arg, uint64_t *ident_out)
{
    lt__os_thread_t thread;
    uint64_t ident = 0;
    int rc;

    if (fn == NULL)
        return LT_EINVAL;
    rc = lt__start(fn, arg, NULL, &thread, &ident);
    if (rc == LT_OK && ident_out != NULL)
        *ident_out = ident;
    return rc;
}

int lt_thread_start_joinable(lt_thread_fn fn, void *arg, lt_thread_t **thread_out,
                             uint64_t *ident_out)
{
    lt_thread_t *h;
    uint64_t ident = 0;
    unsigned long err;
    int rc;

    if (fn == NULL || thread_out == NULL)
        return LT_EINVAL;
    h = malloc(sizeof *h);
    if (h == NULL) {
        lt__os_error_nomem();
        return LT_ENOMEM;
    }
    h->done = NULL; /* left so by a failed lt_lock_new() */
    rc = lt_lock_new(&h->done);
    /* A new lock is free: only a broken system fails to take it. */
    if (rc == LT_OK && lt_lock_acquire(h->done, 0, 0) != LT_OK)
        rc = LT_ESYS;
    if (rc == LT_OK) {
        h->finished = 0;
        h->os = LT__OS_OWNED;
        h->refs = 2;
        /* The thread reads nothing of the handle but its own fields, so it
         * may run before h->thread is stored. */
        rc = lt__start(fn, arg, h, &h->thread, &ident);
    }
    if (rc != LT_OK) {
        err = lt__os_error_get();
        lt__handle_destroy(h);
        lt__os_error_set(err);
        return rc;
    }
    if (ident_out != NULL)
        *ident_out = ident;
    *thread_out = h;
    return LT_OK;
}

/* Under the registry: whether h belongs to a thread of the parent process,
 * which this child does not have. */
static int lt__is_parents(const lt_thread_t *h)
{
    return h->gen != lt__fork_gen;
}

/* Under the registry: whether the calling thread is h's thread, in fn. */
static int lt__is_self(const lt_thread_t *h)
{
    const struct lt__local *local = lt__os_tls_get();

    return local != NULL && local->handle == h;
}

int lt_thread_join(lt_thread_t *h, int64_t timeout_us, int flags)
{
    lt__deadline_t forever;
    int finished, join_now = 0, rc;
    unsigned long err;

    if (h == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    lt__reg_lock();
    if (lt__is_parents(h)) {
        lt__reg_unlock();
        return LT_OK;
    }
    finished = h->finished;
    rc = !finished && lt__is_self(h) ? LT_EDEADLK : LT_OK;
    lt__reg_unlock();
    if (rc != LT_OK)
        return rc;

    if (!finished) {
        const void *label = lt__waiter_label(h);

        /* A join, not a lock's contention: the hook is not told. */
        rc = lt__lock_acquire_as(h->done, timeout_us, flags, NULL);
        lt__waiter_label(label);
        if (rc == LT_OK) {
            /* Released again at once: the event stays set for every other
             * joiner, present and future. */
            lt__lock_release_as(h->done, 1, NULL);
        } else if (rc == LT_TIMEDOUT) {
            /* Another joiner may have held the lock for that instant. */
            lt__reg_lock();
            finished = h->finished;
            lt__reg_unlock();
            if (!finished)
                return rc;
        } else {
            return rc;
        }
    }

    /* The join-once guard.  The OS join runs outside the registry (it waits
     * for the thread to leave lt__thread_finish, which takes it); a
     * concurrent joiner waits for it, briefly, since the thread is ending. */
    lt__deadline_set(&forever, -1);
    lt__reg_lock();
    while (h->os == LT__OS_JOINING)
        lt__reg_wait(LT__REG_JOINED, &forever);
    if (h->os == LT__OS_OWNED) {
        h->os = LT__OS_JOINING;
        join_now = 1;
    }
    h->finished = 1;
    lt__reg_unlock();
    if (!join_now)
        return LT_OK;
    rc = lt__os_thread_join(h->thread);
    err = lt__os_error_get();
    lt__reg_lock();
    /* A failed join (only an invalid thread fails) leaves the thread owned,
     * for lt_thread_free to detach. */
    h->os = rc == LT_OK ? LT__OS_RELEASED : LT__OS_OWNED;
    lt__reg_wake_all(LT__REG_JOINED);
    lt__reg_unlock();
    lt__os_error_set(err);
    return rc;
}

int lt_thread_is_done(const lt_thread_t *h)
{
    int done;

    if (h == NULL)
        return 0;
    lt__reg_lock();
    done = h->finished || lt__is_parents(h);
    lt__reg_unlock();
    return done;
}

int lt_thread_set_done(lt_thread_t *h)
{
    int detach = 0, parents;

    if (h == NULL)
        return LT_EINVAL;
    lt__reg_lock();
    parents = lt__is_parents(h);
    if (!parents) {
        h->finished = 1;
        if (h->os == LT__OS_OWNED) {
            h->os = LT__OS_RELEASED;
            detach = 1;
        }
    }
    lt__reg_unlock();
    if (parents)
        return LT_OK;
    if (detach)
        lt__os_thread_detach(h->thread);
    /* Wakes the joiners (they find the OS thread released); LT_ENOTLOCKED
     * when the event was set already. */
    lt__lock_release_as(h->done, 1, NULL);
    return LT_OK;
}

void lt_thread_free(lt_thread_t *h)
{
    int detach = 0, last, parents;

    if (h == NULL)
        return;
    lt__reg_lock();
    parents = lt__is_parents(h);
    if (!parents && h->os == LT__OS_OWNED) {
        h->os = LT__OS_RELEASED;
        detach = 1;
    }
    last = --h->refs == 0;
    lt__reg_unlock();
    if (parents) {
        /* The caller's is the only reference left in this child: the
         * thread's belongs to a thread that is not here.  The done lock may
         * have been in use by the parent's threads, so it is made afresh
         * before it is destroyed (a glibc condvar with waiters that do not
         * exist would block pthread_cond_destroy). */
        lt_lock_at_fork_reinit(h->done);
        lt__handle_destroy(h);
        return;
    }
    if (detach)
        lt__os_thread_detach(h->thread);
    if (last)
        lt__handle_destroy(h);
}

/* ---- the start-up gate ----------------------------------------------------- */

void lt_thread_started(void)
{
    struct lt__local *local = lt__os_tls_get();

    /* Only the thread itself writes its flag (the fork handler too runs in
     * it), so it is read without the registry. */
    if (local == NULL || !local->counted)
        return;
    lt__reg_lock();
    lt__uncount(local);
    lt__reg_unlock();
}

/* Under the registry: waits at most timeout_us until no thread but the
 * caller is in fn before lt_thread_started() nor, if entering, on its way
 * to the gate.  The caller is left out, since it would wait for itself. */
static int lt__wait_startups(int entering, int64_t timeout_us)
{
    const struct lt__local *local = lt__os_tls_get();
    size_t self = local != NULL && local->counted ? 1 : 0;
    lt__deadline_t deadline;
    int rc = LT_OK;

    lt__deadline_set(&deadline, timeout_us);
    while (lt__starting + (entering ? lt__entering : 0) > self) {
        if (timeout_us == 0)
            break;
        lt__waiters++;
        rc = lt__reg_wait(LT__REG_STARTUP, &deadline);
        lt__waiters--;
        /* LT_ESYS cannot happen with valid objects; the answer that is safe
         * for the caller is "some thread is still starting up". */
        if (rc != LT_OK)
            break;
    }
    return lt__starting + (entering ? lt__entering : 0) > self ? LT_TIMEDOUT : LT_OK;
}

int lt_threads_wait_started(int64_t timeout_us)
{
    int rc;

    lt__reg_lock();
    rc = lt__wait_startups(1, timeout_us);
    lt__reg_unlock();
    return rc;
}

int lt_threads_close(int64_t timeout_us)
{
    int rc;

    lt__reg_lock();
    lt__closed = 1;
    rc = lt__wait_startups(0, timeout_us);
    lt__reg_unlock();
    return rc;
}

/* Makes the handle of the forking thread, a joinable thread that lives on
 * in the child, usable there: its done lock may have been in use by the
 * parent's joiners, and it must not count as a parent's handle. */
static void lt__fork_keep_self(lt_thread_t *self)
{
    self->gen = lt__fork_gen;
    if (self->finished)
        return;
    /* The lock was held (not finished) and must stay so; a failure would
     * leave joiners in the child nothing to wait on. */
    if (lt_lock_at_fork_reinit(self->done) != LT_OK
        || lt_lock_acquire(self->done, 0, 0) != LT_OK)
        abort();
}

/* In the forked child: w belongs to the forking thread, which waits on
 * nothing; listed again. */
static void lt__waiter_fork_reset(lt__waiter_t *w)
{
    lt__wake_at_fork_child(w);
    __atomic_store_n(&w->pending, 0, __ATOMIC_RELAXED);
    w->on = NULL;
    w->next = lt__records;
    lt__records = w;
}

void lt__threads_at_fork_child(void)
{
    struct lt__local *local = lt__os_tls_get();
    lt__waiter_t *foreign;

    /* Only the forking thread lives on in the child.  Every handle made
     * before now belongs to a thread the child does not have: the new
     * generation marks them (see lt_thread_t in lowthread.h) without a list
     * of them to walk.  The parent's other threads may have been counted,
     * or have been waiting, so that a wait here would be for threads that
     * do not exist: the counts start afresh, but the settings and the
     * closed flag are kept (a child inherits it, see lt_threads_close). */
    lt__fork_gen++;
    lt__entering = 0;
    lt__starting = 0;
    lt__waiters = 0;
    if (local != NULL) {
        local->counted = 0;
        if (local->handle != NULL)
            lt__fork_keep_self(local->handle);
    }
    /* The records left are the forking thread's own; and it is the main
     * thread now, the only thread there is (if a main thread was set). */
    lt__records = NULL;
    lt__parked_head = lt__parked_tail = NULL;
    if (__atomic_load_n(&lt__main_set, __ATOMIC_ACQUIRE)) {
        lt__waiter_fork_reset(&lt__main);
        LT__STORE(uint64_t, &lt__main.ident, lt_get_ident());
    }
    if (local != NULL && local->has_waiter)
        lt__waiter_fork_reset(&local->waiter);
    foreign = lt__os_foreign_get();
    if (foreign != NULL)
        lt__wake_at_fork_child(foreign);
    lt__park_at_fork_child();
}

/* ---- stack size ------------------------------------------------------------ */

size_t lt_stack_size_get(void)
{
    size_t size;

    lt__reg_lock();
    size = lt__stack_size;
    lt__reg_unlock();
    return size;
}

int lt_stack_size_set(size_t size)
{
    if (size != 0 && (size < LT_STACK_SIZE_MIN || !lt__os_stack_size_ok(size)))
        return LT_EINVAL;
    lt__reg_lock();
    lt__stack_size = size;
    lt__reg_unlock();
    return LT_OK;
}

/* ---- interrupts ---------------------------------------------------------------- */

lt__waiter_t *lt__waiter_self(void)
{
    struct lt__local *local;

    if (__atomic_load_n(&lt__main_set, __ATOMIC_ACQUIRE)
        && LT__LOAD(uint64_t, &lt__main.ident) == lt_get_ident())
        return &lt__main;
    local = lt__os_tls_get();
    return local != NULL && local->has_waiter ? &local->waiter : NULL;
}

int lt__waiter_is_main(const lt__waiter_t *w)
{
    return w == &lt__main;
}

void lt__waiter_park(lt__waiter_t *w, const lt_lock_t *lock, int64_t timeout_us)
{
    int64_t now = lt_monotonic_us();

    lt__reg_lock();
    w->on = lock;
    w->shown = w->label != NULL ? w->label : (const void *)lock;
    w->since_us = now;
    w->timeout_us = timeout_us;
    w->park_next = NULL;
    w->park_prev = lt__parked_tail;
    if (lt__parked_tail != NULL)
        lt__parked_tail->park_next = w;
    else
        lt__parked_head = w;
    lt__parked_tail = w;
    lt__reg_unlock();
}

void lt__waiter_unpark(lt__waiter_t *w)
{
    lt__reg_lock();
    if (w->park_prev != NULL)
        w->park_prev->park_next = w->park_next;
    else
        lt__parked_head = w->park_next;
    if (w->park_next != NULL)
        w->park_next->park_prev = w->park_prev;
    else
        lt__parked_tail = w->park_prev;
    w->on = NULL;
    lt__reg_unlock();
}

const void *lt__waiter_label(const void *what)
{
    lt__waiter_t *w = lt__waiter_self();
    const void *before;

    if (w == NULL)
        return NULL;
    before = w->label;
    w->label = what;
    return before;
}

size_t lt_waits(lt_wait_info_t *out, size_t max)
{
    const lt__waiter_t *w;
    size_t n = 0;

    lt__reg_lock();
    for (w = lt__parked_head; w != NULL; w = w->park_next, n++) {
        if (out != NULL && n < max) {
            out[n].ident = w->ident;
            out[n].on = w->shown;
            out[n].since_us = w->since_us;
            out[n].timeout_us = w->timeout_us;
        }
    }
    lt__reg_unlock();
    return n;
}

int lt__waiter_take_pending(lt__waiter_t *w)
{
    return __atomic_exchange_n(&w->pending, 0, __ATOMIC_ACQ_REL);
}

void lt__waiter_repend(lt__waiter_t *w)
{
    __atomic_store_n(&w->pending, 1, __ATOMIC_SEQ_CST);
}

lt__waiter_t *lt__waiter_foreign(void)
{
    lt__waiter_t *w = lt__os_foreign_get();
    unsigned long err;

    if (w != NULL)
        return w;
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        lt__os_error_nomem();
        return NULL;
    }
    if (lt__wake_init(w) != LT_OK) {
        err = lt__os_error_get();
        free(w);
        lt__os_error_set(err);
        return NULL;
    }
    w->ident = lt_get_ident();
    if (lt__os_foreign_set(w) != LT_OK) {
        lt__wake_fini(w);
        free(w);
        lt__os_error_nomem();
        return NULL;
    }
    return w;
}

void lt__waiter_foreign_end(void *record)
{
    if (record != NULL) {
        lt__wake_fini(record);
        free(record);
    }
}

int lt_set_main_thread(void)
{
    int rc = LT_OK;

    lt__reg_lock();
    if (!__atomic_load_n(&lt__main_set, __ATOMIC_RELAXED)) {
        rc = lt__wake_init(&lt__main);
        if (rc == LT_OK) {
            lt__main.next = lt__records;
            lt__records = &lt__main;
        }
    }
    if (rc == LT_OK) {
        LT__STORE(uint64_t, &lt__main.ident, lt_get_ident());
        __atomic_store_n(&lt__main_set, 1, __ATOMIC_RELEASE);
    }
    lt__reg_unlock();
    return rc;
}

uint64_t lt_main_thread(void)
{
    return __atomic_load_n(&lt__main_set, __ATOMIC_ACQUIRE)
               ? LT__LOAD(uint64_t, &lt__main.ident)
               : 0;
}

/* Under the registry. */
static void lt__interrupt(lt__waiter_t *w)
{
    /* Set before the wake: a wait checks it before it sleeps, so it either
     * sees it or is woken. */
    __atomic_store_n(&w->pending, 1, __ATOMIC_SEQ_CST);
    if (w->on != NULL)
        lt__wake(w);
}

int lt_thread_interrupt(uint64_t ident)
{
    lt__waiter_t *w;

    lt__reg_lock();
    /* The main record first: after lt_set_main_thread() in a thread the
     * library started, the thread has two, and its waits use that one. */
    w = __atomic_load_n(&lt__main_set, __ATOMIC_RELAXED) && lt__main.ident == ident
            ? &lt__main
            : NULL;
    if (w == NULL)
        for (w = lt__records; w != NULL && w->ident != ident; w = w->next)
            ;
    if (w != NULL)
        lt__interrupt(w);
    lt__reg_unlock();
    return w != NULL ? LT_OK : LT_ESRCH;
}

int lt_interrupt_main(void)
{
    int rc = LT_ESRCH;

    lt__reg_lock();
    if (__atomic_load_n(&lt__main_set, __ATOMIC_RELAXED)) {
        lt__interrupt(&lt__main);
        rc = LT_OK;
    }
    lt__reg_unlock();
    return rc;
}
