/* lt_py.h -- the binding's own C functions (lt_py.c), for the code cffi
 * generates.  Not part of the C core's API. */
#ifndef LT_PY_H
#define LT_PY_H

#include "lowthread.h"

int ltpy_lock_wait(lt_lock_t *lock);
int ltpy_lock_try(lt_lock_t *lock);
int ltpy_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags);
int ltpy_lock_wait_unlocked(lt_lock_t *lock, int64_t timeout_us, int flags);
int ltpy_sentinel_add(const lt_lock_t *lock);
void ltpy_sentinel_drop(const lt_lock_t *lock);
int ltpy_is_sentinel(const lt_lock_t *lock);
void ltpy_sentinels_at_fork_child(void);
int ltpy_rlock_wait(lt_rlock_t *rlock);
int ltpy_rlock_try(lt_rlock_t *rlock);
int ltpy_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags);
int ltpy_rlock_acquire_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner);
int ltpy_lock_release(lt_lock_t *lock);
int ltpy_rlock_release(lt_rlock_t *rlock);
int ltpy_rlock_release_save(lt_rlock_t *rlock, unsigned long *count, uint64_t *owner);
/* What the calls above return, instead of their status, for a call the
 * contention profile is to see (lt_py.c). */
#define LTPY_NOTED 64
/* every > 0: note one in every contended events from now on; 0: stop. */
void ltpy_record_contention(int every);
/* The calling thread's noted event, cleared: out[0..5) = event (0: none),
 * the call's status, waited_us, the other thread, handed; returns out[0]. */
int ltpy_noted_take(int64_t out[5]);
/* Makes the calling thread's record say that nothing was taken. */
void ltpy_forget(void);
/* Releases lock (rlock: one level) if the calling thread's last acquire
 * through lt_py.c took it, and clears the record.  Returns 1 if it did. */
int ltpy_lock_untake(lt_lock_t *lock);
int ltpy_rlock_untake(lt_rlock_t *rlock);

#endif /* LT_PY_H */
