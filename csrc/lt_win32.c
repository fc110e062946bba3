/*
 * lt_win32.c -- the Windows back-end of lowthread (see lowthread.h).
 *
 * Everything here is Win32: SRWLOCK + CONDITION_VARIABLE for the locks and
 * the thread registry, QueryPerformanceCounter for the clock, _beginthreadex
 * for threads and a TLS slot for the per-thread start-up flag.  It needs
 * Windows Vista or later and compiles with MSVC and with mingw-w64; thread
 * names need Windows 10 1607 (looked up at run time).
 *
 * Waits on Windows cannot be interrupted: LT_WAIT_INTR is accepted and
 * ignored, as CPython <= 3.13 ignores intr_flag in thread_nt.h.  Ctrl-C is
 * seen by the caller only when the wait ends (acquired or timed out).
 */
#ifdef _WIN32

/* SRWLOCK, CONDITION_VARIABLE and InitOnce* need Vista (0x0600). */
#if !defined(_WIN32_WINNT) || _WIN32_WINNT < 0x0600
#undef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <errno.h>
#include <process.h>
#include <stdlib.h>
#include <string.h>

#include "lt_internal.h"

/* The longest finite wait SleepConditionVariableSRW accepts, in ms
 * (INFINITE is 0xFFFFFFFF).  LT_TIMEOUT_MAX_US is this times 1000: longer
 * timeouts are clamped to it, as lowthread.h says. */
#define LT__WAIT_MS_MAX 0xFFFFFFFEUL

/* Stack sizes: strictly below 256 MiB, as CPython's thread_nt.h. */
#define LT__STACK_SIZE_MAX 0x10000000UL

/* ---- clock ------------------------------------------------------------- */

const char *lt_backend(void) { return "win32"; }

/* QueryPerformanceCounter and its frequency, in ticks.  Both calls cannot
 * fail on Windows XP and later.  The frequency is fixed at boot; reading it
 * each time costs about as little as a cached copy and needs no
 * synchronisation. */
static int64_t lt__qpc_now(void)
{
    LARGE_INTEGER now;

    QueryPerformanceCounter(&now);
    return (int64_t)now.QuadPart;
}

static int64_t lt__qpc_hz(void)
{
    LARGE_INTEGER freq;

    QueryPerformanceFrequency(&freq);
    return (int64_t)freq.QuadPart;
}

int64_t lt_monotonic_us(void)
{
    int64_t ticks = lt__qpc_now(), hz = lt__qpc_hz();

    /* Split the division so that ticks * 1e6 never overflows, whatever the
     * uptime: the remainder is < hz, and hz * 1e6 fits easily. */
    return (ticks / hz) * 1000000 + ((ticks % hz) * 1000000) / hz;
}

/* A wait deadline, kept in QueryPerformanceCounter ticks rather than in
 * lt_monotonic_us() microseconds: a deadline rounded to whole microseconds
 * could pass up to 1 us before the requested time on a finer clock (QPC
 * itself, Python's time.perf_counter). */
typedef struct {
    int64_t at; /* QPC ticks; unused when forever */
    int64_t hz;
    int forever;
} lt__deadline_t;

/* Sets d to timeout_us (> 0, at most LT_TIMEOUT_MAX_US) from now, or to
 * never when timeout_us < 0.  Microseconds become ticks rounded up, with
 * the multiplication split so that it cannot overflow (4.3e12 us times a
 * 10 MHz or even GHz frequency would). */
static void lt__deadline_set(lt__deadline_t *d, int64_t timeout_us)
{
    int64_t hz, frac;

    d->forever = timeout_us < 0;
    d->at = 0;
    d->hz = 1;
    if (d->forever)
        return;
    hz = lt__qpc_hz();
    frac = (timeout_us % 1000000) * hz;
    d->hz = hz;
    d->at = lt__qpc_now() + (timeout_us / 1000000) * hz + frac / 1000000 +
            (frac % 1000000 != 0);
}

/* Waits on cv (the caller holds mu exclusively) until woken, or until
 * about the deadline.  Returns LT_OK after a wait (woken, spuriously or
 * not, or the wait timed out: the caller re-checks its predicate, then
 * calls again), LT_TIMEDOUT without waiting when the deadline has passed,
 * or LT_ESYS (GetLastError() holds the system's code).
 * The time left is rounded up to whole milliseconds and clamped to the
 * longest finite wait.  Windows waits end on timer ticks (~15.6 ms by
 * default) and can end ~0.5 ms early, so only the clock, read here on the
 * next call, decides that the deadline has passed. */
