/*
 * lowthread.h -- portable locks with monotonic timeouts, threads and thread
 * ids, in C99, for POSIX and Windows.  No Python involved.
 *
 * Conventions
 *   - Every name is prefixed lt_ (functions, types) or LT_ (constants).
 *   - Thread handles are opaque and come in new/free pairs.  Locks are
 *     complete types with private fields, so that they can live in the
 *     caller's memory (a static initialiser, or init/fini pairs), and have
 *     new/free pairs for the heap as well.
 *   - Functions that can fail return an int status: LT_OK (0) on success,
 *     a positive LT_* value for a normal outcome that is not success
 *     (timeout, interrupted), a negative LT_E* value for an error.  When an
 *     LT_E* error comes from the operating system, errno (POSIX) or
 *     GetLastError() (Windows) still holds the system's code on return.
 *   - Functions that cannot fail (identity, clock, queries) return their
 *     value directly.
 *   - Timeouts are relative, in microseconds, measured on a monotonic clock:
 *     < 0 waits forever, 0 tries once without waiting, > 0 waits at most that
 *     long and never returns earlier.  Values above LT_TIMEOUT_MAX_US are
 *     clamped to it.
 *   - Every function may be called from any thread unless its comment says
 *     otherwise.
 */
#ifndef LOWTHREAD_H
#define LOWTHREAD_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------ */

#define LT_OK 0          /* success; for an acquire: the lock is now held */
#define LT_TIMEDOUT 1    /* the timeout expired (or a try found it held) */
#define LT_INTR 2        /* a signal or an interrupt call ended the wait
                            (LT_WAIT_INTR; see "interrupts" below) */

#define LT_EINVAL (-1)     /* an argument is invalid; nothing was changed */
#define LT_ENOMEM (-2)     /* out of memory; nothing was changed */
#define LT_ENOTLOCKED (-3) /* release of a lock that is not locked */
#define LT_EAGAIN (-4)     /* the system refused to create a thread */
#define LT_ECLOSED (-5)    /* lt_threads_close() was called: no new threads */
#define LT_ENOTSUP (-6)    /* not supported on this platform */
#define LT_ESYS (-7)       /* another system error; see errno/GetLastError */
#define LT_EDEADLK (-8)    /* a thread tried to join itself */
#define LT_ENOTOWNER (-9)  /* release of a recursive lock by a non-owner */
#define LT_EOVERFLOW (-10) /* a recursive lock's count would overflow */
#define LT_ESRCH (-11)     /* no such thread can be interrupted */

/* ---- limits and build facts -------------------------------------------- */

/* The largest timeout, in microseconds, that a wait honours exactly:
 * INT64_MAX / 1000 on POSIX (deadlines are kept in int64 nanoseconds),
 * 0xFFFFFFFE milliseconds on Windows (the longest finite wait). */
#ifdef _WIN32
#define LT_TIMEOUT_MAX_US 4294967294000LL
#else
#define LT_TIMEOUT_MAX_US 9223372036854775LL
#endif

/* The smallest stack size lt_stack_size_set() accepts, in bytes. */
#define LT_STACK_SIZE_MIN 32768

/* The name of the lock back-end compiled in: "semaphore", "condvar" or
 * "win32".  A static string; never free it. */
const char *lt_backend(void);

/* Microseconds on the monotonic clock the waits use.  The origin is
 * arbitrary; only differences mean anything. */
int64_t lt_monotonic_us(void);

/* ---- locks --------------------------------------------------------------- */

/* A non-recursive lock with binary-semaphore semantics: it is not owned,
 * any thread may release it, and a thread that acquires it twice without a
 * release in between blocks until another thread releases it.
 *
 * The type is complete so that a caller can place a lock in its own memory:
 * a static or automatic variable initialised with LT_LOCK_INIT, a field of
 * its own struct, or heap memory passed to lt_lock_init().  Its fields are
 * private (the lt__ prefix): read the lock only through the calls below.
 * An uncontended acquire and release are one atomic operation each; a
 * thread that must wait sleeps in a parking lot the library keeps, hashed
 * by the lock's address, so the lock itself holds no system object.
 *
 * ABI promise: sizeof(lt_lock_t) is 16 bytes and its alignment that of
 * uint64_t, and neither grows within a major version of the library. */
