"""interrupt_main(): schedule a signal's Python handler in the main thread."""

import operator
import signal
import sys

from ._core import c_int

_NSIG = getattr(signal, "NSIG", 65)


def _set_interrupt_ex():
    # CPython's own PyErr_SetInterruptEx (stable ABI, 3.10+) does exactly what
    # the documentation asks: mark the signal pending and wake the eval loop,
    # without sending a real signal.  The import is deferred: ctypes is large.
    if sys.implementation.name != "cpython" or sys.version_info < (3, 10):
        return None
    import ctypes
    fn = ctypes.pythonapi.PyErr_SetInterruptEx
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


_native: list = []


def interrupt_main(signum=signal.SIGINT, /):
    """Simulate the arrival of signal signum (default SIGINT) in the main thread.

    The signal's Python handler runs in the main thread; if the handler is
    SIG_DFL or SIG_IGN nothing happens.  No real signal is sent.
    """
    signum = c_int(operator.index(signum))
    if not 1 <= signum < _NSIG:
        raise ValueError("signal number out of range")
    if not _native:
        _native.append(_set_interrupt_ex())
    if _native[0] is not None:
        _native[0](signum)
        return
    # Elsewhere (PyPy, CPython 3.9) a real signal raised in this thread runs
    # the interpreter's own C handler, which marks the Python handler pending
    # for the main thread exactly as above.
    if signal.getsignal(signum) in (signal.SIG_DFL, signal.SIG_IGN, None):
        return
    signal.raise_signal(signum)