static int lt__deadline_wait(const lt__deadline_t *d, CONDITION_VARIABLE *cv,
                             SRWLOCK *mu)
{
    DWORD ms = INFINITE;

    if (!d->forever) {
        int64_t left = d->at - lt__qpc_now(), wait_ms;

        if (left <= 0)
            return LT_TIMEDOUT;
        wait_ms = (left / d->hz) * 1000 + ((left % d->hz) * 1000) / d->hz +
                  (((left % d->hz) * 1000) % d->hz != 0);
        if (wait_ms > (int64_t)LT__WAIT_MS_MAX)
            wait_ms = (int64_t)LT__WAIT_MS_MAX;
        ms = (DWORD)wait_ms;
    }
    if (SleepConditionVariableSRW(cv, mu, ms, 0) ||
        GetLastError() == ERROR_TIMEOUT)
        return LT_OK;
    return LT_ESYS;
}

/* ---- locks ------------------------------------------------------------- */

/* A binary semaphore: the flag says whether the lock is held, mu guards it
 * and cv wakes the waiters.  It is never mapped straight onto the SRWLOCK,
 * because an SRWLOCK must be released by the thread that acquired it while
 * lt_lock_release() may be called from any thread. */
struct lt_lock_s {
    SRWLOCK mu;
    CONDITION_VARIABLE cv;
    int locked;
};

size_t lt_lock_sizeof(void)
{
    return sizeof(struct lt_lock_s);
}

int lt_lock_wait_slice_ms(void)
{
    return 0; /* waits are not interruptible here; they never return LT_INTR */
}

static void lt__lock_init(lt_lock_t *lock)
{
    InitializeSRWLock(&lock->mu);
    InitializeConditionVariable(&lock->cv);
    lock->locked = 0;
}

int lt_lock_new(lt_lock_t **lockp)
{
    lt_lock_t *lock;

    if (lockp == NULL)
        return LT_EINVAL;
    lock = (lt_lock_t *)malloc(sizeof(*lock));
    if (lock == NULL) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return LT_ENOMEM;
    }
    lt__lock_init(lock);
    *lockp = lock;
    return LT_OK;
}

void lt_lock_free(lt_lock_t *lock)
{
    /* SRWLOCK and CONDITION_VARIABLE own no kernel object: nothing to
     * destroy. */
    free(lock);
}