typedef struct lt_lock_s {
    uint32_t lt__state;  /* locked, and whether threads are parked on it */
    uint32_t lt__spare;  /* zero; room within the promised size */
    uint64_t lt__holder; /* the taker's lt_get_ident() while locked */
} lt_lock_t;

/* The static initialiser of an unlocked lock:
 *     static lt_lock_t lock = LT_LOCK_INIT;
 * All-zero memory is an unlocked lock as well. */
#define LT_LOCK_INIT {0, 0, 0}

/* Makes the memory at lock an unlocked lock (as LT_LOCK_INIT does).
 * Returns LT_OK or LT_EINVAL (lock is NULL). */
int lt_lock_init(lt_lock_t *lock);

/* Ends the life of a lock made by LT_LOCK_INIT or lt_lock_init(); the
 * memory is the caller's again.  The lock may be locked, but no thread may
 * be waiting on it or use it after.  It frees nothing today (the lock holds
 * no system object), and is the call to make so that a later version may.
 * NULL is accepted and ignored. */
void lt_lock_fini(lt_lock_t *lock);

/* How long, in microseconds, the first waiter on a lock waits before a
 * release hands the lock to it rather than letting a newcomer take it. */
#define LT_HANDOFF_US 1000

/* Flags for lt_lock_acquire(). */
#define LT_WAIT_INTR 1 /* return LT_INTR when a signal or an interrupt call
                          (lt_thread_interrupt) ends the wait */

/* The heap form: allocates an unlocked lock and stores it in *lockp.
 * Returns LT_OK, LT_EINVAL (lockp is NULL) or LT_ENOMEM (*lockp is left
 * unchanged). */
int lt_lock_new(lt_lock_t **lockp);

/* Frees a lock made by lt_lock_new() (lt_lock_fini, then free).  NULL is
 * accepted and ignored.  As for lt_lock_fini(), no thread may be waiting on
 * it or use it after. */
void lt_lock_free(lt_lock_t *lock);

/* Acquires the lock, waiting at most timeout_us microseconds (see
 * Conventions: < 0 forever, 0 try once).
 * flags is 0 or LT_WAIT_INTR.  Without LT_WAIT_INTR neither a signal nor an
 * interrupt call ends the wait: it goes on with the time that remains.
 * With LT_WAIT_INTR (and timeout_us != 0) the call returns LT_INTR, without
 * the lock, when the wait is ended by
 *  - an interrupt of the calling thread (lt_thread_interrupt,
 *    lt_interrupt_main), on every back-end, at once; including one that came
 *    before the wait began and was not yet reported (see "interrupts");
 *  - a signal handler that ran during the wait (POSIX): at once on the
 *    semaphore back-end; the condvar back-end, whose waits a signal cannot
 *    end, returns LT_INTR every LT_SLICE_MS milliseconds (a compile-time
 *    setting, 20 by default; see lt_lock_wait_slice_ms) so that the caller
 *    can look for signals itself;
 *  - on Windows, in the main thread (lt_set_main_thread), a console Ctrl-C
 *    or Ctrl-Break: the first such wait installs a console control handler
 *    that interrupts the main thread, then lets the handlers installed
 *    before it (the C runtime's, which raises SIGINT or SIGBREAK) run as
 *    well; the interrupted wait returns once they are done (at most 100 ms
 *    later), so that the caller finds what they did.  Other threads' waits
 *    on Windows end only through lt_thread_interrupt().
 * The caller acts on it and calls again with the time that remains.  A
 * timeout is never cut short by any of these: a timed wait that returns
 * LT_TIMEDOUT has waited its whole timeout.
 * Fairness: waiters are queued in the order they began to wait.  A release
 * wakes the first, which then competes with threads arriving meanwhile (so
 * that a lock passed around quickly is not slowed to the speed of waking a
 * thread); but once the first waiter has waited LT_HANDOFF_US, a release
 * hands the lock to it directly, so that no waiter starves.
 * Returns LT_OK (acquired), LT_TIMEDOUT (not acquired), LT_INTR (not
 * acquired), LT_EINVAL (lock is NULL or flags unknown), LT_ENOMEM (the first
 * wait of a thread the library did not start could not allocate that
 * thread's wait record: nothing changed) or LT_ESYS. */
