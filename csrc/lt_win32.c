/*
 * lt_win32.c -- the Windows back-end of lowthread (see lowthread.h).
 *
 * Everything here is Win32: SRWLOCK + CONDITION_VARIABLE for the locks and
 * the thread registry, QueryPerformanceCounter for the clock, and the layer
 * under lt_thread.c: _beginthreadex for threads and a TLS slot for what a
 * thread knows of itself.  It needs Windows Vista or later and compiles
 * with MSVC and with mingw-w64; thread names need Windows 10 1607 (looked
 * up at run time).
 *
 * A wait with LT_WAIT_INTR ends with LT_INTR when the thread is
 * interrupted (lt_thread_interrupt): the interrupter broadcasts the
 * condition variable of the lock the thread waits on, after it set the
 * record's pending flag, which the waiter reads under the lock's SRWLOCK.
 * The main thread's first such wait installs a console control handler
 * that interrupts it on Ctrl-C and Ctrl-Break, as CPython 3.14 makes its
 * main thread's lock waits wait on the SIGINT event too.
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

/* Wait deadlines (lt__deadline_t) are kept in QueryPerformanceCounter ticks
 * rather than in lt_monotonic_us() microseconds: a deadline rounded to whole
 * microseconds could pass up to 1 us before the requested time on a finer
 * clock (QPC itself, Python's time.perf_counter).
 * Microseconds become ticks rounded up, with the multiplication split so
 * that it cannot overflow (4.3e12 us times a 10 MHz or even GHz frequency
 * would). */
void lt__deadline_set(lt__deadline_t *d, int64_t timeout_us)
{
    int64_t hz, frac;

    d->forever = timeout_us < 0;
    d->at = 0;
    d->hz = 1;
    if (d->forever)
        return;
    if (timeout_us > LT_TIMEOUT_MAX_US)
        timeout_us = LT_TIMEOUT_MAX_US;
    hz = lt__qpc_hz();
    frac = (timeout_us % 1000000) * hz;
    d->hz = hz;
    d->at = lt__qpc_now() + (timeout_us / 1000000) * hz + frac / 1000000 +
            (frac % 1000000 != 0);
}

/* The milliseconds a wait for the deadline may sleep: the time left rounded
 * up to whole milliseconds, clamped to the longest finite wait; INFINITE
 * for no deadline; 0 with *passed set once the deadline has passed.
 * Windows waits end on timer ticks (~15.6 ms by default) and can end
 * ~0.5 ms early, so only the clock, read here on the next call, decides
 * that the deadline has passed. */
static DWORD lt__deadline_ms(const lt__deadline_t *d, int *passed)
{
    int64_t left, wait_ms;

    *passed = 0;
    if (d->forever)
        return INFINITE;
    left = d->at - lt__qpc_now();
    if (left <= 0) {
        *passed = 1;
        return 0;
    }
    wait_ms = (left / d->hz) * 1000 + ((left % d->hz) * 1000) / d->hz +
              (((left % d->hz) * 1000) % d->hz != 0);
    if (wait_ms > (int64_t)LT__WAIT_MS_MAX)
        wait_ms = (int64_t)LT__WAIT_MS_MAX;
    return (DWORD)wait_ms;
}

/* Waits on cv (the caller holds mu exclusively) until woken, or until
 * about the deadline.  Returns LT_OK after a wait (woken, spuriously or
 * not, or the wait timed out: the caller re-checks its predicate, then
 * calls again), LT_TIMEDOUT without waiting when the deadline has passed,
 * or LT_ESYS (GetLastError() holds the system's code). */
static int lt__deadline_wait(const lt__deadline_t *d, CONDITION_VARIABLE *cv,
                             SRWLOCK *mu)
{
    int passed;
    DWORD ms = lt__deadline_ms(d, &passed);

    if (passed)
        return LT_TIMEDOUT;
    if (SleepConditionVariableSRW(cv, mu, ms, 0) ||
        GetLastError() == ERROR_TIMEOUT)
        return LT_OK;
    return LT_ESYS;
}

/* ---- waiter records' wakes ------------------------------------------------ */

int lt_lock_wait_slice_ms(void)
{
    return 0; /* no signals: only interrupts end a wait, at once */
}

/* The thread that runs the console control handlers for the last Ctrl-C or
 * Ctrl-Break, or NULL; only through Interlocked calls. */
static void *volatile lt__ctrl_thread;

/* The console control handler: Ctrl-C and Ctrl-Break interrupt the main
 * thread.  FALSE lets the handlers installed before it (the C runtime's,
 * which raises SIGINT or SIGBREAK) run too, after it: so the interrupted
 * wait, before it returns, waits for this thread to end (see
 * lt__ctrl_handlers_done).  Windows runs it in a thread of its own, where
 * lt_interrupt_main() may block briefly. */