int lt_lock_acquire(lt_lock_t *lock, int64_t timeout_us, int flags)
{
    lt__deadline_t deadline;
    int rc;

    if (lock == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    /* LT_WAIT_INTR is ignored: Windows waits are not interruptible. */

    AcquireSRWLockExclusive(&lock->mu);
    if (!lock->locked) {
        lock->locked = 1;
        ReleaseSRWLockExclusive(&lock->mu);
        return LT_OK;
    }
    if (timeout_us == 0) {
        ReleaseSRWLockExclusive(&lock->mu);
        return LT_TIMEDOUT;
    }
    if (timeout_us > LT_TIMEOUT_MAX_US)
        timeout_us = LT_TIMEOUT_MAX_US;
    /* Set after the call began, so the wait lasts at least timeout_us from
     * any clock reading the caller took before the call. */
    lt__deadline_set(&deadline, timeout_us);
    for (;;) {
        /* The flag is checked before the clock: a release that races with
         * the timeout hands the lock over; the token is never dropped. */
        if (!lock->locked) {
            lock->locked = 1;
            rc = LT_OK;
            break;
        }
        rc = lt__deadline_wait(&deadline, &lock->cv, &lock->mu);
        if (rc != LT_OK)
            break;
    }
    if (rc == LT_ESYS) {
        DWORD err = GetLastError();
        ReleaseSRWLockExclusive(&lock->mu);
        SetLastError(err);
    } else {
        ReleaseSRWLockExclusive(&lock->mu);
    }
    return rc;
}

int lt_lock_release(lt_lock_t *lock)
{
    if (lock == NULL)
        return LT_EINVAL;
    AcquireSRWLockExclusive(&lock->mu);
    if (!lock->locked) {
        ReleaseSRWLockExclusive(&lock->mu);
        return LT_ENOTLOCKED;
    }
    lock->locked = 0;
    /* Wake while holding mu: once mu is released a woken waiter may take
     * the lock and free it, so the releaser must not touch it after
     * (bpo-38106). */
    WakeConditionVariable(&lock->cv);
    ReleaseSRWLockExclusive(&lock->mu);
    return LT_OK;
}

int lt_lock_locked(const lt_lock_t *lock)
{
    /* The lock is never a const object (lt_lock_new allocates it), so
     * dropping const is valid; it goes through uintptr_t to say so to
     * -Wcast-qual.  Taking mu shared avoids a data race on the flag. */
    lt_lock_t *l = (lt_lock_t *)(uintptr_t)lock;
    int locked;

    if (l == NULL)
        return 0;
    AcquireSRWLockShared(&l->mu);
    locked = l->locked;
    ReleaseSRWLockShared(&l->mu);
    return locked != 0;
}

int lt_lock_at_fork_reinit(lt_lock_t *lock)
{
    /* Windows has no fork(); this is kept valid (it makes the lock a fresh
     * unlocked lock in place) for callers that share code with POSIX.  Like
     * lt_lock_free, it must not be called while a thread uses the lock.
     * SRWLOCK and CONDITION_VARIABLE hold no resources, so nothing leaks. */
    if (lock == NULL)
        return LT_EINVAL;
    lt__lock_init(lock);
    return LT_OK;
}

/* ---- threads ----------------------------------------------------------- */

/* The registry that lt_threads_close() waits on.  reg_mu guards closed,
 * starting and stack_size; reg_cv is broadcast whenever starting drops
 * after closed was set.  starting counts the threads that passed the gate
 * in lt__bootstrap (found the registry open) and have neither called
 * lt_thread_started() nor returned from fn. */
static SRWLOCK lt__reg_mu = SRWLOCK_INIT;
static CONDITION_VARIABLE lt__reg_cv = CONDITION_VARIABLE_INIT;
static int lt__reg_closed = 0;
static long lt__reg_starting = 0;
static size_t lt__stack_size = 0;

/* A TLS slot whose value is non-NULL in a thread that is counted in
 * lt__reg_starting.  TLS (not FLS) because the flag belongs to the OS
 * thread; TlsAlloc (not __declspec(thread) or __thread) because it is plain
 * C for both MSVC and mingw and works in a DLL loaded at run time. */
static INIT_ONCE lt__tls_once = INIT_ONCE_STATIC_INIT;
static DWORD lt__tls_index = TLS_OUT_OF_INDEXES;
static char lt__tls_pending; /* its address is the slot's "counted" value */

static BOOL CALLBACK lt__tls_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    DWORD index;

    (void)once;
    (void)param;
    (void)ctx;
    index = TlsAlloc();
    if (index == TLS_OUT_OF_INDEXES)
        return FALSE; /* not marked done: a later call retries */
    lt__tls_index = index;
    return TRUE;
}

/* The heap block that carries fn and arg to the new thread. */
struct lt__boot {
    lt_thread_fn fn;
    void *arg;
    lt_thread_t *handle; /* NULL for a detached thread */
};

/* What the handle of a joinable thread still owes the system. */
enum {
    LT__OS_OWNED,   /* the HANDLE is to be waited for and closed, or closed */
    LT__OS_JOINING, /* a joiner waits for it, outside lt__reg_mu */
    LT__OS_RELEASED /* closed: nothing left to do */
};

struct lt_thread_s {
    HANDLE thread;
    DWORD id;        /* GetCurrentThreadId() inside the thread */
    lt_lock_t *done; /* held until the done event is set */
    /* Guarded by lt__reg_mu. */
    int finished; /* the done event is set */
    int os;       /* LT__OS_* */
    int refs;     /* the caller's, and the thread's until it ends */
};

/* Broadcast (under lt__reg_mu) when an OS join ends. */
static CONDITION_VARIABLE lt__join_cv = CONDITION_VARIABLE_INIT;

static void lt__handle_destroy(lt_thread_t *h)
{
    lt_lock_free(h->done);
    free(h);
}

/* The end of a joinable thread: sets the done event, then gives up the
 * thread's reference to the handle, which the caller may have freed. */
static void lt__thread_finish(lt_thread_t *h)
{
    int last;

    AcquireSRWLockExclusive(&lt__reg_mu);
    h->finished = 1;
    ReleaseSRWLockExclusive(&lt__reg_mu);
    /* Wakes the joiners; LT_ENOTLOCKED after lt_thread_set_done(), which
     * released it already. */
    lt_lock_release(h->done);
    AcquireSRWLockExclusive(&lt__reg_mu);
    last = --h->refs == 0;
    ReleaseSRWLockExclusive(&lt__reg_mu);
    if (last)
        lt__handle_destroy(h);
}