int lt_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags);

/* sizeof(lt_lock_t), for a binding that cannot read the header (what
 * lt_lock_new() allocates). */
size_t lt_lock_sizeof(void);

/* 0 when a signal ends a wait with LT_WAIT_INTR at once (semaphore) or
 * signals play no part (Windows); otherwise the back-end cannot be woken by
 * a signal, and such a wait returns LT_INTR every that many milliseconds
 * instead (the condvar back-end), which bounds the latency of a signal.
 * Interrupt calls end a wait at once on every back-end. */
int lt_lock_wait_slice_ms(void);

/* Releases the lock; any thread may call it.
 * Returns LT_OK, LT_ENOTLOCKED (the lock was not locked: nothing changes)
 * or LT_EINVAL (lock is NULL). */
int lt_lock_release(lt_lock_t *lock);

/* Waits until the lock is unlocked, without taking it, at most timeout_us
 * (relative microseconds on the monotonic clock; < 0: forever, 0: just
 * look), interruptible as lt_lock_acquire() with LT_WAIT_INTR.  LT_OK once
 * it was seen unlocked (another thread may have taken it since),
 * LT_TIMEDOUT, LT_INTR, LT_EINVAL.  For a thread that needs to know that a
 * lock was released, not to hold it: a waiter that took the lock to learn
 * that would hold it, for a moment, where its releaser may look. */
int lt_lock_wait_unlocked(lt_lock_t *lock, int64_t timeout_us, int flags);

/* lt_lock_release() that never hands the lock to a waiter: the lock is
 * unlocked on return, and a woken waiter competes for it.  For a binding
 * whose callers expect a lock just released to be unlocked until another
 * thread takes it (Python's threading before 3.13 asserts that after
 * release() under its global lock); waiters may then wait longer behind a
 * thread that re-takes the lock at once. */
int lt_lock_release_unhanded(lt_lock_t *lock);

/* Returns 1 if the lock is locked, 0 if not (also for NULL).  The answer
 * may be stale as soon as it is returned when other threads use the lock. */
int lt_lock_locked(const lt_lock_t *lock);

/* The lt_get_ident() of the thread whose acquire took the lock, or 0 if it
 * is unlocked (also for NULL).  A lock has no owner: this is only the last
 * taker, and the thread that releases it may be another.  A snapshot, as
 * lt_lock_locked(); for reports (who holds what), never for deciding who
 * may release. */
uint64_t lt_lock_holder(const lt_lock_t *lock);

/* Re-initialises the lock in the child process after fork(), unlocked.
 * The lock may have been held or waited on by threads that do not exist in
 * the child, so its old state is abandoned, not destroyed.  Call it only in
 * a child that has a single thread.
 * Returns LT_OK, LT_EINVAL (lock is NULL) or LT_ESYS. */
int lt_lock_at_fork_reinit(lt_lock_t *lock);

/* ---- recursive locks ------------------------------------------------------ */

/* A lock owned by the thread that acquired it (by its lt_get_ident()): the
 * owner may acquire it again, and each acquire must be matched by a release
 * from the owner; the lock is free after the last one.  Other threads wait
 * as for an lt_lock_t.  Built on lt_lock_t, so it has the same parking,
 * timeouts and signal behaviour.
 *
 * Complete, as lt_lock_t, for the caller's own memory: LT_RLOCK_INIT, or
 * lt_rlock_init() and lt_rlock_fini().  ABI promise: sizeof(lt_rlock_t) is
 * 32 bytes on 64-bit systems (24 on 32-bit ones), and does not grow within a
 * major version. */
