"""The border with the C core: C statuses to exceptions, timeouts to C
microseconds, and the range checks of arguments the core takes as C integers.

Every exception a C status becomes is chosen here, with CPython 3.13's types
and texts.  Timeouts are converted the way CPython converts them: to whole
nanoseconds, rounded away from zero, then to whole microseconds rounded up,
so that a tiny positive timeout still waits instead of turning into a try.
"""

import builtins
import errno
import math
import operator
import os

from .._lowthread import ffi, lib

# The "no timeout given" value: -1 second, in nanoseconds.
UNSET_NS = -1_000_000_000
_NS_MIN = -(2 ** 63)
_NS_LIMIT = 2 ** 63
_MAX_US = lib.LT_TIMEOUT_MAX_US

# The largest timeout in seconds: what the C core waits for exactly, and what
# fits in int64 nanoseconds, rounded down to whole seconds.
TIMEOUT_MAX = float(math.floor(min(_MAX_US * 1e-6, (_NS_LIMIT - 1) * 1e-9)))


def check(rc):
    """Raise the Python exception for a negative C status."""
    if rc == lib.LT_ENOMEM:
        raise MemoryError()
    if rc == lib.LT_EOVERFLOW:
        raise OverflowError("Internal lock count overflowed")
    if rc == lib.LT_ENOTSUP:
        raise NotImplementedError("not supported on this platform")
    if rc == lib.LT_ESYS:
        err = ffi.errno or errno.EINVAL
        raise OSError(err, os.strerror(err))
    if rc == lib.LT_EDEADLK:
        raise RuntimeError("Cannot join current thread")
    raise SystemError(f"lowthread C core returned {rc}")


# 3.13 raises this subclass of RuntimeError; older interpreters lack it.
_FinalizationError = getattr(builtins, "PythonFinalizationError", RuntimeError)


def finalizing():
    """A thread start while the interpreter is finalizing."""
    raise _FinalizationError("can't create new thread at interpreter shutdown")


def threads_not_allowed():
    """A thread start in a subinterpreter made without threads."""
    raise RuntimeError("thread is not supported for isolated subinterpreters")


def start_failed(rc):
    """lt_thread_start or lt_thread_start_joinable returned rc (not LT_OK)."""
    if rc == lib.LT_ENOMEM:
        raise MemoryError()
    # LT_EAGAIN: the system refused; LT_EINVAL cannot come from lowthread.
    raise RuntimeError("can't start new thread")


def not_locked():
    """lt_lock_release failed: the lock was not locked (LT_ENOTLOCKED)."""
    raise RuntimeError("release unlocked lock")


def not_owner():
    """An RLock release failed: this thread does not hold the lock
    (LT_ENOTOWNER; LT_ENOTLOCKED from lt_rlock_release_save)."""
    raise RuntimeError("cannot release un-acquired lock")


def check_stack_size(rc, size):
    """Raise what _thread.stack_size(size) raises for lt_stack_size_set's rc."""
    if rc == lib.LT_ENOTSUP:
        raise RuntimeError("setting stack size not supported")
    raise ValueError(f"size not valid: {size} bytes")


def ssize_t(value):
    """value as a C ssize_t (OverflowError outside its range)."""
    if not -(2 ** 63) <= value < 2 ** 63:
        raise OverflowError("Python int too large to convert to C ssize_t")
    return value


def c_int(value):
    """value as a C int (OverflowError outside its range)."""
    if not -(2 ** 31) <= value < 2 ** 31:
        raise OverflowError("signed integer is greater than maximum"
                            if value > 0 else "signed integer is less than minimum")
    return value


def thread_ident(value):
    """value as a thread identifier, a C unsigned integer."""
    if not isinstance(value, int):
        raise TypeError("ident must be an integer")
    if value < 0:
        raise OverflowError("can't convert negative int to unsigned")
    return value


def timeout_ns(timeout):
    """Convert a timeout in seconds (float or integer-like) to nanoseconds."""
    if isinstance(timeout, float):
        if timeout != timeout:
            raise ValueError("Invalid value NaN (not a number)")
        ns = timeout * 1e9
        if not _NS_MIN <= ns < _NS_LIMIT:  # also catches infinities
            raise OverflowError("timestamp out of range for platform time_t")
        return math.ceil(ns) if ns >= 0 else math.floor(ns)
    seconds = operator.index(timeout)
    ns = seconds * 1_000_000_000
    if not _NS_MIN <= ns < _NS_LIMIT:
        raise OverflowError("timestamp too large to convert to C PyTime_t")
    return ns


def timeout_us(blocking, timeout, join):
    """The C core's timeout for acquire(blocking, timeout), or with join for
    _ThreadHandle.join(timeout): -1 (forever), 0 (try once) or microseconds.

    acquire refuses a negative timeout other than -1, and one longer than the
    core waits for exactly, as CPython's does beyond its PY_TIMEOUT_MAX.
    CPython 3.13's join waits forever for any negative timeout and takes any
    other that fits in nanoseconds; so for join a longer one is clamped to
    the core's longest wait, never refused.
    """
    blocking = bool(blocking)
    ns = UNSET_NS if timeout == -1 and type(timeout) is int else timeout_ns(timeout)
    if not blocking:
        if ns != UNSET_NS:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0
    if ns == UNSET_NS:
        return -1
    if ns < 0:
        if join:
            return -1
        raise ValueError("timeout value must be a non-negative number")
    us = -(-ns // 1000)
    if us > _MAX_US:
        if join:
            return _MAX_US
        raise OverflowError("timeout value is too large")
    return us