static unsigned __stdcall lt__bootstrap(void *p)
{
    struct lt__boot *boot = (struct lt__boot *)p;
    lt_thread_fn fn = boot->fn;
    void *arg = boot->arg;
    lt_thread_t *handle = boot->handle;
    int closed;

    free(boot);

    /* The gate: once closed, fn is never entered and arg is abandoned. */
    AcquireSRWLockExclusive(&lt__reg_mu);
    closed = lt__reg_closed;
    if (!closed)
        lt__reg_starting++;
    ReleaseSRWLockExclusive(&lt__reg_mu);
    if (!closed) {
        /* lt__start allocated the index before creating this thread. */
        TlsSetValue(lt__tls_index, &lt__tls_pending);
        fn(arg);
        lt_thread_started(); /* fn returned: started up, if not said already */
    }
    if (handle != NULL)
        lt__thread_finish(handle);
    return 0;
}

/* Windows has no fork(): there is nothing to keep out. */
void lt_fork_gate_enter(void) {}

void lt_fork_gate_leave(void) {}

void lt_thread_started(void)
{
    DWORD err = GetLastError(); /* TlsGetValue clears it: keep the caller's */
    BOOL pending = FALSE;

    /* No index yet means that lt_thread_start never succeeded in starting
     * a thread, so this thread cannot be one of ours.  CHECK_ONLY never
     * runs the initialisation. */
    if (!InitOnceBeginInitialize(&lt__tls_once, INIT_ONCE_CHECK_ONLY,
                                 &pending, NULL) ||
        pending) {
        SetLastError(err);
        return;
    }
    if (TlsGetValue(lt__tls_index) != NULL) {
        TlsSetValue(lt__tls_index, NULL);
        AcquireSRWLockExclusive(&lt__reg_mu);
        lt__reg_starting--;
        /* Only lt_threads_close() waits, and only once closed is set.  Wake
         * at every decrement, not just at 0: a closer that is itself still
         * starting up waits for the count to reach 1. */
        if (lt__reg_closed)
            WakeAllConditionVariable(&lt__reg_cv);
        ReleaseSRWLockExclusive(&lt__reg_mu);
    }
    SetLastError(err);
}

/* What lt_thread_start() and lt_thread_start_joinable() share: the gate,
 * the TLS slot, the stack size and the thread itself.  handle is NULL for a
 * detached thread; on failure the caller still owns it.  On success the
 * thread's HANDLE is stored in *thread and its id in *tid. */
static int lt__start(lt_thread_fn fn, void *arg, lt_thread_t *handle,
                     HANDLE *thread, unsigned *tid)
{
    struct lt__boot *boot;
    uintptr_t h;
    size_t stack_size;
    int closed;

    AcquireSRWLockShared(&lt__reg_mu);
    closed = lt__reg_closed;
    stack_size = lt__stack_size;
    ReleaseSRWLockShared(&lt__reg_mu);
    if (closed)
        return LT_ECLOSED;
    /* A close that happens from here on is caught by the gate in
     * lt__bootstrap: the thread starts but never enters fn. */

    if (!InitOnceExecuteOnce(&lt__tls_once, lt__tls_init, NULL, NULL))
        return LT_EAGAIN; /* no TLS slot left; GetLastError() says so */

    boot = (struct lt__boot *)malloc(sizeof(*boot));
    if (boot == NULL) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return LT_ENOMEM;
    }
    boot->fn = fn;
    boot->arg = arg;
    boot->handle = handle;

    /* stack_size is 0 (the executable's default) or below 256 MiB, so it
     * fits an unsigned.  With STACK_SIZE_PARAM_IS_A_RESERVATION it is the
     * address space reserved, not the memory committed up front. */
    h = _beginthreadex(NULL, (unsigned)stack_size, lt__bootstrap, boot,
                       stack_size != 0 ? STACK_SIZE_PARAM_IS_A_RESERVATION : 0,
                       tid);
    if (h == 0) {
        DWORD err = GetLastError();
        /* The system refused the thread, whatever its reason (as in
         * lt_posix.c): LT_ENOMEM is kept for this library's own
         * allocations. */
        free(boot);
        SetLastError(err);
        return LT_EAGAIN;
    }
    *thread = (HANDLE)h;
    return LT_OK;
}

