"""The lock type: a binary semaphore from the C core, freed with its object."""

from typing import Any, Callable

from . import _calls, _reclaim, _wait
from ._core import check, new_c, not_locked
from ._lowthread import ffi, lib

_release = _calls.lock_release
_locked = _calls.lock_locked
# What the C lock costs on the heap, so that PyPy's GC counts it.
_C_LOCK_SIZE = lib.lt_lock_sizeof()
# On CPython the lock object frees its C lock in __del__ and keeps a plain
# pointer: a cdata from ffi.gc() costs 64 more bytes per lock and about 100
# more instructions per call it is passed to.  PyPy collects objects with
# __del__ more slowly than ffi.gc() cdata, and its calls do not care.
_FREE_IN_DEL = _reclaim.IN_DEL


def _new_c_lock():
    """A new unlocked C lock: a plain pointer that lock.__del__ frees where
    _FREE_IN_DEL, else a cdata that frees it when it dies."""
    lk = new_c(_calls.lock_new, "lt_lock_t *")
    return lk if _FREE_IN_DEL else ffi.gc(lk, lib.lt_lock_free, size=_C_LOCK_SIZE)


class lock:
    """A primitive lock: unowned, so any thread may release it.

    acquire() blocks until the lock is free (or the timeout ends) and then
    locks it; release() unlocks it; locked() tells whether it is locked.
    A thread that acquires a lock it already holds waits for another thread
    to release it.  Also usable with the with statement.
    """

    # _site and _class are for the opt-in diagnostics (_tracked).
    __slots__ = ("_lk", "_site", "_class", "__weakref__")
    __module__ = "lowthread"
    _lk: Any  # the C lock (cdata)
    _site: Any  # where it was last taken, while a diagnostic notes it
    _class: Any  # its lock-order class (_lockorder.LockClass)
    # Set below by _wait.lock_methods().
    acquire: Callable[..., bool]
    __enter__: Callable[..., bool]
    acquire_lock: Callable[..., bool]

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(f"lock expected 0 arguments, got {len(args)}")
        if kwargs:
            raise TypeError("lock() takes no keyword arguments")
        self._lk = _new_c_lock()

    if _FREE_IN_DEL:
        __del__ = _reclaim.lk_finalizer(_calls.lock_free)

    def __init_subclass__(cls, **kwargs):
        raise TypeError("type 'lowthread.lock' is not an acceptable base type")

    def release(self):
        """Unlock the lock; any thread may do so.  RuntimeError if it is unlocked."""
        if _release(self._lk):
            not_locked()

    def locked(self):
        """Return True if the lock is locked."""
        return _locked(self._lk) == 1

    def _at_fork_reinit(self):
        """Make the lock a fresh unlocked one, in a child process after fork()."""
        rc = lib.lt_lock_at_fork_reinit(self._lk)
        if rc:
            check(rc)

    def __exit__(self, *exc_info):
        if _release(self._lk):
            not_locked()

    # The obsolete spellings that code written for thread/_thread still uses.
    release_lock = release
    locked_lock = locked

    def __repr__(self):
        state = "locked" if _locked(self._lk) == 1 else "unlocked"
        return f"<{state} lowthread.lock object at {id(self):#x}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle 'lowthread.lock' object")


_wait.lock_methods(
    lock, _calls.lock_wait, _calls.lock_try, _wait.lock_acquire, _calls.lock_untake, """\
Lock the lock, waiting at most timeout seconds (-1: forever) if blocking.

Returns True if the lock was acquired, False if not.
""")
lock.acquire_lock = lock.acquire