typedef struct lt_rlock_s {
    lt_lock_t lt__lock;     /* held exactly while some thread owns it */
    uint64_t lt__owner;     /* lt_get_ident() of the owner, 0 when free */
    unsigned long lt__count; /* the owner's depth, 0 when free */
} lt_rlock_t;

/* The static initialiser of a free recursive lock; all-zero memory is one
 * as well. */
#define LT_RLOCK_INIT {LT_LOCK_INIT, 0, 0}

/* Makes the memory at rlock a free recursive lock.  Returns LT_OK or
 * LT_EINVAL (rlock is NULL). */
int lt_rlock_init(lt_rlock_t *rlock);

/* lt_lock_fini() for a recursive lock; NULL is ignored. */
void lt_rlock_fini(lt_rlock_t *rlock);

/* The heap form: allocates a free recursive lock and stores it in *rlockp.
 * Returns LT_OK, LT_EINVAL (rlockp is NULL) or LT_ENOMEM. */
int lt_rlock_new(lt_rlock_t **rlockp);

/* Frees a lock made by lt_rlock_new(); NULL is ignored.  As for
 * lt_lock_free(), no thread may wait on it or use it after. */
void lt_rlock_free(lt_rlock_t *rlock);

/* sizeof(lt_rlock_t), for a binding that cannot read the header. */
size_t lt_rlock_sizeof(void);

/* If the calling thread owns the lock, adds one to its count at once
 * (whatever timeout_us says).  Otherwise acquires it as lt_lock_acquire()
 * would (timeout_us, flags and statuses alike) and, on LT_OK, makes the
 * caller its owner with a count of 1.
 * Returns LT_OK, LT_TIMEDOUT, LT_INTR, LT_EOVERFLOW (the count is at
 * ULONG_MAX: nothing changes), LT_EINVAL or LT_ESYS. */
int lt_rlock_acquire(lt_rlock_t *rlock, int64_t timeout_us, int flags);

/* Takes one from the owner's count; at 0 the lock is free.
 * Returns LT_OK, LT_ENOTOWNER (the caller does not own it: nothing changes)
 * or LT_EINVAL. */
int lt_rlock_release(lt_rlock_t *rlock);

/* For a condition variable: frees the lock whatever its count, and stores
 * the count and the owner in *count and *owner (either may be NULL).  It
 * does not check that the caller is the owner (a condition variable checks
 * that before).
 * Returns LT_OK, LT_ENOTLOCKED (the lock is free: nothing changes) or
 * LT_EINVAL. */
int lt_rlock_release_save(lt_rlock_t *rlock, unsigned long *count, uint64_t *owner);

/* The other half of lt_rlock_release_save(): waits for the lock without a
 * timeout, through signals, then sets its owner and count to the given
 * values (whoever the caller is).
 * Returns LT_OK, LT_EINVAL or LT_ESYS. */
int lt_rlock_acquire_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner);

/* lt_rlock_acquire_restore() without the wait, for a caller that tries
 * first and waits only if it must (a binding that lets other threads run
 * only while it waits).
 * Returns LT_OK, LT_TIMEDOUT (another thread holds the lock: nothing
 * changes) or LT_EINVAL. */
int lt_rlock_try_restore(lt_rlock_t *rlock, unsigned long count, uint64_t owner);

/* The owner's count if the calling thread owns the lock, else 0 (also for
 * NULL). */
unsigned long lt_rlock_recursion(const lt_rlock_t *rlock);

/* The owner's ident and count, 0 and 0 when the lock is free (also for
 * NULL).  Read from another thread, they may be stale on return, and the
 * two may belong to different moments. */
uint64_t lt_rlock_owner(const lt_rlock_t *rlock);
unsigned long lt_rlock_count(const lt_rlock_t *rlock);

/* lt_lock_at_fork_reinit() for a recursive lock: free, no owner. */
int lt_rlock_at_fork_reinit(lt_rlock_t *rlock);

/* ---- threads ------------------------------------------------------------- */

typedef void (*lt_thread_fn)(void *arg);