int lt_thread_start(lt_thread_fn fn, void *arg, uint64_t *ident_out)
{
    HANDLE thread;
    unsigned tid = 0;
    int rc;

    if (fn == NULL)
        return LT_EINVAL;
    rc = lt__start(fn, arg, NULL, &thread, &tid);
    if (rc != LT_OK)
        return rc;
    /* Detached: the thread runs on without its handle. */
    CloseHandle(thread);
    /* The id _beginthreadex reports is the one GetCurrentThreadId() gives
     * inside the thread; it stays right even if the thread has ended. */
    if (ident_out != NULL)
        *ident_out = (uint64_t)tid;
    return LT_OK;
}

int lt_thread_start_joinable(lt_thread_fn fn, void *arg, lt_thread_t **thread_out,
                             uint64_t *ident_out)
{
    lt_thread_t *h;
    unsigned tid = 0;
    int rc;

    if (fn == NULL || thread_out == NULL)
        return LT_EINVAL;
    h = (lt_thread_t *)malloc(sizeof(*h));
    if (h == NULL) {
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return LT_ENOMEM;
    }
    rc = lt_lock_new(&h->done);
    if (rc != LT_OK) {
        free(h);
        return rc;
    }
    lt_lock_acquire(h->done, 0, 0); /* a new lock: always free */
    h->finished = 0;
    h->os = LT__OS_OWNED;
    h->refs = 2;
    rc = lt__start(fn, arg, h, &h->thread, &tid);
    if (rc != LT_OK) {
        DWORD err = GetLastError();
        lt__handle_destroy(h);
        SetLastError(err);
        return rc;
    }
    /* The thread never reads these, so they may be stored after it runs. */
    h->id = (DWORD)tid;
    if (ident_out != NULL)
        *ident_out = (uint64_t)tid;
    *thread_out = h;
    return LT_OK;
}

int lt_thread_join(lt_thread_t *h, int64_t timeout_us, int flags)
{
    int finished, join_now = 0, rc;
    DWORD wait;

    if (h == NULL || (flags & ~LT_WAIT_INTR) != 0)
        return LT_EINVAL;
    AcquireSRWLockShared(&lt__reg_mu);
    finished = h->finished;
    ReleaseSRWLockShared(&lt__reg_mu);
    /* The id cannot have been reused by another thread yet: the handle
     * keeps the thread object open until the OS join or a detach, and both
     * set finished first (a free ends the handle's use). */
    if (!finished && h->id == GetCurrentThreadId())
        return LT_EDEADLK;

    if (!finished) {
        rc = lt_lock_acquire(h->done, timeout_us, flags);
        if (rc == LT_OK) {
            /* Released again at once: the event stays set for every other
             * joiner, present and future. */
            lt_lock_release(h->done);
        } else if (rc == LT_TIMEDOUT) {
            /* Another joiner may have held the lock for that instant. */
            AcquireSRWLockShared(&lt__reg_mu);
            finished = h->finished;
            ReleaseSRWLockShared(&lt__reg_mu);
            if (!finished)
                return rc;
        } else {
            return rc;
        }
    }

    /* The join-once guard: the wait runs outside the lock (the thread takes
     * it on its way out); a concurrent joiner waits for it, briefly, since
     * the thread is ending. */
    AcquireSRWLockExclusive(&lt__reg_mu);
    while (h->os == LT__OS_JOINING)
        SleepConditionVariableSRW(&lt__join_cv, &lt__reg_mu, INFINITE, 0);
    if (h->os == LT__OS_OWNED) {
        h->os = LT__OS_JOINING;
        join_now = 1;
    }
    h->finished = 1;
    ReleaseSRWLockExclusive(&lt__reg_mu);
    if (!join_now)
        return LT_OK;
    wait = WaitForSingleObject(h->thread, INFINITE);
    if (wait == WAIT_OBJECT_0) {
        CloseHandle(h->thread);
        AcquireSRWLockExclusive(&lt__reg_mu);
        h->os = LT__OS_RELEASED;
        WakeAllConditionVariable(&lt__join_cv);
        ReleaseSRWLockExclusive(&lt__reg_mu);
        return LT_OK;
    } else {
        /* Only an invalid handle fails: keep it owned for lt_thread_free. */
        DWORD err = GetLastError();
        AcquireSRWLockExclusive(&lt__reg_mu);
        h->os = LT__OS_OWNED;
        WakeAllConditionVariable(&lt__join_cv);
        ReleaseSRWLockExclusive(&lt__reg_mu);
        SetLastError(err);
        return LT_ESYS;
    }
}