static BOOL WINAPI lt__console_ctrl(DWORD event)
{
    if (event == CTRL_C_EVENT || event == CTRL_BREAK_EVENT) {
        HANDLE self = OpenThread(SYNCHRONIZE, FALSE, GetCurrentThreadId());
        HANDLE old = InterlockedExchangePointer((void *volatile *)&lt__ctrl_thread, self);

        if (old != NULL)
            CloseHandle(old);
        (void)lt_interrupt_main();
    }
    return FALSE;
}

/* In the main thread, as an interrupted wait returns: lets the handlers
 * that run after the library's (the C runtime's, and through it the signal
 * handler of a runtime such as CPython, which marks its own handler
 * pending) finish first, for at most 100 ms, so that the caller finds what
 * they did. */
static void lt__ctrl_handlers_done(void)
{
    HANDLE t = InterlockedExchangePointer((void *volatile *)&lt__ctrl_thread, NULL);

    if (t != NULL) {
        WaitForSingleObject(t, 100);
        CloseHandle(t);
    }
}

static INIT_ONCE lt__ctrl_once = INIT_ONCE_STATIC_INIT;

static BOOL CALLBACK lt__ctrl_install(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    /* A process without a console fails here; it has no Ctrl-C to see. */
    (void)SetConsoleCtrlHandler(lt__console_ctrl, TRUE);
    return TRUE;
}

/* A record's wake is an auto-reset event: a SetEvent that finds no wait is
 * kept (once) for the next one. */
int lt__wake_init(lt__waiter_t *w)
{
    w->wake = CreateEventW(NULL, FALSE, FALSE, NULL);
    return w->wake != NULL ? LT_OK : LT_ESYS;
}

void lt__wake_fini(lt__waiter_t *w)
{
    CloseHandle(w->wake);
}

void lt__wake_at_fork_child(lt__waiter_t *w)
{
    (void)w; /* Windows has no fork() */
}

void lt__wake(lt__waiter_t *w)
{
    SetEvent(w->wake);
}

int lt__wake_wait(lt__waiter_t *w, const lt__deadline_t *d, int intr)
{
    int passed;
    DWORD ms, r;

    if (intr && lt__waiter_is_main(w))
        InitOnceExecuteOnce(&lt__ctrl_once, lt__ctrl_install, NULL, NULL);
    for (;;) {
        ms = lt__deadline_ms(d, &passed);
        if (passed)
            return LT_TIMEDOUT;
        r = WaitForSingleObject(w->wake, ms);
        if (r == WAIT_OBJECT_0)
            return LT_OK;
        if (r != WAIT_TIMEOUT)
            return LT_ESYS;
    }
}

void lt__wake_interrupted(lt__waiter_t *w)
{
    if (lt__waiter_is_main(w))
        lt__ctrl_handlers_done();
}

/* ---- the parking lot's mutexes -------------------------------------------- */

void lt__mutex_init(lt__mutex_t *m)
{
    InitializeSRWLock((PSRWLOCK)(void *)m);
}

void lt__mutex_lock(lt__mutex_t *m)
{
    AcquireSRWLockExclusive((PSRWLOCK)(void *)m);
}

void lt__mutex_unlock(lt__mutex_t *m)
{
    ReleaseSRWLockExclusive((PSRWLOCK)(void *)m);
}

/* ---- threads: the layer under lt_thread.c --------------------------------- */

static SRWLOCK lt__reg_mu = SRWLOCK_INIT;
static CONDITION_VARIABLE lt__reg_cv[2] = {CONDITION_VARIABLE_INIT,
                                           CONDITION_VARIABLE_INIT};

void lt__reg_lock(void)
{
    AcquireSRWLockExclusive(&lt__reg_mu);
}

void lt__reg_unlock(void)
{
    ReleaseSRWLockExclusive(&lt__reg_mu);
}

int lt__reg_wait(int which, const lt__deadline_t *d)
{
    return lt__deadline_wait(d, &lt__reg_cv[which], &lt__reg_mu);
}

void lt__reg_wake_all(int which)
{
    WakeAllConditionVariable(&lt__reg_cv[which]);
}

/* Windows has no fork(): there is nothing to keep out. */
void lt_fork_gate_enter(void) {}

void lt_fork_gate_leave(void) {}

/* The thread-local slot.  TLS (not FLS) because it belongs to the OS
 * thread; TlsAlloc (not __declspec(thread) or __thread) because it is plain
 * C for both MSVC and mingw and works in a DLL loaded at run time.  It is
 * allocated before the first thread is started. */