/* Starts fn(arg) on a new detached thread with the stack size set by
 * lt_stack_size_set() (or the library's default, see lt_stack_size_default)
 * and stores the new thread's ident (the value lt_get_ident() returns inside
 * it) in *ident_out, if ident_out is not NULL, before returning.
 * The thread ends when fn returns.  On POSIX a thread ended inside fn by
 * pthread_exit() (as CPython ends its daemon threads at exit) ends as if fn
 * had returned: started up, joinable handles done, nothing left behind; on
 * Windows one ended by ExitThread() leaves a small block (its interrupt
 * record) allocated, and its handle is never done.  On failure fn never
 * runs, arg is not touched and nothing is leaked.
 * Returns LT_OK, LT_EINVAL (fn is NULL), LT_ENOMEM (the library's own
 * allocation failed), LT_EAGAIN (the system refused the thread, for any
 * reason: too many threads, or a stack it cannot provide; errno or
 * GetLastError() tells) or LT_ECLOSED (after lt_threads_close()). */
int lt_thread_start(lt_thread_fn fn, void *arg, uint64_t *ident_out);

/* Tells lt_threads_wait_started() and lt_threads_close() that the calling
 * thread, started by lt_thread_start() or lt_thread_start_joinable(), has
 * finished its start-up (for an embedding language runtime: the thread now
 * holds its runtime state).  Calling it again, or from a thread the library
 * did not start, does nothing.  A thread that never calls it counts as
 * started up when fn returns. */
void lt_thread_started(void);

/* Waits at most timeout_us until every thread started so far, but the
 * calling thread itself, has finished its start-up (see lt_thread_started)
 * or been stopped at the gate (see lt_threads_close); it includes threads
 * that have not yet entered fn.  Closes nothing: for a runtime that, as it
 * begins to shut down, lets no thread begin using it unseen, yet still lets
 * threads start (each start then followed by this wait).
 * Returns LT_OK, or LT_TIMEDOUT if some thread is still starting up. */
int lt_threads_wait_started(int64_t timeout_us);

/* Refuses every later lt_thread_start() with LT_ECLOSED, and threads that
 * were started but have not yet entered fn never enter it (their arg is
 * abandoned).  Then waits at most timeout_us for the threads that are inside
 * fn but have not yet called lt_thread_started(), the calling thread left
 * out (it would wait for itself).  A runtime calls it before it shuts down,
 * so that no thread begins using the runtime while it is being torn down.
 * It cannot be undone; a child forked later inherits it, but not the
 * parent's threads, so it waits for none of them.
 * Returns LT_OK, or LT_TIMEDOUT if some thread is still starting up. */
int lt_threads_close(int64_t timeout_us);

/* Keeps fork() out of a short section: while a thread is between
 * lt_fork_gate_enter() and lt_fork_gate_leave(), a fork() in another thread
 * waits for it (in a pthread_atfork() handler), and a thread that enters
 * while a fork() runs waits until the fork is done.  For work that a fork
 * must not catch half done because the child goes on using what it touches:
 * an embedding runtime registering a new thread in a list that the forked
 * child then walks (a new thread making its own runtime state, say).  The
 * section must be short, must not wait for anything that a forking thread
 * may hold while it calls fork(), and must neither fork nor start a thread
 * (a start takes the gate itself).  Sections do not nest.  Windows has no
 * fork(): both calls do nothing there. */
void lt_fork_gate_enter(void);
void lt_fork_gate_leave(void);

/* ---- joinable threads ----------------------------------------------------- */

/* The handle of a joinable thread.  It owns the OS thread until the thread
 * is joined (lt_thread_join) or let go (lt_thread_set_done, lt_thread_free),
 * and it stays valid, whatever the thread does, until lt_thread_free().
 * Its "done" event is set by the thread itself just before it ends, after
 * fn returned (or, when lt_threads_close() stopped it at the gate, without
 * calling fn), or by lt_thread_set_done().
 * After fork(), in the child, the handles of the parent's threads (all but
 * the handle of the forking thread itself, if it is a joinable thread) are
 * done: their threads do not exist there, so join returns LT_OK at once and
 * nothing ever joins or detaches them through the system (that would hang
 * or crash). */
