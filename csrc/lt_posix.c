/*
 * lt_posix.c -- lowthread on POSIX, except the lock back-ends: the clock,
 * threads (detached and joinable), the start-up gate, thread ids and names,
 * and the stack size.
 */
#ifndef _WIN32
/* Before any system header: -std=c99 hides POSIX and the platforms' own
 * extensions (syscall, pthread_threadid_np, _lwp_self) unless asked for. */
#define _GNU_SOURCE
#define _DARWIN_C_SOURCE
#define _NETBSD_SOURCE
#endif

/* Outside the #if below, so that no platform compiles an empty file. */
#include "lt_internal.h"

#ifndef _WIN32

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/syscall.h>
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
#include <pthread_np.h>
#elif defined(__NetBSD__)
#include <lwp.h>
#endif

/* POSIX says <limits.h> defines it, but not every system does. */
#ifdef PTHREAD_STACK_MIN
#define LT__PTHREAD_STACK_MIN ((size_t)PTHREAD_STACK_MIN)
#else
#define LT__PTHREAD_STACK_MIN ((size_t)LT_STACK_SIZE_MIN)
#endif

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

/* ---- registry: the start-up gate and the settings --------------------------- */

/* Guarded by lt__reg_mutex. */
static pthread_mutex_t lt__reg_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lt__reg_cond; /* broadcast when lt__starting drops to 0 */
static pthread_cond_t lt__join_cond; /* broadcast when an OS join ends */
static int lt__closed;              /* lt_threads_close() was called */
static size_t lt__starting;         /* threads in fn before lt_thread_started() */
static size_t lt__stack_size;       /* lt_stack_size_set(); 0: the default */
static unsigned long lt__fork_gen;  /* forks this process descends from */

static pthread_once_t lt__once = PTHREAD_ONCE_INIT;

/* Held by a thread in an lt_fork_gate_enter() section, and by a forking
 * thread from the prepare handler to the parent's or child's handler. */
static pthread_mutex_t lt__gate_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Per thread. */
static __thread int lt__counted;         /* counted in lt__starting */
static __thread uint64_t lt__native_id;  /* cache; 0: not looked up yet */
static __thread lt_thread_t *lt__self;   /* own handle while in fn, if joinable */

/* What the handle of a joinable thread still owes the system. */
enum {
    LT__OS_OWNED,   /* to be joined or detached */
    LT__OS_JOINING, /* pthread_join() is running, outside the mutex */
    LT__OS_RELEASED /* joined or detached: nothing left to do */
};

struct lt_thread_s {
    pthread_t thread;
    lt_lock_t *done; /* held until the done event is set */
    /* Guarded by lt__reg_mutex. */
    unsigned long gen; /* lt__fork_gen when made; older: a parent's thread */
    int finished;      /* the done event is set */
    int os;            /* LT__OS_* */
    int refs;          /* the caller's, and the thread's until it ends */
};

static void lt__at_fork_prepare(void)
{
    /* Forks only while no other thread is half-way through an update, so
     * that the child inherits consistent settings, nor inside a gated
     * section.  The gate first, the order of a section that starts a
     * thread; nothing waits for the gate while holding the registry. */
    pthread_mutex_lock(&lt__gate_mutex);
    pthread_mutex_lock(&lt__reg_mutex);
}