static INIT_ONCE lt__tls_once = INIT_ONCE_STATIC_INIT;
static DWORD lt__tls_index = TLS_OUT_OF_INDEXES;

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

int lt__os_threads_prepare(void)
{
    if (!InitOnceExecuteOnce(&lt__tls_once, lt__tls_init, NULL, NULL))
        return LT_EAGAIN; /* no TLS slot left; GetLastError() says so */
    return LT_OK;
}

void *lt__os_tls_get(void)
{
    DWORD err = GetLastError(); /* TlsGetValue clears it: keep the caller's */
    BOOL pending = FALSE;
    void *value = NULL;

    /* No index yet means that no thread was ever started, so that nothing
     * was stored.  CHECK_ONLY never runs the initialisation. */
    if (InitOnceBeginInitialize(&lt__tls_once, INIT_ONCE_CHECK_ONLY, &pending,
                                NULL) &&
        !pending)
        value = TlsGetValue(lt__tls_index);
    SetLastError(err);
    return value;
}

void lt__os_tls_set(void *value)
{
    DWORD err = GetLastError();

    /* Only threads started after lt__os_threads_prepare() store a value. */
    TlsSetValue(lt__tls_index, value);
    SetLastError(err);
}

/* The slot for the record of a thread the library did not start: FLS, for
 * its callback, which Windows calls as such a thread ends (there is no
 * other hook for the end of a thread that a static library can use). */
static INIT_ONCE lt__fls_once = INIT_ONCE_STATIC_INIT;
static DWORD lt__fls_index = FLS_OUT_OF_INDEXES;

static void NTAPI lt__fls_end(PVOID record)
{
    lt__waiter_foreign_end(record);
}

static BOOL CALLBACK lt__fls_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    DWORD index;

    (void)once;
    (void)param;
    (void)ctx;
    index = FlsAlloc(lt__fls_end);
    if (index == FLS_OUT_OF_INDEXES)
        return FALSE; /* a later call retries */
    lt__fls_index = index;
    return TRUE;
}

void *lt__os_foreign_get(void)
{
    DWORD err = GetLastError();
    void *value = NULL;

    if (InitOnceExecuteOnce(&lt__fls_once, lt__fls_init, NULL, NULL))
        value = FlsGetValue(lt__fls_index);
    SetLastError(err);
    return value;
}

int lt__os_foreign_set(void *record)
{
    /* lt__os_foreign_get() came first and made the slot. */
    return lt__fls_index != FLS_OUT_OF_INDEXES && FlsSetValue(lt__fls_index, record)
               ? LT_OK
               : LT_ENOMEM;
}

static unsigned __stdcall lt__win32_main(void *boot)
{
    lt__thread_main(boot);
    return 0;
}

int lt__os_thread_create(lt__os_thread_t *thread, uint64_t *ident,
                         size_t stack_size, int detached, void *boot)
{
    unsigned tid = 0;
    uintptr_t h;

    /* stack_size is 0 (the executable's default) or below 256 MiB, so it
     * fits an unsigned.  With STACK_SIZE_PARAM_IS_A_RESERVATION it is the
     * address space reserved, not the memory committed up front. */
    h = _beginthreadex(NULL, (unsigned)stack_size, lt__win32_main, boot,
                       stack_size != 0 ? STACK_SIZE_PARAM_IS_A_RESERVATION : 0,
                       &tid);
    if (h == 0)
        return LT_EAGAIN;
    /* The id _beginthreadex reports is the one GetCurrentThreadId() gives
     * inside the thread; it stays right even if the thread has ended. */
    *ident = (uint64_t)tid;
    if (detached)
        CloseHandle((HANDLE)h); /* the thread runs on without its handle */
    else
        *thread = (HANDLE)h;
    return LT_OK;
}

int lt__os_thread_join(lt__os_thread_t thread)
{
    if (WaitForSingleObject((HANDLE)thread, INFINITE) != WAIT_OBJECT_0)
        return LT_ESYS; /* only an invalid handle fails */
    CloseHandle((HANDLE)thread);
    return LT_OK;
}

void lt__os_thread_detach(lt__os_thread_t thread)
{
    CloseHandle((HANDLE)thread);
}

unsigned long lt__os_error_get(void)
{
    return GetLastError();
}

void lt__os_error_set(unsigned long code)
{
    SetLastError((DWORD)code);
}

void lt__os_error_nomem(void)
{
    SetLastError(ERROR_NOT_ENOUGH_MEMORY);
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

int lt__os_stack_size_ok(size_t size)
{
    return size < (size_t)LT__STACK_SIZE_MAX;
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
