"""The blocking part of every acquire: timeouts, signals and the C status codes.

A C wait that a signal or interrupt_main() interrupts returns LT_INTR instead
of waiting on, so that the interpreter gets a chance to run the Python-level
signal handlers (only the main thread ever runs them).  A handler that raises
ends the acquire with its exception; otherwise the wait resumes with the time
that is left, measured from the first attempt.

A handler may also run, and raise, just after a C acquire returned LT_OK,
before Python code can store that result.  The acquires of binding/lt_py.c
record per thread what they took, so that the exception handler around them
gives back exactly that (untake).  The record is only right if no handler
can run between the start of the try block and its first C call: true on
CPython 3.11 and later, which run handlers only at calls, backward jumps and
function entries; elsewhere (older CPython, PyPy) the record is cleared
before the try block (forget_taken).
"""

import signal
import sys

from .._lowthread import lib
from . import _calls
from ._status import check, timeout_us

OK = lib.LT_OK
TIMEDOUT = lib.LT_TIMEDOUT
INTR = lib.LT_INTR
WAIT_INTR = lib.LT_WAIT_INTR
# What a lock call returns, instead of its status, for a wait or a release
# that the contention profile is to see (binding/lt_py.c).
NOTED = lib.LTPY_NOTED
_noted = _calls.noted

# While the contention profile records, the object it records with
# (_contention: waited(obj, status, us, restoring) and woke(obj, us, handed));
# the lock code calls it only on LTPY_NOTED, so off costs nothing.
profile: list = [None]

lock_acquire = _calls.lock_acquire
_lock_untake = _calls.lock_untake
# lt_py.c's "clear the record of what this thread took", or None where the
# record cannot be stale (see above).
forget_taken = (None if sys.implementation.name == "cpython" and sys.version_info >= (3, 11)
                else _calls.forget)
_now_us = _calls.monotonic_us
# The condvar back-end cannot be woken by a signal, so with LT_WAIT_INTR it
# returns every few milliseconds: worth it only in the thread that runs
# the signal handlers.
_SLICED = lib.lt_lock_wait_slice_ms() != 0

# Exceptions to raise in a thread's next interrupted wait, by ident: _deadlock
# puts a DeadlockError here, then interrupts the thread (lt_thread_interrupt).
raise_in_wait: dict = {}
# While deadlock detection runs, every thread's waits stay interruptible
# (and listed by lt_waits), the condvar back-end's slices included.
every_thread_interruptible = [False]

# Signals whose handlers interrupt_main() could not make pending in the
# interpreter (see _interrupt): the main thread's interrupted waits run them.
left_to_waits: set = set()

if hasattr(signal, "pthread_sigmask"):
    def _run_pending():
        # An empty mask change is the cheapest call that makes the interpreter
        # run pending handlers now, on CPython and on PyPy alike.
        signal.pthread_sigmask(signal.SIG_BLOCK, ())
else:
    def _run_pending():
        # Windows: the interpreter runs them at its next check, as this
        # returns.
        pass


def run_handler(signum, frame):
    """Run signum's Python handler in this thread, as a signal's arrival would."""
    handler = signal.getsignal(signum)
    if callable(handler):  # not SIG_DFL or SIG_IGN
        handler(signum, frame)


def run_signal_handlers():
    """Run the signal handlers pending for this thread (after LT_INTR)."""
    _run_pending()
    if left_to_waits and runs_signal_handlers():
        while left_to_waits:
            run_handler(left_to_waits.pop(), sys._getframe(1))


def runs_signal_handlers():
    """True in the thread that runs the Python signal handlers.

    Asked of the interpreter itself rather than kept as an ident: signal.signal()
    refuses to run anywhere else (ValueError) before it looks at its handler
    (TypeError for None, and nothing is changed).  So the answer follows the
    interpreter as it is now: after os.fork() from a worker, where that
    thread becomes the child's main thread; in a subinterpreter, whose threads
    never run handlers; and whether or not lowthread was imported in the main
    thread.  It is asked only after a wait was interrupted.
    """
    try:
        signal.signal(signal.SIGINT, None)
    except ValueError:
        return False
    except TypeError:
        return True


