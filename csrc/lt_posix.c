/*
 * lt_posix.c -- lowthread on POSIX, except the lock back-ends and the
 * clock: the layer under lt_thread.c (the registry, the fork handlers,
 * thread creation, the thread-local slot), the fork gate, thread ids and
 * names, and the stack size limits.
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

/* ---- the registry and the fork handlers ------------------------------------ */

static pthread_mutex_t lt__reg_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lt__reg_cond[2]; /* LT__REG_STARTUP, LT__REG_JOINED */

static pthread_once_t lt__once = PTHREAD_ONCE_INIT;

/* Held by a thread in an lt_fork_gate_enter() section, and by a forking
 * thread from the prepare handler to the parent's or child's handler. */
static pthread_mutex_t lt__gate_mutex = PTHREAD_MUTEX_INITIALIZER;

/* Per thread. */
static __thread uint64_t lt__native_id; /* cache; 0: not looked up yet */
/* lt__os_tls_get(): a thread-specific key rather than a __thread variable
 * for its destructor, which ends a thread ended inside fn. */
static pthread_key_t lt__local_key;
/* lt__os_foreign_get(): the record of a thread the library did not start. */
static pthread_key_t lt__foreign_key;

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

static void lt__at_fork_child(void)
{
    /* The parent's other threads may have been waiting on the condvars,
     * whose state still counts them: they are made afresh, and the
     * registry forgets those threads; the mutexes are ours since the
     * prepare handler. */
    if (lt__cond_init(&lt__reg_cond[LT__REG_STARTUP]) != 0
        || lt__cond_init(&lt__reg_cond[LT__REG_JOINED]) != 0)
        abort();
    lt__threads_at_fork_child();
    lt__native_id = 0;
    pthread_mutex_unlock(&lt__reg_mutex);
    pthread_mutex_unlock(&lt__gate_mutex);
}

static void lt__init_once(void)
{
    /* Fails only when out of memory at the library's first use; without
     * the condvars, the key or the fork handlers the gate, the ids and
     * the threads' records cannot work. */
    if (lt__cond_init(&lt__reg_cond[LT__REG_STARTUP]) != 0
        || lt__cond_init(&lt__reg_cond[LT__REG_JOINED]) != 0
        || pthread_key_create(&lt__local_key, lt__thread_ended_in_fn) != 0
        || pthread_key_create(&lt__foreign_key, lt__waiter_foreign_end) != 0
        || pthread_atfork(lt__at_fork_prepare, lt__at_fork_parent,
                          lt__at_fork_child) != 0)
        abort();
}

void lt__reg_lock(void)
{
    pthread_once(&lt__once, lt__init_once);
    pthread_mutex_lock(&lt__reg_mutex);
}

void lt__reg_unlock(void)
{
    pthread_mutex_unlock(&lt__reg_mutex);
}

void lt__deadline_set(lt__deadline_t *d, int64_t timeout_us)
{
    d->forever = timeout_us < 0;
    d->ns = d->forever ? 0 : lt__deadline_ns(timeout_us);
}

int lt__reg_wait(int which, const lt__deadline_t *d)
{
    int err;

    if (d->forever) {
        err = pthread_cond_wait(&lt__reg_cond[which], &lt__reg_mutex);
    } else {
        if (lt__now_ns() >= d->ns)
            return LT_TIMEDOUT;
        err = lt__cond_wait_until(&lt__reg_cond[which], &lt__reg_mutex, d->ns);
    }
    if (err == 0 || err == ETIMEDOUT)
        return LT_OK;
    errno = err;
    return LT_ESYS;
}

