"""The blocking part of every acquire: timeouts, signals and the C status codes.

A C wait that a signal interrupts returns LT_INTR instead of waiting on, so
that the interpreter gets a chance to run the Python-level signal handlers
(only the main thread ever runs them).  A handler that raises ends the
acquire with its exception; otherwise the wait resumes with the time that is
left, measured from the first attempt.
"""

import errno
import os
import signal

from ._lowthread import ffi, lib

OK = lib.LT_OK
TIMEDOUT = lib.LT_TIMEDOUT
INTR = lib.LT_INTR
WAIT_INTR = lib.LT_WAIT_INTR

_acquire = lib.lt_lock_acquire
_now_us = lib.lt_monotonic_us
# The condvar back-end cannot be woken by a signal, so with LT_WAIT_INTR it
# returns every few milliseconds: worth it only in the main thread.
_SLICED = ffi.string(lib.lt_backend()) == b"condvar"

if hasattr(signal, "pthread_sigmask"):
    def run_signal_handlers():
        # An empty mask change is the cheapest call that makes the interpreter
        # run pending handlers now, on CPython and on PyPy alike.
        signal.pthread_sigmask(signal.SIG_BLOCK, ())
else:  # Windows: waits there are not interruptible, LT_INTR never comes.
    def run_signal_handlers():
        pass


def _main_ident():
    import threading
    return threading.main_thread().ident


def check(rc):
    """Raise the Python exception for a negative C status."""
    if rc == lib.LT_ENOMEM:
        raise MemoryError()
    if rc == lib.LT_ENOTSUP:
        raise NotImplementedError("not supported on this platform")
    if rc == lib.LT_ESYS:
        err = ffi.errno or errno.EINVAL
        raise OSError(err, os.strerror(err))
    raise SystemError(f"lowthread C core returned {rc}")


def acquire(lk, us, rc=None, call=_acquire):
    """Acquire lk waiting at most us microseconds (-1: forever, 0: try once).

    rc is the status of a first attempt the caller already made with the same
    us and LT_WAIT_INTR, if any.  call is the C wait (lt_lock_acquire, or
    lt_thread_join for a thread handle).  Returns True on LT_OK, False on
    LT_TIMEDOUT; other negative statuses raise.
    """
    deadline = None
    if rc is None:
        if us > 0:
            # Try first, so that the uncontended case reads no clock.
            if call(lk, 0, 0) == OK:
                return True
            deadline = _now_us() + us
        rc = call(lk, us, WAIT_INTR)
    flags = WAIT_INTR
    while rc == INTR:
        run_signal_handlers()
        if _SLICED and flags and lib.lt_get_ident() != _main_ident():
            flags = 0
        if us > 0:
            if deadline is None:
                deadline = _now_us() + us
            us = max(deadline - _now_us(), 0)
        rc = call(lk, us, flags)
    if rc == OK:
        return True
    if rc == TIMEDOUT:
        return False
    check(rc)
