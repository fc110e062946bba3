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

/* ---- threads: lt_thread.c over the platform files -------------------------
 *
 * lt_thread.c holds the state of every thread the library starts (the
 * start-up gate, the done event, join-once, references, fork generations);
 * the platform files (lt_posix.c, lt_win32.c) provide what is below, and
 * call back lt__thread_main() and lt__threads_at_fork_child(). */

#ifdef _WIN32
/* A wait deadline in QueryPerformanceCounter ticks. */
typedef struct {
    int64_t at; /* unused when forever */
    int64_t hz;
    int forever;
} lt__deadline_t;
typedef void *lt__os_thread_t; /* a HANDLE */
#else
/* A wait deadline in nanoseconds on CLOCK_MONOTONIC. */
typedef struct {
    int64_t ns; /* unused when forever */
    int forever;
} lt__deadline_t;
typedef pthread_t lt__os_thread_t;
#endif

/* Sets d to timeout_us from now (clamped to LT_TIMEOUT_MAX_US), or to never
 * when timeout_us < 0. */
LT__HIDDEN void lt__deadline_set(lt__deadline_t *d, int64_t timeout_us);

/* The registry's mutex, which guards the state kept in lt_thread.c, and its
 * two condvars. */
LT__HIDDEN void lt__reg_lock(void);
LT__HIDDEN void lt__reg_unlock(void);
enum {
    LT__REG_STARTUP, /* the number of threads starting up dropped */
    LT__REG_JOINED   /* an OS join ended */
};

/* With the registry held: waits on the condvar which until woken or about
 * the deadline.  Returns LT_OK after a wait (woken, perhaps spuriously, or
 * timed out: the caller checks its predicate and calls again), LT_TIMEDOUT
 * without waiting once the deadline has passed, or LT_ESYS. */
LT__HIDDEN int lt__reg_wait(int which, const lt__deadline_t *d);
LT__HIDDEN void lt__reg_wake_all(int which);

/* Readies the platform for its first thread.  Returns LT_OK, or LT_EAGAIN
 * with the system's code set (Windows: no TLS slot left). */
LT__HIDDEN int lt__os_threads_prepare(void);

/* Creates a thread that calls lt__thread_main(boot), with stack_size bytes
 * (0: the system's default), and stores it in *thread (unless detached:
 * then nothing is left to join or detach) and its lt_get_ident() value in
 * *ident.  Returns LT_OK, or LT_EAGAIN with the system's code set. */
LT__HIDDEN int lt__os_thread_create(lt__os_thread_t *thread, uint64_t *ident,
                                    size_t stack_size, int detached, void *boot);

/* Waits for the thread to end and releases it: LT_OK, or LT_ESYS with the
 * system's code set, the thread still owned. */
LT__HIDDEN int lt__os_thread_join(lt__os_thread_t thread);
LT__HIDDEN void lt__os_thread_detach(lt__os_thread_t thread);

/* The calling thread's slot for lt_thread.c, NULL until set.  Neither call
 * changes the system's error code. */
LT__HIDDEN void *lt__os_tls_get(void);
LT__HIDDEN void lt__os_tls_set(void *value);

/* 1 if the platform takes a stack of size bytes (>= LT_STACK_SIZE_MIN). */
LT__HIDDEN int lt__os_stack_size_ok(size_t size);

/* The system's error code (errno, GetLastError()), kept across a cleanup,
 * and the one for "out of memory". */
LT__HIDDEN unsigned long lt__os_error_get(void);
LT__HIDDEN void lt__os_error_set(unsigned long code);
LT__HIDDEN void lt__os_error_nomem(void);

/* lt_thread.c: the body of every thread the library starts; and, for the
 * fork handler, with the registry held, in the forked child. */
LT__HIDDEN void lt__thread_main(void *boot);

/* lt_thread.c, for the OS layer: the end of a thread ended inside fn
 * without returning (pthread_exit()); local is the slot's last value.  The
 * POSIX layer calls it from a thread-specific key's destructor; Windows has
 * no such hook for ExitThread(), and a thread ended so leaves its block (a
 * listed record, still valid) behind. */
LT__HIDDEN void lt__thread_ended_in_fn(void *local);
LT__HIDDEN void lt__threads_at_fork_child(void);

/* ---- waiting: the parking lot (lt_lock.c) over per-thread records ----------
 *
 * Every thread that waits for a lock has a waiter record with a "wake": a
 * wait primitive of its own, which the platform file provides (a semaphore,
 * a mutex + condvar + flag, or a Win32 event) and nothing else does.  The
 * main thread (lt_set_main_thread) has a static record and every thread the
 * library started has one in its lt__local; both are listed in the
 * registry, and lt_thread_interrupt() can reach them.  Any other thread gets
 * a record of its own on its first wait (lt__waiter_foreign), unlisted,
 * freed when the thread ends.
 *
 * A record that waits with LT_WAIT_INTR is also "parked" in the registry
 * (with the lock in on) so that lt_waits() lists it and an interrupter can
 * wake it: the interrupter sets pending and, under the registry, wakes the
 * record with lt__wake(). */

#if defined(LT_USE_SEM)
#include <semaphore.h>
typedef sem_t lt__wake_t;
#elif defined(_WIN32)
typedef void *lt__wake_t; /* an auto-reset event's HANDLE */
#else
typedef struct {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int posted; /* guarded by mutex */
} lt__wake_t;
#endif

