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
 */
#include "lt_py.h"

#if defined(_MSC_VER)
#define LTPY_THREAD_LOCAL __declspec(thread)
#else
#define LTPY_THREAD_LOCAL __thread
#endif

/* The lock or recursive lock the calling thread's last acquire took, or
 * NULL if that acquire took nothing. */
static LTPY_THREAD_LOCAL const void *ltpy_taken;

static int ltpy_note(const void *what, int rc)
{
    ltpy_taken = rc == LT_OK ? what : NULL;
    return rc;
}

int ltpy_lock_wait(lt_lock_t *lock)
{
    return ltpy_note(lock, lt_lock_acquire(lock, -1, LT_WAIT_INTR));
}

int ltpy_lock_try(lt_lock_t *lock)
{
    return ltpy_note(lock, lt_lock_acquire(lock, 0, 0));
}

int ltpy_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    return ltpy_note(lock, lt_lock_acquire(lock, timeout_us, flags));
}

int ltpy_rlock_wait(lt_rlock_t *rlock)
{
    return ltpy_note(rlock, lt_rlock_acquire(rlock, -1, LT_WAIT_INTR));
}

int ltpy_rlock_try(lt_rlock_t *rlock)
{
    return ltpy_note(rlock, lt_rlock_acquire(rlock, 0, 0));
}

int ltpy_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags)
{
    return ltpy_note(rlock, lt_rlock_acquire(rlock, timeout_us, flags));
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
    return lt_lock_release(lock) == LT_OK;
}

int ltpy_rlock_untake(lt_rlock_t *rlock)
{
    if (rlock == NULL || ltpy_taken != rlock)
        return 0;
    ltpy_taken = NULL;
    return lt_rlock_release(rlock) == LT_OK;
}
