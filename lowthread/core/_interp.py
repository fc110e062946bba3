"""The interpreter this copy of lowthread runs in, and what it allows.

Each (sub)interpreter that imports lowthread runs these Python modules afresh,
so the values here are per interpreter; the C extension is shared by all.
Threads started here must run here: the C entry (binding/lt_py_entry.h)
makes each thread's state in the interpreter passed with it, INTERP.

The C side cannot tell which interpreter called it: cffi lets go of the GIL
for every call, and the GIL-state API knows only one interpreter per OS
thread.  So the interpreter is learnt here once, at import.  In the thread
that runs signal handlers it is the main interpreter (only that one runs
them), which C names without help; anywhere else it is asked of CPython with
the GIL held, through ctypes, whose import is worth it only there.
"""

import sys

from .._lowthread import ffi, lib
from . import _wait

_CPYTHON = sys.implementation.name == "cpython"
# CPython's Py_RTFLAGS_THREADS and Py_RTFLAGS_DAEMON_THREADS (3.12+).
_RTFLAGS_THREADS = 1 << 10
_RTFLAGS_DAEMON_THREADS = 1 << 11


def _this_interpreter():
    """(interpreter pointer, is the main one, threads allowed, daemon threads allowed)."""
    main = lib.ltpy_main_interp()
    if not _CPYTHON or _wait.runs_signal_handlers():
        return main, True, True, True
    import ctypes
    api = ctypes.pythonapi
    api.PyInterpreterState_Get.restype = ctypes.c_void_p
    here = ffi.cast("void *", api.PyInterpreterState_Get())
    if here == main:
        return main, True, True, True
    if sys.version_info >= (3, 13):
        # 3.13 exports no feature test; its _interpreters module reads the
        # same configuration.
        import _interpreters
        config = _interpreters.get_config(_interpreters.get_current()[0])
        return here, False, config.allow_threads, config.allow_daemon_threads
    if sys.version_info >= (3, 12):
        has = api._PyInterpreterState_HasFeature
        has.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
        has.restype = ctypes.c_int
        address = int(ffi.cast("uintptr_t", here))
        return (here, False, bool(has(address, _RTFLAGS_THREADS)),
                bool(has(address, _RTFLAGS_DAEMON_THREADS)))
    return here, False, True, True


INTERP, _MAIN, THREADS_ALLOWED, _DAEMONS_ALLOWED = _this_interpreter()


def _is_main_interpreter():
    """True in the main interpreter, False in a subinterpreter."""
    return _MAIN


def daemon_threads_allowed():
    """True if this interpreter allows daemon threads."""
    return _DAEMONS_ALLOWED