typedef struct lt_thread_s lt_thread_t;

/* Like lt_thread_start() (same stack size, start-up gate, errors, and
 * nothing run or leaked on failure), but the thread is joinable: its handle
 * is stored in *thread_out, which the caller must pass to lt_thread_free()
 * once, joined or not.
 * Returns LT_OK, LT_EINVAL (fn or thread_out is NULL), LT_ENOMEM, LT_EAGAIN,
 * LT_ECLOSED or LT_ESYS (*thread_out and *ident_out are left unchanged). */
int lt_thread_start_joinable(lt_thread_fn fn, void *arg, lt_thread_t **thread_out,
                             uint64_t *ident_out);

/* Waits at most timeout_us (see Conventions; flags as for lt_lock_acquire)
 * for the thread's done event, then joins the OS thread, once however many
 * threads join at the same time: a concurrent joiner waits for that OS join
 * to finish.  Joining again later returns LT_OK at once.  When the event was
 * set by lt_thread_set_done() the OS thread is not joined (it was
 * detached); the call returns LT_OK at once.
 * Returns LT_OK, LT_TIMEDOUT, LT_INTR, LT_EINVAL (thread is NULL or flags
 * unknown), LT_EDEADLK (called by the thread itself before its done event
 * was set; even with a timeout of 0) or LT_ESYS. */
int lt_thread_join(lt_thread_t *thread, int64_t timeout_us, int flags);

/* 1 once the thread's done event is set (see lt_thread_t), else 0 (also for
 * NULL).  As for lt_lock_locked(), a 0 may be stale on return. */
int lt_thread_is_done(const lt_thread_t *thread);

/* Sets the done event without waiting and, unless the thread was already
 * joined, detaches the OS thread, which runs on, never to be joined (for a
 * handle whose thread must not be joined, or whose end is tracked another
 * way).  Idempotent.  Returns LT_OK or LT_EINVAL (thread is NULL). */
int lt_thread_set_done(lt_thread_t *thread);

/* Frees a handle made by lt_thread_start_joinable(); never blocks.  A thread
 * that was neither joined nor detached is detached and runs on.  NULL is
 * accepted and ignored.  No other thread may use the handle during or
 * after the call. */
void lt_thread_free(lt_thread_t *thread);

/* ---- interrupts ------------------------------------------------------------ */

/* An interrupt ends the target thread's current wait with LT_WAIT_INTR
 * (lt_lock_acquire, lt_rlock_acquire, lt_thread_join) with LT_INTR, or, if
 * the thread is not in such a wait, its next one that blocks (a try, with
 * a timeout of 0, does not look): an interrupt stays pending until a wait
 * reports it, and several pending interrupts are reported once.  A wait
 * that gets the lock (or the join) reports nothing and leaves the interrupt
 * pending.  Waits without LT_WAIT_INTR never look.  No signal is sent.
 *
 * Threads that can be interrupted: the main thread, and every thread that
 * lt_thread_start() or lt_thread_start_joinable() started, while it runs
 * fn.  Other threads have no record to interrupt (LT_ESRCH).
 *
 * The calls below may be called from any thread at any time, the target
 * itself included.  They take a mutex, so they are not async-signal-safe:
 * a signal handler must leave the call to a thread (on Windows a console
 * control handler runs in a thread of its own, and may call them). */

/* Makes the calling thread the main thread: the one lt_interrupt_main()
 * interrupts, and, on Windows, the one whose waits Ctrl-C ends.  There is
 * none until it is called; an embedder calls it once, early, from the
 * thread it treats as main (its initial thread).  Calling it again moves
 * the role to the caller; it must not be called while the former main
 * thread is inside a wait.  In a child made by fork(), the forking thread
 * (its only thread) is the main thread, if the parent had one, with no
 * interrupt pending.
 * Returns LT_OK, or LT_ESYS (the system refused the wait object; nothing
 * changed). */
int lt_set_main_thread(void);

/* The main thread's ident (lt_get_ident() in it), or 0 if there is none. */
uint64_t lt_main_thread(void);

