/*
 * lt_py_entry.h -- the function every thread that lowthread starts runs
 * first.  Included by the preamble of the cffi module (build_ffi.py), not
 * compiled on its own: it sits in the module's translation unit, beside the
 * extern "Python" entry point that cffi defines there, and with Python.h.
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

static void ltpy_thread_end(ltpy_end_t *end)
{
    if (end == NULL)
        return;
    lt_lock_release(end->sentinel);
    lt_lock_release(end->finished);
}

/* The ident of the interpreter's main thread (threading's main_thread()):
 * set by the Python side, shared by every interpreter of the process. */
static uint64_t ltpy_main_thread;

static uint64_t ltpy_main_ident(void)
{
    return ltpy_main_thread;
}

static void ltpy_set_main_ident(uint64_t ident)
{
    ltpy_main_thread = ident;
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

#else

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

static void ltpy_init(int fork_gate)
{
    ltpy_fork_gate = fork_gate;
}

/* Needs no GIL: the main interpreter lives as long as the process. */
static void *ltpy_main_interp(void)
{
    return PyInterpreterState_Main();
}

static void ltpy_thread_main(void *arg)
{
    ltpy_start_t *start = arg;
    ltpy_end_t *end;
    PyThreadState *ts;

    /* Made in this thread, the state is bound to it (and to the GIL state
     * API that cffi uses inside ltpy_bootstrap), in the interpreter that
     * started the thread, which its exit keeps alive meanwhile: it waits
     * for threads still entering Python (lowthread/_threads.py, at_exit),
     * and then Py_EndInterpreter refuses to go on while a state is left. */
    if (ltpy_fork_gate)
        lt_fork_gate_enter();
    ts = PyThreadState_New(start->interp);
    if (ltpy_fork_gate)
        lt_fork_gate_leave();
    if (ts == NULL) /* out of memory, and no thread state to raise in */
        Py_FatalError("lowthread: cannot make a thread state for a new thread");
    PyEval_RestoreThread(ts);
    /* start may be freed as soon as bootstrap has taken the job. */
    end = ltpy_bootstrap(start->job);
    /* Cleared and freed with the GIL held, as the interpreter's own
     * threads do: an exit that finalizes the interpreter as soon as the GIL
     * is free would otherwise free the state under this thread's feet.
     * Holding the GIL also keeps any fork out. */
    PyThreadState_Clear(ts); /* may run Python code: __del__, callbacks */
    PyThreadState_DeleteCurrent();
    ltpy_thread_end(end);
}

#endif

#endif /* LT_PY_ENTRY_H */