def noted_wait(obj, restoring=False):
    """The status of a wait that returned NOTED, once the profile (if it
    still records) has seen it; obj: the lock object (None: not one of the
    program's: not recorded)."""
    event, status, us, _, _ = _noted()
    recorder = profile[0]
    if recorder is not None and obj is not None and event:
        recorder.waited(obj, status, us, restoring)
    return status


def released(obj, rc, fail):
    """After a release of obj that returned rc, not LT_OK: NOTED goes to the
    profile, anything else is fail()'s to raise."""
    if rc != NOTED:
        fail()
        return
    event, _, us, _, handed = _noted()
    recorder = profile[0]
    if recorder is not None and event:
        recorder.woke(obj, us, handed)


def acquire(lk, us, call=lock_acquire, untake=_lock_untake, obj=None):
    """Acquire lk waiting at most us microseconds (-1: forever, 0: try once).

    call is the C wait (an acquire of lt_py.c, or a thread join), untake the
    lt_py.c undo that goes with it (None for a join, which takes nothing),
    obj the lock object lk belongs to, for the contention profile.
    Returns True on LT_OK, False on LT_TIMEDOUT; other negative statuses
    raise.
    """
    if forget_taken is not None:
        forget_taken()
    try:
        # A first try without waiting: the uncontended case reads no clock.
        rc = call(lk, 0 if us > 0 else us, WAIT_INTR)
        if rc == TIMEDOUT and us > 0:
            deadline = _now_us() + us
            return resume(lk, us, call(lk, us, WAIT_INTR), call, deadline, obj)
        return True if rc == OK else resume(lk, us, rc, call, None, obj)
    except BaseException:
        if untake is not None:
            untake(lk)
        raise


def lock_methods(cls, wait_forever, try_once, call, untake, doc):
    """Give a lock class acquire() and __enter__ over the C lock in its _lk.

    wait_forever(lk) and try_once(lk) are lt_py.c's untimed and non-blocking
    acquires; call and untake are as for acquire(), which these two cases,
    the commonest calls of all, unfold.
    """
    no_timeout = -1
    timed = acquire

    def acquire_(self, blocking=True, timeout=no_timeout):
        if timeout is no_timeout and (blocking is True or blocking is False):
            if forget_taken is not None:
                forget_taken()
            try:
                rc = (wait_forever if blocking else try_once)(self._lk)
                if rc == OK:
                    return True
                if rc == TIMEDOUT:
                    return False
                return resume(self._lk, -1, rc, call, None, self)
            except BaseException:
                untake(self._lk)
                raise
        return timed(self._lk, timeout_us(blocking, timeout, False), call, untake, self)

    acquire_.__name__ = "acquire"
    acquire_.__qualname__ = f"{cls.__name__}.acquire"
    acquire_.__module__ = cls.__module__
    acquire_.__doc__ = doc
    cls.acquire = cls.__enter__ = acquire_


def resume(lk, us, rc, call, deadline=None, obj=None):
    """Go on after a first wait of acquire(lk, us, call, obj=obj) returned rc.

    Must be called inside the caller's untake guard (see acquire).
    """
    if rc == NOTED:
        rc = noted_wait(obj)
    flags = WAIT_INTR
    while rc == INTR:
        run_signal_handlers()
        if raise_in_wait:
            exc = raise_in_wait.pop(_calls.get_ident(), None)
            if exc is not None:
                raise exc
        if (_SLICED and flags and not every_thread_interruptible[0]
                and not runs_signal_handlers()):
            flags = 0
        if us > 0:
            if deadline is None:
                deadline = _now_us() + us
            us = max(deadline - _now_us(), 0)
        rc = call(lk, us, flags)
        if rc == NOTED:
            rc = noted_wait(obj)
    if rc != OK and rc != TIMEDOUT:
        check(rc)
    return rc == OK
