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

/* ---- interrupts: lt_thread.c with the lock back-ends ------------------------
 *
 * A thread that lt_thread_interrupt() can reach has a waiter record: the
 * main thread (lt_set_main_thread), whose record is static, and every thread
 * the library started, whose record lives in its lt__local (on the heap).
 * The records are listed in the registry, and so are those waiting in an
 * acquire with LT_WAIT_INTR ("parked", with the lock in on).  The interrupter
 * sets pending and, under the registry (so that the lock cannot be freed
 * meanwhile), wakes the record's wait with lt__wake(). */

/* What wakes a parked record: its own semaphore on the semaphore back-end
 * (only a post, a signal or the timeout end a semaphore wait); the condvar
 * and Win32 back-ends broadcast the condvar of the lock it waits on. */
#if defined(LT_USE_SEM)
#include <semaphore.h>
typedef sem_t lt__wake_t;
#else
typedef char lt__wake_t; /* unused */
#endif

typedef struct lt__waiter_s lt__waiter_t;
struct lt__waiter_s {
    uint64_t ident;   /* the thread's lt_get_ident(); written under the registry */
    int pending;      /* an interrupt not yet reported; __atomic only */
    int handed;       /* semaphore back-end: a release chose it to wake; __atomic only */
    const lt_lock_t *on; /* the lock it is parked on, or NULL; registry */
    const void *label;   /* what its next park is for (lt__waiter_label); own thread */
    const void *shown;   /* what lt_waits() says it waits for; registry */
    int64_t since_us, timeout_us; /* the parked wait's start and timeout; registry */
    lt__waiter_t *next;  /* all records; registry */
    lt__waiter_t *park_prev, *park_next; /* parked records, oldest first; registry */
    lt__wake_t wake;
};

/* The calling thread's record, or NULL if it has none.  Takes no lock. */
LT__HIDDEN lt__waiter_t *lt__waiter_self(void);

/* 1 if w is the main thread's record. */
LT__HIDDEN int lt__waiter_is_main(const lt__waiter_t *w);

/* Parks w on lock before a wait with LT_WAIT_INTR of timeout_us, and takes
 * it off after (the caller must not hold the lock's own mutex: the registry
 * comes first). */
LT__HIDDEN void lt__waiter_park(lt__waiter_t *w, const lt_lock_t *lock, int64_t timeout_us);
LT__HIDDEN void lt__waiter_unpark(lt__waiter_t *w);

/* Makes lt_waits() report the calling thread's parks as waits for what (a
 * recursive lock, a thread handle) rather than for the inner lock, until it
 * is called again with NULL.  Returns what it replaces. */
LT__HIDDEN const void *lt__waiter_label(const void *what);

/* 1 (and cleared) if an interrupt is pending for w. */
LT__HIDDEN int lt__waiter_take_pending(lt__waiter_t *w);

/* Semaphore back-end: under the registry, chooses the oldest record parked
 * on lock, marks it handed and wakes it.  Compares the pointer only: the
 * lock may have been freed since (then no record is parked on it). */
LT__HIDDEN void lt__waiters_wake_one(const lt_lock_t *lock);

/* The back-end's part (lt_lock_*.c, lt_win32.c): make and destroy a
 * record's wake (init returns LT_OK or LT_ESYS), re-make it in a forked
 * child (lt_common.c for the back-ends whose records have nothing to make),
 * and wake a parked record (called under the registry). */
LT__HIDDEN int lt__wake_init(lt__waiter_t *w);
LT__HIDDEN void lt__wake_fini(lt__waiter_t *w);
LT__HIDDEN void lt__wake_at_fork_child(lt__waiter_t *w);
LT__HIDDEN void lt__wake(lt__waiter_t *w);

#endif /* LT_INTERNAL_H */