int lt_thread_is_done(const lt_thread_t *h)
{
    int done;

    if (h == NULL)
        return 0;
    AcquireSRWLockShared(&lt__reg_mu);
    done = h->finished;
    ReleaseSRWLockShared(&lt__reg_mu);
    return done != 0;
}

int lt_thread_set_done(lt_thread_t *h)
{
    int detach = 0;

    if (h == NULL)
        return LT_EINVAL;
    AcquireSRWLockExclusive(&lt__reg_mu);
    h->finished = 1;
    if (h->os == LT__OS_OWNED) {
        h->os = LT__OS_RELEASED;
        detach = 1;
    }
    ReleaseSRWLockExclusive(&lt__reg_mu);
    if (detach)
        CloseHandle(h->thread);
    /* Wakes the joiners (they find the OS thread released); LT_ENOTLOCKED
     * when the event was set already. */
    lt_lock_release(h->done);
    return LT_OK;
}

void lt_thread_free(lt_thread_t *h)
{
    int detach = 0, last;

    if (h == NULL)
        return;
    AcquireSRWLockExclusive(&lt__reg_mu);
    if (h->os == LT__OS_OWNED) {
        h->os = LT__OS_RELEASED;
        detach = 1;
    }
    last = --h->refs == 0;
    ReleaseSRWLockExclusive(&lt__reg_mu);
    if (detach)
        CloseHandle(h->thread);
    if (last)
        lt__handle_destroy(h);
}

int lt_threads_close(int64_t timeout_us)
{
    lt__deadline_t deadline;
    long self = 0;
    BOOL pending = FALSE;
    DWORD err = GetLastError();
    int rc;

    /* A thread of ours that closes before its own start-up is over would
     * wait for itself: leave it out of the count it waits for. */
    if (InitOnceBeginInitialize(&lt__tls_once, INIT_ONCE_CHECK_ONLY, &pending,
                                NULL) &&
        !pending && TlsGetValue(lt__tls_index) != NULL)
        self = 1;
    SetLastError(err);

    if (timeout_us > LT_TIMEOUT_MAX_US)
        timeout_us = LT_TIMEOUT_MAX_US;
    lt__deadline_set(&deadline, timeout_us); /* unused when timeout_us is 0 */
    AcquireSRWLockExclusive(&lt__reg_mu);
    lt__reg_closed = 1;
    for (;;) {
        if (lt__reg_starting <= self) {
            rc = LT_OK;
            break;
        }
        if (timeout_us == 0) {
            rc = LT_TIMEDOUT;
            break;
        }
        rc = lt__deadline_wait(&deadline, &lt__reg_cv, &lt__reg_mu);
        if (rc != LT_OK) {
            /* LT_ESYS cannot happen with valid objects; the answer that is
             * safe for the caller is "some thread is still starting up". */
            rc = LT_TIMEDOUT;
            break;
        }
    }
    ReleaseSRWLockExclusive(&lt__reg_mu);
    return rc;
}

/* ---- identity ---------------------------------------------------------- */

uint64_t lt_get_ident(void)
{
    /* The thread id, never GetCurrentThread(): that is a pseudo-handle with
     * the same value in every thread. */
    return (uint64_t)GetCurrentThreadId();
}

uint64_t lt_get_native_id(void) { return (uint64_t)GetCurrentThreadId(); }

int lt_have_native_id(void) { return 1; }

/* ---- thread names -------------------------------------------------------- */

/* The longest thread description, in UTF-16 units: a UNICODE_STRING holds
 * at most 32767, and the kernel keeps the NUL out of it. */
#define LT__NAME_MAX 32766

typedef HRESULT(WINAPI *lt__set_desc_fn)(HANDLE, PCWSTR);
typedef HRESULT(WINAPI *lt__get_desc_fn)(HANDLE, PWSTR *);

/* A function of kernel32 that older Windows lacks, or NULL.  The module is
 * always loaded; its handle needs no reference. */
static FARPROC lt__kernel32(const char *name)
{
    HMODULE k32 = GetModuleHandleW(L"kernel32.dll");

    return k32 != NULL ? GetProcAddress(k32, name) : NULL;
}