typedef struct lt__waiter_s lt__waiter_t;
struct lt__waiter_s {
    uint64_t ident;   /* the thread's lt_get_ident(); written under the registry */
    int pending;      /* an interrupt not yet reported; __atomic only */
    const lt_lock_t *on; /* the lock it is parked on, or NULL; registry */
    const void *label;   /* what its next park is for (lt__waiter_label); own thread */
    const void *shown;   /* what lt_waits() says it waits for; registry */
    int64_t since_us, timeout_us; /* the parked wait's start and timeout; registry */
    lt__waiter_t *next;  /* all records; registry */
    lt__waiter_t *park_prev, *park_next; /* parked records, oldest first; registry */
    lt__wake_t wake;
};

/* The calling thread's listed record, or NULL if it has none.  Takes no
 * lock. */
LT__HIDDEN lt__waiter_t *lt__waiter_self(void);

/* The calling thread's unlisted record, made on first use (only threads
 * without a listed record ask); NULL if it cannot be allocated, with the
 * system's code set. */
LT__HIDDEN lt__waiter_t *lt__waiter_foreign(void);

/* 1 if w is the main thread's record. */
LT__HIDDEN int lt__waiter_is_main(const lt__waiter_t *w);

/* Parks w on lock before a wait with LT_WAIT_INTR of timeout_us, and takes
 * it off after. */
LT__HIDDEN void lt__waiter_park(lt__waiter_t *w, const lt_lock_t *lock, int64_t timeout_us);
LT__HIDDEN void lt__waiter_unpark(lt__waiter_t *w);

/* lt_lock_acquire() and lt__lock_release_as(lock, handoff, as) (handoff 0:
 * lt_lock_release_unhanded) that report to the contention hook as as: the
 * recursive lock for its inner one, NULL for a wait the hook is not told of
 * (a join waits on its thread's done lock). */
LT__HIDDEN int lt__lock_acquire_as(lt_lock_t *lock, int64_t timeout_us, int flags,
                                   const void *as);
LT__HIDDEN int lt__lock_release_as(lt_lock_t *lock, int handoff, const void *as);

/* Makes lt_waits() report the calling thread's parks as waits for what (a
 * recursive lock, a thread handle) rather than for the inner lock, until it
 * is called again with NULL.  Returns what it replaces. */
LT__HIDDEN const void *lt__waiter_label(const void *what);

/* 1 (and cleared) if an interrupt is pending for w; lt__waiter_repend()
 * puts one back (a wait that took it, then found it had the lock). */
LT__HIDDEN int lt__waiter_take_pending(lt__waiter_t *w);
LT__HIDDEN void lt__waiter_repend(lt__waiter_t *w);

/* The platform's part (lt_park_sem.c, lt_park_cond.c, lt_win32.c).
 * init makes a record's wake (LT_OK, or LT_ESYS / LT_ENOMEM with the
 * system's code set); fini destroys it; at_fork_child re-makes it in a
 * forked child over the old state; lt__wake() wakes the record's current
 * or next wait (a wake that finds no wait is kept for the next one, which
 * then returns at once: callers loop on their own condition). */
LT__HIDDEN int lt__wake_init(lt__waiter_t *w);
LT__HIDDEN void lt__wake_fini(lt__waiter_t *w);
LT__HIDDEN void lt__wake_at_fork_child(lt__waiter_t *w);
LT__HIDDEN void lt__wake(lt__waiter_t *w);

/* Waits for w's wake until the deadline.  intr is the wait's LT_WAIT_INTR.
 * Returns LT_OK (woken, perhaps by a kept or spurious wake: the caller
 * checks its condition and calls again), LT_TIMEDOUT (the deadline has
 * passed, by the clock), LT_INTR (only with intr: a signal handler ran, or
 * on the condvar wake, whose waits no signal ends, a slice of LT_SLICE_MS
 * passed) or LT_ESYS with the system's code set. */
LT__HIDDEN int lt__wake_wait(lt__waiter_t *w, const lt__deadline_t *d, int intr);

/* Called as a wait returns LT_INTR for an interrupt of w (Windows: lets
 * the console control handlers of a Ctrl-C finish first). */
LT__HIDDEN void lt__wake_interrupted(lt__waiter_t *w);

/* The OS layer's slot for the calling thread's unlisted record, with the
 * destructor lt__waiter_foreign_end() at thread exit.  set returns LT_OK or
 * LT_ENOMEM. */
LT__HIDDEN void *lt__os_foreign_get(void);
LT__HIDDEN int lt__os_foreign_set(void *record);
LT__HIDDEN void lt__waiter_foreign_end(void *record);

/* The parking lot's bucket locks: a mutex with a static initialiser, held
 * for a few instructions (never while a thread sleeps).  On Windows an
 * SRWLOCK, which is one pointer. */
#ifdef _WIN32
typedef struct { void *ptr; } lt__mutex_t;
#define LT__MUTEX_INIT {0}
#else
typedef pthread_mutex_t lt__mutex_t;
#define LT__MUTEX_INIT PTHREAD_MUTEX_INITIALIZER
#endif
LT__HIDDEN void lt__mutex_lock(lt__mutex_t *m);
LT__HIDDEN void lt__mutex_unlock(lt__mutex_t *m);
/* Makes m a fresh unlocked mutex, also over an old state (a forked child's
 * copy of one that a thread of the parent held). */
LT__HIDDEN void lt__mutex_init(lt__mutex_t *m);

/* The number of buckets, and the bucket of an address (for the tests that
 * make many locks share one). */
#ifndef LT_PARK_BUCKETS
#define LT_PARK_BUCKETS 257
#endif
LT__HIDDEN size_t lt__park_bucket_of(const void *addr);

/* In a forked child, with the registry held: empties the parking lot (its
 * waiters were threads the child does not have). */
LT__HIDDEN void lt__park_at_fork_child(void);

#endif /* LT_INTERNAL_H */
