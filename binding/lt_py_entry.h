/*
 * lt_py_entry.h -- the function every thread that lowthread starts runs
 * first.  Included by the preamble of the cffi module (build_ffi.py), not
 * compiled on its own: it sits in the module's translation unit, beside the
 * extern "Python" entry point that cffi defines there, and with Python.h.
 *
 * On CPython it gives the thread its own thread state for its whole life,
 * so that cffi finds one and makes none itself: cffi keeps the states it
 * makes until another C thread first calls into Python (its "zombie" list),
 * and with them the thread's threading.local values.  Released last, this
 * one is cleared and freed as the thread ends, as the interpreter's own
 * threads' are.  PyPy has no thread states to manage.
 */
#ifndef LT_PY_ENTRY_H
#define LT_PY_ENTRY_H

static void lt_py_bootstrap(void *arg); /* extern "Python", defined by cffi */

static void lt_py_thread_main(void *arg)
{
#ifdef PYPY_VERSION
    lt_py_bootstrap(arg);
#else
    PyGILState_STATE gil = PyGILState_Ensure();
    lt_py_bootstrap(arg);
    PyGILState_Release(gil);
#endif
}

#endif /* LT_PY_ENTRY_H */