/* The casts go through void (*)(void), the type that the compilers accept
 * as a stand-in for any function pointer. */
static lt__set_desc_fn lt__set_desc(void)
{
    return (lt__set_desc_fn)(void (*)(void))lt__kernel32("SetThreadDescription");
}

static lt__get_desc_fn lt__get_desc(void)
{
    return (lt__get_desc_fn)(void (*)(void))lt__kernel32("GetThreadDescription");
}

size_t lt_thread_name_max(void)
{
    /* In UTF-8 bytes: a byte never makes more than one UTF-16 unit. */
    return lt__set_desc() != NULL ? LT__NAME_MAX : 0;
}

int lt_thread_set_name(const char *name)
{
    lt__set_desc_fn set_desc = lt__set_desc();
    WCHAR *wide;
    size_t n;
    int len;
    HRESULT hr;

    if (name == NULL)
        return LT_EINVAL;
    if (set_desc == NULL)
        return LT_ENOTSUP;
    n = lt__utf8_prefix(name, LT__NAME_MAX);
    if (n == 0) {
        hr = set_desc(GetCurrentThread(), L"");
    } else {
        len = MultiByteToWideChar(CP_UTF8, 0, name, (int)n, NULL, 0);
        if (len <= 0)
            return LT_ESYS;
        wide = (WCHAR *)malloc(((size_t)len + 1) * sizeof(WCHAR));
        if (wide == NULL) {
            SetLastError(ERROR_NOT_ENOUGH_MEMORY);
            return LT_ENOMEM;
        }
        MultiByteToWideChar(CP_UTF8, 0, name, (int)n, wide, len);
        wide[len] = 0;
        hr = set_desc(GetCurrentThread(), wide);
        free(wide);
    }
    if (FAILED(hr)) {
        SetLastError((DWORD)hr);
        return LT_ESYS;
    }
    return LT_OK;
}

int lt_thread_get_name(char *buf, size_t size)
{
    lt__get_desc_fn get_desc = lt__get_desc();
    PWSTR wide = NULL;
    char *utf8;
    int len;
    size_t n;
    HRESULT hr;

    if (buf == NULL || size == 0)
        return LT_EINVAL;
    if (get_desc == NULL)
        return LT_ENOTSUP;
    hr = get_desc(GetCurrentThread(), &wide);
    if (FAILED(hr)) {
        SetLastError((DWORD)hr);
        return LT_ESYS;
    }
    /* Converted whole, then cut on a character boundary: converting
     * straight into a short buf would fail rather than cut. */
    len = WideCharToMultiByte(CP_UTF8, 0, wide, -1, NULL, 0, NULL, NULL);
    if (len <= 0) {
        DWORD err = GetLastError();
        LocalFree(wide);
        SetLastError(err);
        return LT_ESYS;
    }
    utf8 = (char *)malloc((size_t)len);
    if (utf8 == NULL) {
        LocalFree(wide);
        SetLastError(ERROR_NOT_ENOUGH_MEMORY);
        return LT_ENOMEM;
    }
    WideCharToMultiByte(CP_UTF8, 0, wide, -1, utf8, len, NULL, NULL);
    LocalFree(wide);
    n = lt__utf8_prefix(utf8, size - 1);
    memcpy(buf, utf8, n);
    buf[n] = '\0';
    free(utf8);
    return LT_OK;
}

/* ---- stack size -------------------------------------------------------- */

size_t lt_stack_size_get(void)
{
    size_t size;

    AcquireSRWLockShared(&lt__reg_mu);
    size = lt__stack_size;
    ReleaseSRWLockShared(&lt__reg_mu);
    return size;
}

int lt_stack_size_set(size_t size)
{
    if (size != 0 &&
        (size < LT_STACK_SIZE_MIN || size >= (size_t)LT__STACK_SIZE_MAX))
        return LT_EINVAL;
    AcquireSRWLockExclusive(&lt__reg_mu);
    lt__stack_size = size;
    ReleaseSRWLockExclusive(&lt__reg_mu);
    return LT_OK;
}

size_t lt_stack_size_default(void)
{
    /* 0: the stack reservation in the executable's header, as CPython's
     * thread_nt.h uses (its python.exe asks for a large enough one). */
    return 0;
}

#else /* !_WIN32 */

/* ISO C forbids an empty translation unit (-pedantic). */
typedef int lt__win32_unused;

#endif /* _WIN32 */