/* Interrupts the thread whose lt_get_ident() is ident (see above).
 * Returns LT_OK, or LT_ESRCH (no thread with that ident can be
 * interrupted: not running, or neither the main thread nor one the library
 * started). */
int lt_thread_interrupt(uint64_t ident);

/* Interrupts the main thread.  Returns LT_OK, or LT_ESRCH (no main thread:
 * lt_set_main_thread() was never called). */
int lt_interrupt_main(void);

/* ---- who waits for what --------------------------------------------------
 *
 * A wait the interrupt calls can reach (LT_WAIT_INTR, not a try, by the main
 * thread or a thread the library started) is listed while it blocks, with
 * what it waits for: the lock of lt_lock_acquire(), the recursive lock of
 * lt_rlock_acquire(), the thread of lt_thread_join().  With
 * lt_lock_holder() and lt_rlock_owner() this is enough to draw who waits
 * for whom.  On the condvar back-end a wait lasts one slice at a time (see
 * lt_lock_wait_slice_ms): since_us is the start of its current slice.
 *
 * A deadlock detector is built from these and lt_thread_interrupt(): a
 * watchdog thread reads lt_waits() now and then; a cycle of untimed waits,
 * unchanged (same since_us) between two reads, each on a recursive lock
 * whose lt_rlock_owner() is the next thread or on a thread that has not
 * ended, cannot end by itself; it ends when the watchdog calls
 * lt_thread_interrupt() on one of its threads, whose wait then returns
 * LT_INTR without taking its lock (the Python binding raises DeadlockError
 * there).  A wait on a plain lock is certain only if no other thread could
 * release it: the library cannot know that; Python's binding requires every
 * thread that runs Python code to be in such a wait. */
typedef struct {
    uint64_t ident;      /* the waiting thread's lt_get_ident() */
    const void *on;      /* the lt_lock_t, lt_rlock_t or lt_thread_t it waits for */
    int64_t since_us;    /* lt_monotonic_us() when its wait began */
    int64_t timeout_us;  /* the wait's timeout as given; < 0: untimed */
} lt_wait_info_t;

/* Copies the listed waits, oldest first, into out[0..max) and returns how
 * many there are (more than max: call again with a larger array).  A
 * snapshot: a wait may have ended by the time it is read. */
size_t lt_waits(lt_wait_info_t *out, size_t max);

/* ---- contention ------------------------------------------------------------
 *
 * A hook for profilers (Go's mutex and block profiles, Abseil's mutex
 * tracer): once set, the locks call it in the calling thread
 *  - LT_CONTENTION_WAITED: at the end of every lt_lock_acquire(),
 *    lt_rlock_acquire() or lt_rlock_acquire_restore() that found the lock
 *    held and slept, with how long it slept and its status (LT_OK: the
 *    caller now holds the lock; LT_TIMEDOUT, LT_INTR, LT_ESYS: it does not);
 *  - LT_CONTENTION_WOKE: in every release that woke a waiter (after the
 *    wake), with that waiter's ident and how long it had waited since it
 *    last queued: the delay that the releasing thread's hold made it wait,
 *    as Go charges it.  A woken waiter that finds the lock taken again
 *    queues again, so the wakes of one wait add up to about its WAITED
 *    time.
 * An acquire that never slept (free, a try, or taken while it spun) calls
 * nothing: the uncontended calls never look at the hook.  Joins do not call
 * it, though they wait on a lock inside the library.
 * The hook runs with none of the library's internal locks held; it may use
 * other locks, but must not wait for the event's own lock.  For WOKE the
 * woken thread may already have taken the lock and freed it: the pointer is
 * then only a key.  lt_contention_hook(NULL, NULL) removes it.  Setting it
 * is atomic, but a thread that is calling the old hook may still be doing
 * so; fn and arg are read one after the other, so change arg only together
 * with a new fn, while no lock is contended. */
#define LT_CONTENTION_WAITED 1
#define LT_CONTENTION_WOKE 2

