/*
 * lt_py_entry.h -- the function every thread that lowthread starts runs
 * first, and how interrupt_main() makes a signal's handler pending: through
 * the interpreter's own call, or a pending call where it has none.  Included by
 * the preamble of the cffi module (build_ffi.py), not compiled on its own:
 * it sits in the module's translation unit, beside the extern "Python"
 * entry point that cffi defines there, and with Python.h.
 *
 * On CPython it gives the thread its own thread state for its whole life,
 * so that cffi finds one and makes none itself: cffi keeps the states it
 * makes until another C thread first calls into Python (its "zombie" list),
 * and with them the thread's threading.local values.  This one is cleared
 * and freed as the thread ends, as the interpreter's own threads' are.
 *
 * The state is made by hand, not with PyGILState_Ensure, because the thread
 * makes it without the GIL, holding the interpreter's list lock for a
 * moment: a fork() in that moment gives a child that, on CPython 3.9-3.11,
 * waits for that lock forever as it starts (CPython gh-112275), and on 3.12
 * may inherit a half-linked list.  The interpreter's own threads get their
 * state from the starting thread, under the GIL, and never race a fork.
 * Here the C core's fork gate keeps the two apart.  CPython 3.13's
 * os.fork() holds the list lock itself across fork(), so there is no race
 * left, and the gate would deadlock: a thread in it waits for the list lock
 * that the forking thread, waiting for the gate, holds.
 *
 * PyPy has no thread states to manage.
 */
#ifndef LT_PY_ENTRY_H
#define LT_PY_ENTRY_H

#include <string.h>
#if !defined(PYPY_VERSION)
#if defined(_WIN32)
#include <windows.h>
#else
#include <dlfcn.h>
#endif
#endif

/* What a thread is started with: the Python side allocates it and keeps it
 * alive until the thread has entered ltpy_bootstrap. */
typedef struct {
    void *interp;
    void *job;
} ltpy_start_t;

/* What ltpy_bootstrap returns for a thread that threading waits on (its
 * _set_sentinel lock), NULL for any other: two locks the Python side keeps
 * alive until the second is released.  The sentinel is released as the
 * interpreter's own threads have theirs released, once the thread's state
 * is gone (so a join that returns finds no trace of the thread left in the
 * interpreter, which a subinterpreter's end checks); then finished, after
 * which the entry touches neither. */
typedef struct {
    lt_lock_t *sentinel;
    lt_lock_t *finished;
} ltpy_end_t;

static ltpy_end_t *ltpy_bootstrap(void *arg); /* extern "Python", defined by cffi */
static void ltpy_state_cleared(uint64_t ident); /* extern "Python", defined by cffi */

static void ltpy_thread_end(ltpy_end_t *end)
{
    if (end == NULL)
        return;
    lt_lock_release_unhanded(end->sentinel);
    lt_lock_release_unhanded(end->finished);
}

#ifdef PYPY_VERSION

static void ltpy_init(int fork_gate)
{
    (void)fork_gate;
}

static void *ltpy_main_interp(void)
{
    return NULL;
}

static void ltpy_thread_main(void *arg)
{
    ltpy_thread_end(ltpy_bootstrap(((ltpy_start_t *)arg)->job));
}

/* PyPy has neither PyErr_SetInterruptEx nor pending calls for a cffi
 * module to make (lowthread/core/_interrupt.py calls PyPy's own interrupt_main
 * for SIGINT). */
static int ltpy_set_interrupt(int signum)
{
    (void)signum;
    return -1;
}

/* PyPy's JIT calls cffi functions without the cost CPython's calls have
 * (lt_py_kept.h). */
static int ltpy_kept_install(void)
{
    return -1;
}

#else

#include "lt_py_kept.h"

/* cffi asks for the limited API without a version, that is 3.2's.
 * PyInterpreterState_Get joined it in 3.9, the oldest CPython lowthread
 * supports.  PyThreadState_DeleteCurrent is documented C API (3.9 and
 * later) outside the limited API, exported by every CPython since: the one
 * way to free a thread's own state with the GIL held, which the abi3 wheel
 * thus needs beyond the stable ABI (PyGILState_Release does the same inside
 * CPython, but frees only a state that PyGILState_Ensure made). */
#if defined(Py_LIMITED_API)
PyAPI_FUNC(PyInterpreterState *) PyInterpreterState_Main(void);
PyAPI_FUNC(void) PyThreadState_DeleteCurrent(void);
#endif

/* 1: make thread states inside the fork gate (CPython before 3.13). */
static int ltpy_fork_gate;

/* PyErr_SetInterruptEx (CPython 3.10+), found in the running interpreter
 * rather than linked: the abi3 module loads into 3.9 too, which lacks it,
 * and a module that names a missing symbol does not load at all.  NULL on
 * 3.9.  Set once, at import, before any thread can call interrupt_main. */
static int (*ltpy_set_interrupt_ex)(int signum);

static void ltpy_find_set_interrupt_ex(void)
{
    void *fn;

#if defined(_WIN32)
    HMODULE python;

    /* The DLL that holds the C API this module was linked with. */
    if (!GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                                GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
                            (LPCWSTR)(void *)&Py_AddPendingCall, &python))
        return;
    {
        FARPROC proc = GetProcAddress(python, "PyErr_SetInterruptEx");
        memcpy(&fn, &proc, sizeof fn);
    }
#else
    /* The interpreter's C API is in the global scope: it is where this
     * module's own references to it were resolved. */
    fn = dlsym(RTLD_DEFAULT, "PyErr_SetInterruptEx");
