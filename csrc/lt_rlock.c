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

size_t lt_rlock_sizeof(void)
{
    return sizeof(lt_rlock_t);
}

int lt_rlock_init(lt_rlock_t *rlock)
{
    if (rlock == NULL)
        return LT_EINVAL;
    (void)lt_lock_init(&rlock->lt__lock);
    rlock->lt__owner = 0;
    rlock->lt__count = 0;
    return LT_OK;
}

void lt_rlock_fini(lt_rlock_t *rlock)
{
    if (rlock != NULL)
        lt_lock_fini(&rlock->lt__lock);
}

int lt_rlock_new(lt_rlock_t **rlockp)
{
    lt_rlock_t *rlock;

    if (rlockp == NULL)
        return LT_EINVAL;
    rlock = malloc(sizeof *rlock);
    if (rlock == NULL)
        return LT_ENOMEM;
    (void)lt_rlock_init(rlock);
    *rlockp = rlock;
    return LT_OK;
}

void lt_rlock_free(lt_rlock_t *rlock)
{
    if (rlock == NULL)
        return;
    lt_rlock_fini(rlock);
    free(rlock);
}

static void lt__rlock_own(lt_rlock_t *rlock, uint64_t owner, unsigned long count)
{
    LT__STORE(uint64_t, &rlock->lt__owner, owner);
    LT__STORE(unsigned long, &rlock->lt__count, count);
}

int lt_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags)
{
    uint64_t me;
    int rc;

    if (rlock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    me = lt_get_ident();
    if (LT__LOAD(uint64_t, &rlock->lt__owner) == me) {
        unsigned long count = LT__LOAD(unsigned long, &rlock->lt__count);
        if (count == ULONG_MAX)
            return LT_EOVERFLOW;
        LT__STORE(unsigned long, &rlock->lt__count, count + 1);
        return LT_OK;
    }
    rc = lt_lock_acquire(&rlock->lt__lock, 0, 0);
    if (rc == LT_TIMEDOUT && timeout_us != 0) {
        /* Waits: lt_waits() names the recursive lock, not its inner one. */
        const void *label = lt__waiter_label(rlock);

        rc = lt__lock_acquire_as(&rlock->lt__lock, timeout_us, flags, rlock);
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
    count = LT__LOAD(unsigned long, &rlock->lt__count);
    if (count == 0 || LT__LOAD(uint64_t, &rlock->lt__owner) != lt_get_ident())
        return LT_ENOTOWNER;
    if (count > 1) {
        LT__STORE(unsigned long, &rlock->lt__count, count - 1);
        return LT_OK;
    }
    lt__rlock_own(rlock, 0, 0);
    return lt__lock_release_as(&rlock->lt__lock, 1, rlock);
}

int lt_rlock_release_save(lt_rlock_t *rlock, unsigned long *count, uint64_t *owner)
{
    unsigned long depth;

    if (rlock == NULL)
        return LT_EINVAL;
    depth = LT__LOAD(unsigned long, &rlock->lt__count);
    if (depth == 0)
        return LT_ENOTLOCKED;
    if (count != NULL)
        *count = depth;
    if (owner != NULL)
        *owner = LT__LOAD(uint64_t, &rlock->lt__owner);
    lt__rlock_own(rlock, 0, 0);
    return lt__lock_release_as(&rlock->lt__lock, 1, rlock);
}

static int lt__rlock_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner,
                             int64_t timeout_us)
{
    int rc;

    if (rlock == NULL)
        return LT_EINVAL;
    rc = lt__lock_acquire_as(&rlock->lt__lock, timeout_us, 0, rlock);
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
    if (rlock == NULL || LT__LOAD(uint64_t, &rlock->lt__owner) != lt_get_ident())
        return 0;
    return LT__LOAD(unsigned long, &rlock->lt__count);
}

uint64_t lt_rlock_owner(const lt_rlock_t *rlock)
{
    return rlock == NULL ? 0 : LT__LOAD(uint64_t, &rlock->lt__owner);
}

unsigned long lt_rlock_count(const lt_rlock_t *rlock)
{
    return rlock == NULL ? 0 : LT__LOAD(unsigned long, &rlock->lt__count);
}

int lt_rlock_at_fork_reinit(lt_rlock_t *rlock)
{
    if (rlock == NULL)
        return LT_EINVAL;
    lt__rlock_own(rlock, 0, 0);
    return lt_lock_at_fork_reinit(&rlock->lt__lock);
}
