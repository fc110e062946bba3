/*
 * ltfault.c -- a fault injector for tests/c/test_fault_injection.py, loaded
 * into a test interpreter with LD_PRELOAD and steered from Python through
 * ctypes.
 *
 * Two interposed functions, each harmless until armed:
 *
 *   pthread_create  ltfault_pthread_create_arm(n, err) makes the next n calls
 *                   fail with err (no thread is made); n = 0 disarms.
 *
 *   malloc          ltfault_malloc_arm(lo, hi, skip, n) makes calls whose
 *                   return address lies in [lo, hi) -- the code of one
 *                   shared object, e.g. lowthread's extension -- fail: of
 *                   those calls, the first `skip` succeed, the next n return
 *                   NULL with errno ENOMEM.  Mallocs made from anywhere else
 *                   (the interpreter, libc, cffi) are never failed, so the
 *                   fault lands exactly in lowthread's C code.
 *
 * Counters tell the test what happened.  glibc only: the real allocator is
 * reached through __libc_malloc, which avoids dlsym() (which may itself
 * allocate) inside malloc.
 *
 * Build: cc -shared -fPIC -O2 -o ltfault.so ltfault.c -ldl -pthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#if !defined(__GLIBC__)
#error "ltfault.c needs glibc (__libc_malloc)"
#endif

extern void *__libc_malloc(size_t size);

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define ADD(p, v) __atomic_fetch_add((p), (v), __ATOMIC_ACQ_REL)

/* ---- pthread_create ------------------------------------------------------ */

typedef int (*ltf_create_fn)(pthread_t *, const pthread_attr_t *,
                             void *(*)(void *), void *);

static long ltf_create_fail_left; /* calls still to fail */
static int ltf_create_errno = EAGAIN;
static long ltf_create_calls;     /* every call, failed or not */
static long ltf_create_failed;    /* the calls failed on purpose */

void ltfault_pthread_create_arm(long n, int err)
{
    STORE(&ltf_create_errno, err);
    STORE(&ltf_create_fail_left, n);
}

long ltfault_pthread_create_calls(void)
{
    return LOAD(&ltf_create_calls);
}

long ltfault_pthread_create_failed(void)
{
    return LOAD(&ltf_create_failed);
}

int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                   void *(*start)(void *), void *arg)
{
    static ltf_create_fn real;
    ltf_create_fn fn = LOAD(&real);

    ADD(&ltf_create_calls, 1);
    /* Take one failure if any is left; never go below zero. */
    for (;;) {
        long left = LOAD(&ltf_create_fail_left);
        if (left <= 0)
            break;
        if (__atomic_compare_exchange_n(&ltf_create_fail_left, &left, left - 1, 0,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            ADD(&ltf_create_failed, 1);
            return LOAD(&ltf_create_errno);
        }
    }
    if (fn == NULL) {
        fn = (ltf_create_fn)(uintptr_t)dlsym(RTLD_NEXT, "pthread_create");
        if (fn == NULL)
            return ENOSYS;
        STORE(&real, fn);
    }
    return fn(thread, attr, start, arg);
}

/* ---- malloc -------------------------------------------------------------- */

static uintptr_t ltf_lo, ltf_hi; /* the watched code range; empty: disarmed */
static long ltf_skip, ltf_fail;  /* of the watched calls: let pass, then fail */
static long ltf_seen;            /* watched calls since arming */
static long ltf_failed;          /* watched calls failed since arming */

void ltfault_malloc_arm(uintptr_t lo, uintptr_t hi, long skip, long n)
{
    STORE(&ltf_hi, (uintptr_t)0); /* disarmed while the settings change */
    STORE(&ltf_seen, 0L);
    STORE(&ltf_failed, 0L);
    STORE(&ltf_skip, skip);
    STORE(&ltf_fail, n);
    STORE(&ltf_lo, lo);
    STORE(&ltf_hi, hi);
}

void ltfault_malloc_disarm(void)
{
    STORE(&ltf_hi, (uintptr_t)0);
}

long ltfault_malloc_seen(void)
{
    return LOAD(&ltf_seen);
}

long ltfault_malloc_failed(void)
{
    return LOAD(&ltf_failed);
}

void *malloc(size_t size)
{
    uintptr_t ra = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
    uintptr_t hi = LOAD(&ltf_hi);

    if (hi != 0 && ra < hi && ra >= LOAD(&ltf_lo)) {
        long k = ADD(&ltf_seen, 1);
        long skip = LOAD(&ltf_skip);
        if (k >= skip && k - skip < LOAD(&ltf_fail)) {
            ADD(&ltf_failed, 1);
            errno = ENOMEM;
            return NULL;
        }
    }
    return __libc_malloc(size);
}
