/* lt_py.h -- the binding's own C functions (lt_py.c), for the code cffi
 * generates.  Not part of the C core's API. */
#ifndef LT_PY_H
#define LT_PY_H

#include "lowthread.h"

int ltpy_lock_wait(lt_lock_t *lock);
int ltpy_lock_try(lt_lock_t *lock);
int ltpy_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags);
int ltpy_rlock_wait(lt_rlock_t *rlock);
int ltpy_rlock_try(lt_rlock_t *rlock);
int ltpy_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags);
/* Makes the calling thread's record say that nothing was taken. */
void ltpy_forget(void);
/* Releases lock (rlock: one level) if the calling thread's last acquire
 * through lt_py.c took it, and clears the record.  Returns 1 if it did. */
int ltpy_lock_untake(lt_lock_t *lock);
int ltpy_rlock_untake(lt_rlock_t *rlock);

#endif /* LT_PY_H */