typedef struct {
    int event;          /* LT_CONTENTION_WAITED or LT_CONTENTION_WOKE */
    int status;         /* WAITED: what the acquire returns; WOKE: LT_OK */
    int handed;         /* WOKE: 1 if the release handed the lock to the waiter */
    const void *lock;   /* the lt_lock_t or lt_rlock_t the caller named */
    uint64_t thread;    /* lt_get_ident() of the calling thread */
    uint64_t other;     /* WOKE: the woken waiter's lt_get_ident(); WAITED: 0 */
    int64_t waited_us;  /* WAITED: how long it slept, from its first sleep
                         * to its return; WOKE: how long the woken waiter
                         * had waited since it last queued */
} lt_contention_t;

typedef void (*lt_contention_fn)(const lt_contention_t *event, void *arg);

void lt_contention_hook(lt_contention_fn fn, void *arg);

/* ---- thread names ---------------------------------------------------------- */

/* The longest name, in bytes without the NUL, that the system keeps for a
 * thread: 15 on Linux, 63 on macOS, 19 on FreeBSD, 23 on OpenBSD, 31 on
 * NetBSD, 32766 on Windows 10 1607 and later; 0 where threads cannot be
 * named (lt_thread_set_name returns LT_ENOTSUP there). */
size_t lt_thread_name_max(void);

/* Sets the calling thread's name as the system shows it (debuggers, ps,
 * /proc/self/task/TID/comm).  name is UTF-8; a longer name than
 * lt_thread_name_max() is cut to it, on a character boundary, so that no
 * half character is left.  On Windows it is converted to UTF-16 (invalid
 * sequences become U+FFFD) for SetThreadDescription().
 * Returns LT_OK, LT_EINVAL (name is NULL), LT_ENOTSUP, LT_ENOMEM or
 * LT_ESYS. */
int lt_thread_set_name(const char *name);

/* Stores the calling thread's system name, NUL-terminated and in UTF-8, in
 * buf; a name longer than size - 1 bytes is cut on a character boundary.
 * A thread that was never named has the system's default (Linux: the name
 * of the thread that created it; Windows: "").
 * Returns LT_OK, LT_EINVAL (buf is NULL or size is 0), LT_ENOTSUP, LT_ENOMEM
 * or LT_ESYS. */
int lt_thread_get_name(char *buf, size_t size);

/* ---- identity ------------------------------------------------------------ */

/* The calling thread's ident: pthread_self() as an integer on POSIX,
 * GetCurrentThreadId() on Windows.  Non-zero; unique among running threads
 * of the process; may be reused after a thread ends. */
uint64_t lt_get_ident(void);

/* The kernel's id of the calling thread (Linux gettid, macOS
 * pthread_threadid_np, FreeBSD pthread_getthreadid_np, OpenBSD getthrid,
 * NetBSD _lwp_self, Windows GetCurrentThreadId).  Right in a forked child
 * too.  0 where the platform has no such id (see lt_have_native_id). */
uint64_t lt_get_native_id(void);

/* 1 where lt_get_native_id() gives the kernel's id, 0 where it returns 0. */
int lt_have_native_id(void);

/* ---- stack size ----------------------------------------------------------- */

/* The stack size lt_thread_start() will ask for, in bytes; 0 means the
 * library's default (lt_stack_size_default()). */
size_t lt_stack_size_get(void);

/* Sets the stack size for threads started later.  0 restores the default;
 * any other value must be at least LT_STACK_SIZE_MIN and accepted by the
 * platform (POSIX: pthread_attr_setstacksize; Windows: below 256 MiB).
 * Returns LT_OK, LT_EINVAL (the setting is unchanged) or LT_ENOTSUP. */
int lt_stack_size_set(size_t size);

/* The stack size a thread gets when lt_stack_size_get() is 0, in bytes; 0
 * means the operating system's default, which is large enough here (glibc:
 * RLIMIT_STACK).  Where the system default is too small for an interpreter,
 * the library picks its own: 16 MiB on macOS, 1 MiB on musl. */
size_t lt_stack_size_default(void);

#ifdef __cplusplus
}
#endif

#endif /* LOWTHREAD_H */
