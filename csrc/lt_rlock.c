/*
 * lt_rlock.c -- the recursive lock, the same on every platform: an lt_lock_t
 * with an owner and a count beside it.
 *
 * The inner lock is held exactly while some thread owns the recursive lock.
 * Owner and count change only in the thread that holds the inner lock, so a
 * thread that reads the owner without it can find its own ident there only
 * if it stored it itself; the relaxed atomics just keep such reads (and
 * lt_rlock_count() from any thread) free of data races.
 */
#include <limits.h>
#include <stdlib.h>

#include "lt_internal.h"

struct lt_rlock_s {
    lt_lock_t *lock;
    uint64_t owner;      /* lt_get_ident() of the owner, 0 when free */
    unsigned long count; /* the owner's depth, 0 when free */
};

size_t lt_rlock_sizeof(void)
{
    return sizeof(struct lt_rlock_s) + lt_lock_sizeof();
}

int lt_rlock_new(lt_rlock_t **rlockp)
{
    lt_rlock_t *rlock;
    int rc;

    if (rlockp == NULL)
        return LT_EINVAL;
    rlock = malloc(sizeof *rlock);
    if (rlock == NULL)
        return LT_ENOMEM;
    rc = lt_lock_new(&rlock->lock);
    if (rc != LT_OK) {
        free(rlock);
        return rc;
    }
    rlock->owner = 0;
    rlock->count = 0;
    *rlockp = rlock;
    return LT_OK;
}

void lt_rlock_free(lt_rlock_t *rlock)
{
    if (rlock == NULL)
        return;
    lt_lock_free(rlock->lock);
    free(rlock);
}

static void lt__rlock_own(lt_rlock_t *rlock, uint64_t owner, unsigned long count)
{
    LT__STORE(uint64_t, &rlock->owner, owner);
    LT__STORE(unsigned long, &rlock->count, count);
}

int lt_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags)
{
    uint64_t me;
    int rc;

    if (rlock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    me = lt_get_ident();
    if (LT__LOAD(uint64_t, &rlock->owner) == me) {
        unsigned long count = LT__LOAD(unsigned long, &rlock->count);
        if (count == ULONG_MAX)
            return LT_EOVERFLOW;
        LT__STORE(unsigned long, &rlock->count, count + 1);
        return LT_OK;
    }
    rc = lt_lock_acquire(rlock->lock, 0, 0);
    if (rc == LT_TIMEDOUT && timeout_us != 0) {
        /* Waits: lt_waits() names the recursive lock, not its inner one. */
        const void *label = lt__waiter_label(rlock);

        rc = lt_lock_acquire(rlock->lock, timeout_us, flags);
        lt__waiter_label(label);
    }
    if (rc == LT_OK)
        lt__rlock_own(rlock, me, 1);
    return rc;
}

int lt_rlock_release(lt_rlock_t *rlock)
{
    unsigned long count;

    if (rlock == NULL)
        return LT_EINVAL;
    count = LT__LOAD(unsigned long, &rlock->count);
    if (count == 0 || LT__LOAD(uint64_t, &rlock->owner) != lt_get_ident())
        return LT_ENOTOWNER;
    if (count > 1) {
        LT__STORE(unsigned long, &rlock->count, count - 1);
        return LT_OK;
    }
    lt__rlock_own(rlock, 0, 0);
    return lt_lock_release(rlock->lock);
}

int lt_rlock_release_save(lt_rlock_t *rlock, unsigned long *count, uint64_t *owner)
{
    unsigned long depth;

    if (rlock == NULL)
        return LT_EINVAL;
    depth = LT__LOAD(unsigned long, &rlock->count);
    if (depth == 0)
        return LT_ENOTLOCKED;
    if (count != NULL)
        *count = depth;
    if (owner != NULL)
        *owner = LT__LOAD(uint64_t, &rlock->owner);
    lt__rlock_own(rlock, 0, 0);
    return lt_lock_release(rlock->lock);
}

static int lt__rlock_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner,
                             int64_t timeout_us)
{
    int rc;

    if (rlock == NULL)
        return LT_EINVAL;
    rc = lt_lock_acquire(rlock->lock, timeout_us, 0);
    if (rc == LT_OK)
        lt__rlock_own(rlock, owner, count);
    return rc;
}

int lt_rlock_acquire_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner)
{
    return lt__rlock_restore(rlock, count, owner, -1);
}

int lt_rlock_try_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner)
{
    return lt__rlock_restore(rlock, count, owner, 0);
}

unsigned long lt_rlock_recursion(const lt_rlock_t *rlock)
{
    if (rlock == NULL || LT__LOAD(uint64_t, &rlock->owner) != lt_get_ident())
        return 0;
    return LT__LOAD(unsigned long, &rlock->count);
}

uint64_t lt_rlock_owner(const lt_rlock_t *rlock)
{
    return rlock == NULL ? 0 : LT__LOAD(uint64_t, &rlock->owner);
}

unsigned long lt_rlock_count(const lt_rlock_t *rlock)
{
    return rlock == NULL ? 0 : LT__LOAD(unsigned long, &rlock->count);
}

int lt_rlock_at_fork_reinit(lt_rlock_t *rlock)
{
    if (rlock == NULL)
        return LT_EINVAL;
    lt__rlock_own(rlock, 0, 0);
    return lt_lock_at_fork_reinit(rlock->lock);
}
