/*
 * lt_internal.h -- declarations shared by lowthread's own source files.
 * Not installed and not part of the API.
 */
#ifndef LT_INTERNAL_H
#define LT_INTERNAL_H

#include "lowthread.h"

/* Length of one wait slice, in milliseconds, of a condvar lock acquired with
 * LT_WAIT_INTR (see lt_lock_acquire in lowthread.h). */
#ifndef LT_SLICE_MS
#define LT_SLICE_MS 20
#endif

/* Keeps the helpers below out of the shared library's exported symbols. */
#if defined(__GNUC__) && !defined(__CYGWIN__) && !defined(_WIN32)
#define LT__HIDDEN __attribute__((visibility("hidden")))
#else
#define LT__HIDDEN
#endif

/* Relaxed atomic loads and stores, for words that one thread writes while
 * others may read them (a recursive lock's owner and count). */
#if defined(_MSC_VER) && !defined(__clang__)
/* Aligned loads and stores of these sizes are atomic on every Windows target. */
#define LT__LOAD(type, p) (*(volatile const type *)(p))
#define LT__STORE(type, p, v) (*(volatile type *)(p) = (v))
#else
#define LT__LOAD(type, p) ((type)__atomic_load_n((p), __ATOMIC_RELAXED))
#define LT__STORE(type, p, v) __atomic_store_n((p), (type)(v), __ATOMIC_RELAXED)
#endif

/* The length of the longest prefix of the string s, at most max bytes, that
 * does not end inside a UTF-8 character (lt_common.c). */
LT__HIDDEN size_t lt__utf8_prefix(const char *s, size_t max);

#ifndef _WIN32

#include <pthread.h>
#include <time.h>

/* The POSIX lock back-end: unnamed semaphores, whose waits a signal
 * interrupts, except on Apple, where sem_init() fails with ENOSYS. */
#if defined(LT_FORCE_CONDVAR) || defined(__APPLE__)
#define LT_USE_CONDVAR 1
#else
#define LT_USE_SEM 1
#endif

/* Nanoseconds on CLOCK_MONOTONIC, the clock of every wait. */
LT__HIDDEN int64_t lt__now_ns(void);

/* The monotonic deadline, in nanoseconds, of a wait of timeout_us > 0
 * starting now: timeout_us is clamped to LT_TIMEOUT_MAX_US, and the sum
 * saturates at INT64_MAX. */
LT__HIDDEN int64_t lt__deadline_ns(int64_t timeout_us);

/* Converts ns >= 0 to a timespec.  Where time_t cannot hold the value it
 * saturates, so a wait on it ends early and the caller must check the clock
 * and wait again. */
LT__HIDDEN void lt__timespec_from_ns(int64_t ns, struct timespec *ts);

/* Initialises a condvar whose timed waits follow the monotonic clock.
 * Returns 0 or an errno value. */
LT__HIDDEN int lt__cond_init(pthread_cond_t *cond);

/* Waits on a condvar made by lt__cond_init() until the monotonic deadline
 * (ns).  Returns 0 (woken, perhaps spuriously), ETIMEDOUT (perhaps before
 * the deadline, see lt__timespec_from_ns) or another errno value. */
LT__HIDDEN int lt__cond_wait_until(pthread_cond_t *cond, pthread_mutex_t *mutex,
                                   int64_t deadline_ns);

#endif /* !_WIN32 */

#endif /* LT_INTERNAL_H */
