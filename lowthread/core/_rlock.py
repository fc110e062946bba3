"""The reentrant lock: lt_rlock_t from the C core, which keeps the owner and
the count beside its lock, so that every operation is one C call.
"""

from typing import Any, Callable

from .._lowthread import ffi, lib
from . import _calls, _wait
from ._status import check, not_owner

_release = _calls.rlock_release
_released = _wait.released
_noted_wait = _wait.noted_wait
NOTED = _wait.NOTED
_recursion = _calls.rlock_recursion
_owner = _calls.rlock_owner
_count = _calls.rlock_count
_release_save = _calls.rlock_release_save
_acquire_restore = _calls.rlock_acquire_restore
# CPython keeps owner and count in C unsigned longs, as lt_rlock_t does.
_ULONG_MASK = (1 << (8 * ffi.sizeof("unsigned long"))) - 1
_HEAPTYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE
# The C lock lives in its object's own memory, as for lock (see _lock).
_new = ffi.new
_object_new = object.__new__
_RLOCK_T = ffi.typeof("lt_rlock_t *")


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


class RLock:
    """A reentrant lock: the thread that holds it may acquire it again.

    Each acquire() by the owning thread must be matched by a release();
    the lock is free again after the last one.  Only the owner may release.
    Also usable with the with statement.
    """

    # _site and _class are for the opt-in diagnostics (lowthread.diagnostics),
    # which replace some methods while they are on: see _methods.
    __slots__ = ("_lk", "_site", "_class", "__weakref__")
    __module__ = "lowthread"
    _lk: Any  # the C lock (cdata)
    _site: Any  # where it was last taken, while a diagnostic notes it
    _class: Any  # its lock class (diagnostics/_lockgraph.py); None: lowthread's own
    # Set below by _wait.lock_methods().
    acquire: Callable[..., bool]
    __enter__: Callable[..., bool]

    # Made in __new__ (below), not in __init__, so that a subclass __init__
    # that does not call the base one still gets a working lock.

    def release(self):
        """Undo one acquire() by the owning thread; at the last one, unlock.

        RuntimeError if this thread does not own the lock.
        """
        rc = _release(self._lk)
        if rc:
            _released(self, rc, not_owner)

    def __exit__(self, *exc_info):
        rc = _release(self._lk)
        if rc:
            _released(self, rc, not_owner)

    def locked(self):
        """Return True if some thread holds the lock."""
        return _count(self._lk) > 0

    def _is_owned(self):
        """Return True if this thread owns the lock (for threading.Condition)."""
        return _recursion(self._lk) > 0

    def _recursion_count(self):
        """How many times this thread holds the lock (0 if it does not own it)."""
        return _recursion(self._lk)

    def _release_save(self):
        """Release the lock completely and return (count, owner), for Condition.wait."""
        state = _release_save(self._lk)
        if state is None:
            not_owner()
        if len(state) != 2:  # (count, owner, NOTED): see lt_py_kept.h
            state = state[:2]
            _released(self, NOTED, not_owner)
        return state

    def _acquire_restore(self, state, /):
        """Wait (not interruptibly) for the lock and restore a _release_save() state.

        The C call sets owner and count as it takes the lock, so a signal
        handler that raises as it returns leaves the state restored, as in
        CPython.
        """
        count, owner = _parse_state(state)
        rc = _acquire_restore(self._lk, count, owner)
        if rc:
            if rc == NOTED:
                rc = _noted_wait(self, True)
            if rc:
                check(rc)

    def _at_fork_reinit(self):
        """Make the lock a fresh unowned one, in a child process after fork()."""
        rc = lib.lt_rlock_at_fork_reinit(self._lk)
        if rc:
            check(rc)

    def __repr__(self):
        rl = self._lk
        count = _count(rl)
        return (f"<{'locked' if count else 'unlocked'} {_tp_name(type(self))} object "
                f"owner={_owner(rl)} count={count} at {id(self):#x}>")

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot pickle '{_tp_name(type(self))}' object")


def _make(cls, *args, **kwargs):
    """RLock(): the object and its C lock; arguments are ignored, as the
    native RLock ignores them (with __new__ and no __init__, object.__init__
    lets them pass)."""
    self = _object_new(cls)
    self._lk = _new(_RLOCK_T)
    return self


# As for lock (see _lock): RLock() made by a builtin of _kept on CPython;
# subclasses and calls with arguments by _make.
RLock.__new__ = staticmethod(_make if _calls.maker is None  # type: ignore[assignment]
                             else _calls.maker(RLock, _new, _RLOCK_T, _make))

_wait.lock_methods(
    RLock, _calls.rlock_wait, _calls.rlock_try, _calls.rlock_acquire, _calls.rlock_untake, """\
Lock the lock, waiting at most timeout seconds (-1: forever) if blocking.

If this thread already owns it, the recursion count goes up by one and it
returns at once.  Returns True if the lock was acquired, False if not.
""")
