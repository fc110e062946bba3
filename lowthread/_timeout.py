"""Argument parsing shared by every waiting call, with CPython 3.13's rules and texts.

Timeouts are converted the way CPython converts them: to whole nanoseconds,
rounded away from zero, then to whole microseconds rounded up, so that a tiny
positive timeout still waits instead of turning into a try.
"""

import math
import operator

from ._lowthread import lib

# The "no timeout given" value: -1 second, in nanoseconds.
UNSET_NS = -1_000_000_000
_NS_MIN = -(2 ** 63)
_NS_LIMIT = 2 ** 63
_MAX_US = lib.LT_TIMEOUT_MAX_US

# The largest timeout in seconds: what the C core waits for exactly, and what
# fits in int64 nanoseconds, rounded down to whole seconds.
TIMEOUT_MAX = float(math.floor(min(_MAX_US * 1e-6, (_NS_LIMIT - 1) * 1e-9)))


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


def acquire_us(blocking, timeout):
    """The C core's timeout for acquire(blocking, timeout): -1, 0 or microseconds."""
    blocking = bool(blocking)
    ns = UNSET_NS if timeout == -1 and type(timeout) is int else timeout_ns(timeout)
    if not blocking:
        if ns != UNSET_NS:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0
    if ns == UNSET_NS:
        return -1
    if ns < 0:
        raise ValueError("timeout value must be a non-negative number")
    us = -(-ns // 1000)
    if us > _MAX_US:
        raise OverflowError("timeout value is too large")
    return us
