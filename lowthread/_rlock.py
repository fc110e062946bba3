"""The reentrant lock: an owner and a count kept next to one C lock.

The C lock is held exactly while some thread owns the RLock.  The owner and
the count change only in the thread that holds the C lock, so reading the
owner without it is safe: a thread can only find its own ident there if it
stored it itself.
"""

from typing import Any

from . import _wait
from ._lock import at_fork_reinit, new_c_lock
from ._lowthread import ffi, lib
from ._timeout import acquire_us

_acquire = lib.lt_lock_acquire
_release = lib.lt_lock_release
_get_ident = lib.lt_get_ident
_WAIT_INTR = lib.LT_WAIT_INTR
_OK = lib.LT_OK  # 0
_NO_TIMEOUT = -1
# CPython keeps owner and count in C unsigned longs.
_ULONG_MASK = (1 << (8 * ffi.sizeof("unsigned long"))) - 1
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE
_NOT_ACQUIRED = "cannot release un-acquired lock"


def _tp_name(cls):
    """The name CPython's C code prints for a type (its tp_name)."""
    if cls is RLock:
        return "lowthread.RLock"
    module = getattr(cls, "__module__", "builtins")
    if module == "builtins" or getattr(cls, "__flags__", _HEAPTYPE) & _HEAPTYPE:
        return cls.__name__
    return f"{module}.{cls.__qualname__}"


def _arg_type_name(obj):
    return "None" if obj is None else _tp_name(type(obj))


def _parse_state(state):
    """Parse _acquire_restore's argument as a 2-sequence of ints, as "(kk)" would."""
    if (isinstance(state, (bytes, dict)) or not hasattr(type(state), "__getitem__")):
        raise TypeError("_acquire_restore() argument 1 must be 2-item sequence, "
                        f"not {_arg_type_name(state)}")
    n = len(state)
    if n != 2:
        raise TypeError(f"_acquire_restore() argument 1 must be sequence of length 2, not {n}")
    values = []
    for i in (0, 1):
        item = state[i]
        if not isinstance(item, int):
            raise TypeError(f"_acquire_restore() argument 1, item {i} must be int, "
                            f"not {_arg_type_name(item)}")
        values.append(item & _ULONG_MASK)
    return values


def _hold(lk, owner, count, rlock):
    """Wait, not interruptibly, until this thread holds the C lock lk.

    Without LT_WAIT_INTR the C wait goes on through signals, but a Python
    handler may still raise as the call returns, with the lock already ours.
    map() stores the C result inside the list before the interpreter gets
    back control, so the result survives such an exception; the RLock state
    is then restored before the exception propagates (CPython's C code
    restores it before any handler can run).
    """
    done: list[int] = []
    try:
        done.extend(map(_acquire, (lk,), (-1,), (0,)))
    except BaseException:
        if not done:  # raised before the call (CPython <= 3.10 checks there)
            done.extend(map(_acquire, (lk,), (-1,), (0,)))
        if done[0] == _OK:
            rlock._owner = owner
            rlock._count = count
        raise
    if done[0]:
        _wait.check(done[0])


class RLock:
    """A reentrant lock: the thread that holds it may acquire it again.

    Each acquire() by the owning thread must be matched by a release();
    the lock is free again after the last one.  Only the owner may release.
    Also usable with the with statement.
    """

    __slots__ = ("_lk", "_owner", "_count", "__weakref__")
    __module__ = "lowthread"
    _lk: Any  # the C lock (cdata), held exactly while some thread owns the RLock
    _owner: int  # the owner's ident, 0 if none
    _count: int  # the owner's recursion level, 0 if none

    def __new__(cls, *args, **kwargs):
        # Set up here, not in __init__, so that a subclass __init__ that does
        # not call the base one still gets a working lock.
        self = object.__new__(cls)
        self._lk = new_c_lock()
        self._owner = 0
        self._count = 0
        return self

    def __init__(self, *args, **kwargs):
        pass

    def acquire(self, blocking=True, timeout=_NO_TIMEOUT):
        """Lock the lock, waiting at most timeout seconds (-1: forever) if blocking.

        If this thread already owns it, the recursion count goes up by one and
        it returns at once.  Returns True if the lock was acquired, False if not.
        """
        if blocking is True and timeout is _NO_TIMEOUT:
            # The common call: one ident, then one C call if the lock is free.
            me = _get_ident()
            if self._owner == me and self._count:
                return self._recurse()
            rc = _acquire(self._lk, -1, _WAIT_INTR)
            if rc:
                _wait.acquire(self._lk, -1, rc)  # True, or it raises
            self._owner = me
            self._count = 1
            return True
        us = acquire_us(blocking, timeout)
        me = _get_ident()
        if self._owner == me and self._count:
            return self._recurse()
        if not _wait.acquire(self._lk, us):
            return False
        self._owner = me
        self._count = 1
        return True

    def _recurse(self):
        count = self._count
        if count >= _ULONG_MASK:
            raise OverflowError("Internal lock count overflowed")
        self._count = count + 1
        return True

    __enter__ = acquire

    def release(self):
        """Undo one acquire() by the owning thread; at the last one, unlock.

        RuntimeError if this thread does not own the lock.
        """
        if self._owner != _get_ident() or not self._count:
            raise RuntimeError(_NOT_ACQUIRED)
        count = self._count - 1
        self._count = count
        if not count:
            self._owner = 0
            _release(self._lk)

    def __exit__(self, *exc_info):
        self.release()

    def locked(self):
        """Return True if some thread holds the lock."""
        return self._count > 0

    def _is_owned(self):
        """Return True if this thread owns the lock (for threading.Condition)."""
        return self._count > 0 and self._owner == _get_ident()

    def _recursion_count(self):
        """How many times this thread holds the lock (0 if it does not own it)."""
        return self._count if self._owner == _get_ident() else 0

    def _release_save(self):
        """Release the lock completely and return (count, owner), for Condition.wait."""
        count = self._count
        if not count:
            raise RuntimeError(_NOT_ACQUIRED)
        state = (count, self._owner)
        self._count = 0
        self._owner = 0
        _release(self._lk)
        return state

    def _acquire_restore(self, state, /):
        """Wait (not interruptibly) for the lock and restore a _release_save() state."""
        count, owner = _parse_state(state)
        lk = self._lk
        if _acquire(lk, 0, 0):
            _hold(lk, owner, count, self)
        self._owner = owner
        self._count = count

    def _at_fork_reinit(self):
        """Make the lock a fresh unowned one, in a child process after fork()."""
        at_fork_reinit(self._lk)
        self._owner = 0
        self._count = 0

    def __repr__(self):
        count = self._count
        return (f"<{'locked' if count else 'unlocked'} {_tp_name(type(self))} object "
                f"owner={self._owner} count={count} at {id(self):#x}>")

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot pickle '{_tp_name(type(self))}' object")