void lt__reg_wake_all(int which)
{
    pthread_cond_broadcast(&lt__reg_cond[which]);
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

/* ---- threads: the layer under lt_thread.c ----------------------------------- */

/* musl and the BSDs make pthread_t a pointer, glibc an unsigned long. */
static uint64_t lt__ident(pthread_t thread)
{
    return (uint64_t)(uintptr_t)thread;
}

static void *lt__posix_main(void *boot)
{
    lt__thread_main(boot);
    return NULL;
}

int lt__os_threads_prepare(void)
{
    return LT_OK;
}

int lt__os_thread_create(lt__os_thread_t *thread, uint64_t *ident,
                         size_t stack_size, int detached, void *boot)
{
    pthread_attr_t attr;
    int err;

    err = pthread_attr_init(&attr);
    if (err == 0) {
        if (stack_size != 0)
            err = pthread_attr_setstacksize(&attr, stack_size);
        if (err == 0 && detached)
            err = pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (err == 0) {
            /* Inside the fork gate: glibc's pthread_create() frees the
             * thread-local blocks that a reused stack's last thread had
             * (dlopen()ed libraries' TLS, such as an interpreter's
             * extensions have) before it marks them gone, so that a fork()
             * in between leaves the child a stack whose blocks it frees
             * again ("double free" in a child's pthread_create(), about 1
             * in 5000 forks amid thread starts before this). */
            pthread_once(&lt__once, lt__init_once);
            pthread_mutex_lock(&lt__gate_mutex);
            err = pthread_create(thread, &attr, lt__posix_main, boot);
            pthread_mutex_unlock(&lt__gate_mutex);
        }
        pthread_attr_destroy(&attr);
    }
    if (err != 0) {
        errno = err;
        return LT_EAGAIN;
    }
    *ident = lt__ident(*thread);
    return LT_OK;
}

int lt__os_thread_join(lt__os_thread_t thread)
{
    int err = pthread_join(thread, NULL);

    if (err != 0) {
        errno = err;
        return LT_ESYS;
    }
    return LT_OK;
}

void lt__os_thread_detach(lt__os_thread_t thread)
{
    pthread_detach(thread);
}

void *lt__os_tls_get(void)
{
    /* The key is made at the library's first use, which may be this. */
    pthread_once(&lt__once, lt__init_once);
    return pthread_getspecific(lt__local_key);
}

void lt__os_tls_set(void *value)
{
    /* Set first in lt__thread_main(), after the key was made.  It can fail
     * only for want of memory (glibc needs none for its first 32 keys);
     * fn then runs in a thread the library does not recognise as its own. */
    (void)pthread_setspecific(lt__local_key, value);
}

void *lt__os_foreign_get(void)
{
    pthread_once(&lt__once, lt__init_once);
    return pthread_getspecific(lt__foreign_key);
}

int lt__os_foreign_set(void *record)
{
    return pthread_setspecific(lt__foreign_key, record) == 0 ? LT_OK : LT_ENOMEM;
}

/* ---- the parking lot's mutexes -------------------------------------------- */

void lt__mutex_init(lt__mutex_t *m)
{
    /* Fails only for want of memory where a mutex is allocated (FreeBSD);
     * the parking lot cannot work without its mutexes. */
    if (pthread_mutex_init(m, NULL) != 0)
        abort();
}

void lt__mutex_lock(lt__mutex_t *m)
{
    pthread_mutex_lock(m);
}

void lt__mutex_unlock(lt__mutex_t *m)
{
    pthread_mutex_unlock(m);
}

unsigned long lt__os_error_get(void)
{
    return (unsigned long)errno;
}

void lt__os_error_set(unsigned long code)
{
    errno = (int)code;
}

void lt__os_error_nomem(void)
{
    errno = ENOMEM;
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
    /* Cached, because a system call costs more than the rest of a call
     * from an interpreter; the fork handler, which forgets the cache in the
     * child, must be registered before the first value is stored. */
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

int lt__os_stack_size_ok(size_t size)
{
    pthread_attr_t attr;
    int err;

    if (size < LT__PTHREAD_STACK_MIN)
        return 0;
    /* Asked now, on a scratch attribute, so that a size the system refuses
     * (Apple wants whole pages) fails when it is set rather than at every
     * later thread start. */
    err = pthread_attr_init(&attr);
    if (err != 0)
        return 0;
    err = pthread_attr_setstacksize(&attr, size);
    pthread_attr_destroy(&attr);
    return err == 0;
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
