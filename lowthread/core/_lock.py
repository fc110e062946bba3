"""The lock type: a binary semaphore from the C core, in its object's memory.

The C lock (16 bytes, lowthread.h) lives in a cdata of ffi.new(), zeroed,
which is an unlocked lock (LT_LOCK_INIT): nothing to allocate in C, and
nothing to free but that cdata's own memory, which goes with the last
reference to it.  So no finalizer, and no ordering of finalizers in a
garbage cycle, can find a freed lock: a finalizer that still reaches the
lock object still holds the cdata (docs/behaviour.md §20).

The methods here are the plain ones.  While a diagnostic is on, _methods
puts the diagnostic's in their place, once per mode change, rather than
having every acquire ask whether one is on: that question would cost every
program on every call (figures in _methods and docs/design.md).
"""

from typing import Any, Callable

from .._lowthread import ffi, lib
from . import _calls, _wait
from ._status import check, not_locked

_release = _calls.lock_release
_released = _wait.released
_locked = _calls.lock_locked
_new = ffi.new
_object_new = object.__new__
_LOCK_T = ffi.typeof("lt_lock_t *")


class lock:
    """A primitive lock: unowned, so any thread may release it.

    acquire() blocks until the lock is free (or the timeout ends) and then
    locks it; release() unlocks it; locked() tells whether it is locked.
    A thread that acquires a lock it already holds waits for another thread
    to release it.  Also usable with the with statement.
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
    acquire_lock: Callable[..., bool]

    # Made in __new__ (below), as RLock is; no __init__.

    def __init_subclass__(cls, **kwargs):
        raise TypeError("type 'lowthread.lock' is not an acceptable base type")

    def release(self):
        """Unlock the lock; any thread may do so.  RuntimeError if it is unlocked."""
        rc = _release(self._lk)
        if rc:
            _released(self, rc, not_locked)

    def locked(self):
        """Return True if the lock is locked."""
        return _locked(self._lk) == 1

    def _at_fork_reinit(self):
        """Make the lock a fresh unlocked one, in a child process after fork()."""
        rc = lib.lt_lock_at_fork_reinit(self._lk)
        if rc:
            check(rc)

    def __exit__(self, *exc_info):
        rc = _release(self._lk)
        if rc:
            _released(self, rc, not_locked)

    # The obsolete spellings that code written for thread/_thread still uses.
    release_lock = release
    locked_lock = locked

    def __repr__(self):
        state = "locked" if _locked(self._lk) == 1 else "unlocked"
        return f"<{state} lowthread.lock object at {id(self):#x}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle 'lowthread.lock' object")


def _make(cls, *args, **kwargs):
    """lock(): the object and its C lock, after CPython 3.13's argument rules."""
    if args:
        raise TypeError(f"lock expected 0 arguments, got {len(args)}")
    if kwargs:
        raise TypeError("lock() takes no keyword arguments")
    self = _object_new(cls)
    self._lk = _new(_LOCK_T)
    return self


# On CPython a builtin of _kept makes lock() without a Python frame (making
# locks is threading's everyday work: one per Condition.wait()), and leaves
# any call with arguments to _make.  With __new__ and no __init__,
# object.__init__ lets the arguments pass.
lock.__new__ = staticmethod(_make if _calls.maker is None  # type: ignore[assignment]
                            else _calls.maker(lock, _new, _LOCK_T, _make))

_wait.lock_methods(
    lock, _calls.lock_wait, _calls.lock_try, _wait.lock_acquire, _calls.lock_untake, """\
Lock the lock, waiting at most timeout seconds (-1: forever) if blocking.

Returns True if the lock was acquired, False if not.
""")
lock.acquire_lock = lock.acquire