#endif
    /* A data pointer to a function pointer: memcpy, which ISO C allows. */
    if (fn != NULL)
        memcpy(&ltpy_set_interrupt_ex, &fn, sizeof fn);
}

static void ltpy_init(int fork_gate)
{
    ltpy_fork_gate = fork_gate;
    ltpy_find_set_interrupt_ex();
}

/* Needs no GIL: the main interpreter lives as long as the process. */
static void *ltpy_main_interp(void)
{
    return PyInterpreterState_Main();
}

/* The key in a thread's state dictionary of what tells the Python side that
 * the interpreter has cleared that state. */
#define LTPY_WATCH_KEY "lowthread.state_watch"

static void ltpy_watch_cleared(PyObject *capsule)
{
    ltpy_state_cleared((uint64_t)(uintptr_t)PyCapsule_GetPointer(capsule, LTPY_WATCH_KEY));
}

/* Native thread-local values live in the thread's state dictionary, so the
 * interpreter frees them when it clears the state: as the thread ends, and
 * at exit, for threads still running then (daemon threads), before it tears
 * the modules down.  lowthread's live in its own objects; this capsule in
 * that dictionary dies at the same moment and has them freed then too
 * (ltpy_state_cleared in lowthread/core/_threads.py).  If it cannot be made, the
 * values die later, with the lowthread objects that hold them. */
static void ltpy_watch_state(uint64_t ident)
{
    PyObject *dict = PyThreadState_GetDict(); /* borrowed */
    PyObject *capsule;

    if (dict == NULL || ident == 0)
        return;
    capsule = PyCapsule_New((void *)(uintptr_t)ident, LTPY_WATCH_KEY, ltpy_watch_cleared);
    if (capsule == NULL || PyDict_SetItemString(dict, LTPY_WATCH_KEY, capsule) < 0)
        PyErr_Clear();
    Py_XDECREF(capsule);
}

/* As the thread ends by itself, its values are gone already: the capsule
 * dies with nothing to tell. */
static void ltpy_unwatch_state(void)
{
    PyObject *dict = PyThreadState_GetDict(); /* borrowed */
    PyObject *capsule = dict != NULL ? PyDict_GetItemString(dict, LTPY_WATCH_KEY) : NULL;

    if (capsule != NULL && PyCapsule_SetDestructor(capsule, NULL) < 0)
        PyErr_Clear();
}

static void ltpy_thread_main(void *arg)
{
    ltpy_start_t *start = arg;
    ltpy_end_t *end;
    PyThreadState *ts;

    /* Made in this thread, the state is bound to it (and to the GIL state
     * API that cffi uses inside ltpy_bootstrap), in the interpreter that
     * started the thread, which its exit keeps alive meanwhile: it waits
     * for threads still entering Python (lowthread/core/_threads.py, at_exit),
     * and then Py_EndInterpreter refuses to go on while a state is left. */
    if (ltpy_fork_gate)
        lt_fork_gate_enter();
    ts = PyThreadState_New(start->interp);
    if (ltpy_fork_gate)
        lt_fork_gate_leave();
    if (ts == NULL) /* out of memory, and no thread state to raise in */
        Py_FatalError("lowthread: cannot make a thread state for a new thread");
    PyEval_RestoreThread(ts);
    ltpy_watch_state(lt_get_ident());
    /* start may be freed as soon as bootstrap has taken the job. */
    end = ltpy_bootstrap(start->job);
    /* Cleared and freed with the GIL held, as the interpreter's own
     * threads do: an exit that finalizes the interpreter as soon as the GIL
     * is free would otherwise free the state under this thread's feet.
     * Holding the GIL also keeps any fork out. */
    ltpy_unwatch_state();
    PyThreadState_Clear(ts); /* may run Python code: __del__, callbacks */
    PyThreadState_DeleteCurrent();
    ltpy_thread_end(end);
}

/* Runs, in the main thread, the Python handler that signal.getsignal(signum)
 * names now, as the interpreter runs a signal's: with the current frame,
 * its exception raised where the main thread is.  SIG_IGN and SIG_DFL (not
 * callable) do nothing. */
static int ltpy_run_handler(void *arg)
{
    int signum = (int)(intptr_t)arg;
    PyObject *signal_mod, *handler, *frame, *result;

    signal_mod = PyImport_ImportModule("signal");
    if (signal_mod == NULL)
        return -1;
    handler = PyObject_CallMethod(signal_mod, "getsignal", "i", signum);
    Py_DECREF(signal_mod);
    if (handler == NULL)
        return -1;
    if (!PyCallable_Check(handler)) {
        Py_DECREF(handler);
        return 0;
    }
    frame = (PyObject *)PyEval_GetFrame();
    result = PyObject_CallFunction(handler, "iO", signum, frame != NULL ? frame : Py_None);
    Py_DECREF(handler);
    if (result == NULL)
        return -1;
    Py_DECREF(result);
    return 0;
}

/* Makes signum's handler pending for the main thread, as the signal's
 * arrival would: with the interpreter's own PyErr_SetInterruptEx where it
 * has one; on CPython 3.9, whose PyErr_SetInterrupt() knows only SIGINT, as
 * a pending call, which the main thread runs at its next check of the eval
 * loop's breaker, waiting or not.  Both need neither the GIL nor a thread
 * state.  Returns 0, or -1 if the queue of pending calls is full. */
static int ltpy_set_interrupt(int signum)
{
    if (ltpy_set_interrupt_ex != NULL)
        return ltpy_set_interrupt_ex(signum) == 0 ? 0 : -1;
    return Py_AddPendingCall(ltpy_run_handler, (void *)(intptr_t)signum) == 0 ? 0 : -1;
}

#endif

#endif /* LT_PY_ENTRY_H */
