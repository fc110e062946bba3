/*
 * lt_posix.c -- lowthread on POSIX, except the lock back-ends: the clock,
 * threads, the start-up gate, thread ids and the stack size.
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
#include <unistd.h>

#if defined(__linux__)
#include <sys/syscall.h>
#elif defined(__FreeBSD__)
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
static int lt__closed;              /* lt_threads_close() was called */
static size_t lt__starting;         /* threads in fn before lt_thread_started() */
static size_t lt__stack_size;       /* lt_stack_size_set(); 0: the default */

static pthread_once_t lt__once = PTHREAD_ONCE_INIT;

/* Per thread. */
static __thread int lt__counted;         /* counted in lt__starting */
static __thread uint64_t lt__native_id;  /* cache; 0: not looked up yet */

static void lt__at_fork_prepare(void)
{
    /* Forks only while no other thread is half-way through an update, so
     * that the child inherits consistent settings. */
    pthread_mutex_lock(&lt__reg_mutex);
}

static void lt__at_fork_parent(void)
{
    pthread_mutex_unlock(&lt__reg_mutex);
}

static void lt__at_fork_child(void)
{
    /* Only the forking thread lives on in the child.  The parent's other
     * threads may have been counted, so that lt_threads_close() would wait
     * for threads that do not exist here, or been waiting on the condvar,
     * whose state still counts them.  Start afresh, but keep the settings
     * and the closed flag (a child inherits it, see lt_threads_close); the
     * mutex is ours since the prepare handler. */
    if (lt__cond_init(&lt__reg_cond) != 0)
        abort();
    lt__starting = 0;
    lt__counted = 0;
    lt__native_id = 0;
    pthread_mutex_unlock(&lt__reg_mutex);
}

static void lt__init_once(void)
{
    /* Fails only when out of memory at the library's first use; without
     * the condvar or the fork handlers the gate and the ids cannot work. */
    if (lt__cond_init(&lt__reg_cond) != 0
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

/* ---- threads ------------------------------------------------------------- */

struct lt__boot {
    lt_thread_fn fn;
    void *arg;
};

/* musl and the BSDs make pthread_t a pointer, glibc an unsigned long. */
static uint64_t lt__ident(pthread_t thread)
{
    return (uint64_t)(uintptr_t)thread;
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
        boot.fn(boot.arg);
        lt_thread_started();
    }
    return NULL;
}

/* Starts a detached thread; returns 0 or an errno value. */
static int lt__create(pthread_t *thread, size_t stack_size, struct lt__boot *boot)
{
    pthread_attr_t attr;
    int err;

    err = pthread_attr_init(&attr);
    if (err != 0)
        return err;
    if (stack_size != 0)
        err = pthread_attr_setstacksize(&attr, stack_size);
    if (err == 0)
        err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (err == 0)
        err = pthread_create(thread, &attr, lt__thread_main, boot);
    pthread_attr_destroy(&attr);
    return err;
}

int lt_thread_start(lt_thread_fn fn, void *arg, uint64_t *ident_out)
{
    struct lt__boot *boot;
    pthread_t thread;
    size_t stack_size;
    int closed, err;

    if (fn == NULL)
        return LT_EINVAL;
    lt__reg_lock();
    closed = lt__closed;
    stack_size = lt__stack_size;
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
    err = lt__create(&thread, stack_size, boot);
    if (err != 0) {
        free(boot);
        errno = err;
        return err == ENOMEM ? LT_ENOMEM : LT_EAGAIN;
    }
    if (ident_out != NULL)
        *ident_out = lt__ident(thread);
    return LT_OK;
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