static void lt__at_fork_parent(void)
{
    pthread_mutex_unlock(&lt__reg_mutex);
    pthread_mutex_unlock(&lt__gate_mutex);
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

static void lt__at_fork_child(void)
{
    /* Only the forking thread lives on in the child.  The parent's other
     * threads may have been counted, so that lt_threads_close() would wait
     * for threads that do not exist here, or been waiting on the condvar,
     * whose state still counts them.  Start afresh, but keep the settings
     * and the closed flag (a child inherits it, see lt_threads_close); the
     * mutexes are ours since the prepare handler. */
    if (lt__cond_init(&lt__reg_cond) != 0 || lt__cond_init(&lt__join_cond) != 0)
        abort();
    /* Every handle made before now belongs to a thread the child does not
     * have: the new generation marks them (see lt_thread_t in lowthread.h)
     * without a list of them to walk. */
    lt__fork_gen++;
    if (lt__self != NULL)
        lt__fork_keep_self(lt__self);
    lt__starting = 0;
    lt__counted = 0;
    lt__native_id = 0;
    pthread_mutex_unlock(&lt__reg_mutex);
    pthread_mutex_unlock(&lt__gate_mutex);
}

static void lt__init_once(void)
{
    /* Fails only when out of memory at the library's first use; without
     * the condvar or the fork handlers the gate and the ids cannot work. */
    if (lt__cond_init(&lt__reg_cond) != 0 || lt__cond_init(&lt__join_cond) != 0
        || pthread_atfork(lt__at_fork_prepare, lt__at_fork_parent,
                          lt__at_fork_child) != 0)
        abort();
}

static void lt__reg_lock(void)
{
    pthread_once(&lt__once, lt__init_once);
    pthread_mutex_lock(&lt__reg_mutex);
}

static void lt__reg_unlock(void)
{
    pthread_mutex_unlock(&lt__reg_mutex);
}

void lt_fork_gate_enter(void)
{
    /* The fork handlers must be in place before the first section. */
    pthread_once(&lt__once, lt__init_once);
    pthread_mutex_lock(&lt__gate_mutex);
}

void lt_fork_gate_leave(void)
{
    pthread_mutex_unlock(&lt__gate_mutex);
}

/* ---- threads ------------------------------------------------------------- */

struct lt__boot {
    lt_thread_fn fn;
    void *arg;
    lt_thread_t *handle; /* NULL for a detached thread */
};

/* musl and the BSDs make pthread_t a pointer, glibc an unsigned long. */
static uint64_t lt__ident(pthread_t thread)
{
    return (uint64_t)(uintptr_t)thread;
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

    lt__self = NULL;
    lt__reg_lock();
    h->finished = 1;
    lt__reg_unlock();
    /* Wakes the joiners; LT_ENOTLOCKED after lt_thread_set_done(), which
     * released it already. */
    lt_lock_release(h->done);
    lt__reg_lock();
    last = --h->refs == 0;
    lt__reg_unlock();
    if (last)
        lt__handle_destroy(h);
}

static void *lt__thread_main(void *p)
{
    struct lt__boot boot = *(struct lt__boot *)p;
    int admitted;

    free(p);
    lt__reg_lock();
    admitted = !lt__closed;
    if (admitted) {
        lt__starting++;
        lt__counted = 1;
    }
    lt__reg_unlock();
    if (admitted) {
        lt__self = boot.handle;
        boot.fn(boot.arg);
        lt_thread_started();
    }
    if (boot.handle != NULL)
        lt__thread_finish(boot.handle);
    return NULL;
}

/* Starts a thread, detached or joinable; returns 0 or an errno value. */
static int lt__create(pthread_t *thread, size_t stack_size, struct lt__boot *boot,
                      int detached)
{
    pthread_attr_t attr;
    int err;

    err = pthread_attr_init(&attr);
    if (err != 0)
        return err;
    if (stack_size != 0)
        err = pthread_attr_setstacksize(&attr, stack_size);
    if (err == 0 && detached)
        err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (err == 0)
        err = pthread_create(thread, &attr, lt__thread_main, boot);
    pthread_attr_destroy(&attr);
    return err;
}

/* What lt_thread_start() and lt_thread_start_joinable() share: the gate,
 * the stack size and the thread itself.  handle is NULL for a detached
 * thread; on failure the caller still owns it. */
static int lt__start(lt_thread_fn fn, void *arg, lt_thread_t *handle,
                     pthread_t *thread)
{
    struct lt__boot *boot;
    size_t stack_size;
    int closed, err;

    lt__reg_lock();
    closed = lt__closed;
    stack_size = lt__stack_size;
    if (handle != NULL)
        handle->gen = lt__fork_gen;
    lt__reg_unlock();
    if (closed)
        return LT_ECLOSED;
    if (stack_size == 0)
        stack_size = lt_stack_size_default();

    /* On the heap, because the new thread may first run after we return. */
    boot = malloc(sizeof *boot);
    if (boot == NULL)
        return LT_ENOMEM;
    boot->fn = fn;
    boot->arg = arg;
    boot->handle = handle;
    err = lt__create(thread, stack_size, boot, handle == NULL);
    if (err != 0) {
        /* Whatever the system's reason (EAGAIN, or ENOMEM for a stack it
         * cannot map), it refused the thread: LT_ENOMEM is kept for this
         * library's own allocations. */
        free(boot);
        errno = err;
        return LT_EAGAIN;
    }
    return LT_OK;
}

int lt_thread_start(lt_thread_fn fn, void *arg, uint64_t *ident_out)
{
    pthread_t thread;
    int rc;

    if (fn == NULL)
        return LT_EINVAL;
    rc = lt__start(fn, arg, NULL, &thread);
    if (rc == LT_OK && ident_out != NULL)
        *ident_out = lt__ident(thread);
    return rc;
}

int lt_thread_start_joinable(lt_thread_fn fn, void *arg, lt_thread_t **thread_out,
                             uint64_t *ident_out)
{
    lt_thread_t *h;
    int rc, err;

    if (fn == NULL || thread_out == NULL)
        return LT_EINVAL;
    h = malloc(sizeof *h);
    if (h == NULL)
        return LT_ENOMEM;
    rc = lt_lock_new(&h->done);
    if (rc == LT_OK && lt_lock_acquire(h->done, 0, 0) != LT_OK) {
        /* A new lock is free: only a broken system gets here. */
        lt_lock_free(h->done);
        rc = LT_ESYS;
    }
    if (rc != LT_OK) {
        err = errno;
        free(h);
        errno = err;
        return rc;
    }
    h->finished = 0;
    h->os = LT__OS_OWNED;
    h->refs = 2;
    /* The thread reads nothing of the handle but its own fields, so it may
     * run before h->thread is stored. */
    rc = lt__start(fn, arg, h, &h->thread);
    if (rc != LT_OK) {
        err = errno;
        lt__handle_destroy(h);
        errno = err;
        return rc;
    }
    if (ident_out != NULL)
        *ident_out = lt__ident(h->thread);
    *thread_out = h;
    return LT_OK;
}

/* Under lt__reg_mutex: whether h belongs to a thread of the parent process,
 * which this child does not have. */
static int lt__is_parents(const lt_thread_t *h)
{
    return h->gen != lt__fork_gen;
}

int lt_thread_join(lt_thread_t *h, int64_t timeout_us, int flags)
{
    int finished, join_now = 0, rc, err;

    if (h == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    lt__reg_lock();
    if (lt__is_parents(h)) {
        lt__reg_unlock();
        return LT_OK;
    }
    finished = h->finished;
    rc = !finished && lt__self == h ? LT_EDEADLK : LT_OK;
    lt__reg_unlock();
    if (rc != LT_OK)
        return rc;

    if (!finished) {
        rc = lt_lock_acquire(h->done, timeout_us, flags);
        if (rc == LT_OK) {
            /* Released again at once: the event stays set for every other
             * joiner, present and future. */
            lt_lock_release(h->done);
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

    /* The join-once guard.  pthread_join() runs outside the mutex (it waits
     * for the thread to leave lt__thread_finish, which takes the mutex); a
     * concurrent joiner waits for it, briefly, since the thread is ending. */
    lt__reg_lock();
    while (h->os == LT__OS_JOINING)
        pthread_cond_wait(&lt__join_cond, &lt__reg_mutex);
    if (h->os == LT__OS_OWNED) {
        h->os = LT__OS_JOINING;
        join_now = 1;
    }
    h->finished = 1;
    lt__reg_unlock();
    if (!join_now)
        return LT_OK;
    err = pthread_join(h->thread, NULL);
    lt__reg_lock();
    h->os = LT__OS_RELEASED;
    pthread_cond_broadcast(&lt__join_cond);
    lt__reg_unlock();
    if (err != 0) {
        errno = err;
        return LT_ESYS;
    }
    return LT_OK;
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
        pthread_detach(h->thread);
    /* Wakes the joiners (they find the OS thread released); LT_ENOTLOCKED
     * when the event was set already. */
    lt_lock_release(h->done);
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
        pthread_detach(h->thread);
    if (last)
        lt__handle_destroy(h);
}

void lt_thread_started(void)
{
    if (!lt__counted)
        return;
    lt__counted = 0;
    lt__reg_lock();
    if (--lt__starting == 0 && lt__closed)
        pthread_cond_broadcast(&lt__reg_cond);
    lt__reg_unlock();
}

int lt_threads_close(int64_t timeout_us)
{
    int64_t deadline = timeout_us > 0 ? lt__deadline_ns(timeout_us) : 0;
    int err, rc;

    lt__reg_lock();
    lt__closed = 1;
    while (lt__starting > 0 && timeout_us != 0) {
        if (timeout_us < 0) {
            err = pthread_cond_wait(&lt__reg_cond, &lt__reg_mutex);
        } else {
            err = lt__cond_wait_until(&lt__reg_cond, &lt__reg_mutex, deadline);
            if (err == ETIMEDOUT && lt__now_ns() < deadline)
                err = 0;
        }
        if (err != 0)
            break;
    }
    rc = lt__starting > 0 ? LT_TIMEDOUT : LT_OK;
    lt__reg_unlock();
    return rc;
}

/* ---- identity ------------------------------------------------------------ */

uint64_t lt_get_ident(void)
{
    return lt__ident(pthread_self());
}

/* The kernel's id of the calling thread, or 0 where the system has none. */
static uint64_t lt__query_native_id(void)
{
#if defined(__linux__)
    return (uint64_t)syscall(SYS_gettid);
#elif defined(__APPLE__)
    uint64_t tid = 0;

    pthread_threadid_np(NULL, &tid);
    return tid;
#elif defined(__FreeBSD__)
    return (uint64_t)pthread_getthreadid_np();
#elif defined(__OpenBSD__)
    return (uint64_t)getthrid();
#elif defined(__NetBSD__)
    return (uint64_t)_lwp_self();
#else
    return 0;
#endif
}

uint64_t lt_get_native_id(void)
{
    /* Cached, because a system call costs more than the rest of a call from
     * Python; the fork handler, which forgets the cache in the child, must
     * be registered before the first value is stored. */
    if (lt__native_id == 0) {
        pthread_once(&lt__once, lt__init_once);
        lt__native_id = lt__query_native_id();
    }
    return lt__native_id;
}

int lt_have_native_id(void)
{
    return lt_get_native_id() != 0;
}

/* ---- thread names ---------------------------------------------------------- */

size_t lt_thread_name_max(void)
{
    /* The systems' limits, without the NUL (Linux: TASK_COMM_LEN 16). */
#if defined(__linux__)
    return 15;
#elif defined(__APPLE__)
    return 63;
#elif defined(__FreeBSD__)
    return 19;
#elif defined(__OpenBSD__)
    return 23;
#elif defined(__NetBSD__)
    return 31;
#else
    return 0;
#endif
}

int lt_thread_set_name(const char *name)
{
    char cut[64]; /* more than any lt_thread_name_max() here, plus the NUL */
    size_t n;
    int err;

    if (name == NULL)
        return LT_EINVAL;
    if (lt_thread_name_max() == 0)
        return LT_ENOTSUP;
    /* Cut here, on a character boundary: Linux refuses a long name with
     * ERANGE and the others cut it wherever the byte limit falls. */
    n = lt__utf8_prefix(name, lt_thread_name_max());
    memcpy(cut, name, n);
    cut[n] = '\0';
#if defined(__linux__)
    err = pthread_setname_np(pthread_self(), cut);
#elif defined(__APPLE__)
    err = pthread_setname_np(cut); /* only the calling thread, by design */
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
    pthread_set_name_np(pthread_self(), cut); /* returns nothing */
    err = 0;
#elif defined(__NetBSD__)
    err = pthread_setname_np(pthread_self(), "%s", cut);
#else
    err = ENOTSUP;
#endif
    if (err != 0) {
        errno = err;
        return err == ENOMEM ? LT_ENOMEM : LT_ESYS;
    }
    return LT_OK;
}

int lt_thread_get_name(char *buf, size_t size)
{
    char name[64] = ""; /* holds any name lt_thread_name_max() allows */
    size_t n;
    int err;

    if (buf == NULL || size == 0)
        return LT_EINVAL;
#if defined(__linux__) || defined(__APPLE__) || defined(__NetBSD__)
    err = pthread_getname_np(pthread_self(), name, sizeof name);
#elif defined(__FreeBSD__) || defined(__OpenBSD__)
    pthread_get_name_np(pthread_self(), name, sizeof name);
    err = 0;
#else
    err = ENOTSUP;
#endif
    if (err == ENOTSUP)
        return LT_ENOTSUP;
    if (err != 0) {
        errno = err;
        return LT_ESYS;
    }
    name[sizeof name - 1] = '\0';
    /* Into buf through a copy, so that a small buf is cut on a character
     * boundary, not where the system would cut it. */
    n = lt__utf8_prefix(name, size - 1);
    memcpy(buf, name, n);
    buf[n] = '\0';
    return LT_OK;
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
    pthread_attr_t attr;
    int err;

    if (size != 0) {
        if (size < LT_STACK_SIZE_MIN || size < LT__PTHREAD_STACK_MIN)
            return LT_EINVAL;
        /* Asked now, on a scratch attribute, so that a size the system
         * refuses (Apple wants whole pages) fails here rather than at every
         * later thread start. */
        err = pthread_attr_init(&attr);
        if (err != 0)
            return LT_EINVAL;
        err = pthread_attr_setstacksize(&attr, size);
        pthread_attr_destroy(&attr);
        if (err != 0)
            return LT_EINVAL;
    }
    lt__reg_lock();
    lt__stack_size = size;
    lt__reg_unlock();
    return LT_OK;
}

size_t lt_stack_size_default(void)
{
#if defined(__APPLE__)
    /* Secondary threads get 512 KiB there, too little for deep recursion. */
    return (size_t)16 << 20;
#elif defined(__linux__) && !defined(__GLIBC__)
    /* musl gives 128 KiB.  glibc follows RLIMIT_STACK (usually 8 MiB). */
    return (size_t)1 << 20;
#else
    return 0;
#endif
}

#endif /* !_WIN32 */
