"""The lock type: a binary semaphore from the C core, freed with its object."""

from . import _wait
from ._lowthread import ffi, lib
from ._timeout import acquire_us

_acquire = lib.lt_lock_acquire
_release = lib.lt_lock_release
_locked = lib.lt_lock_locked
_WAIT_INTR = lib.LT_WAIT_INTR
_NO_TIMEOUT = -1
# What the C lock costs on the heap, so that PyPy's GC counts it.
_C_LOCK_SIZE = 64


def new_c_lock():
    """A new unlocked C lock, freed when the returned cdata dies."""
    out = ffi.new("lt_lock_t **")
    rc = lib.lt_lock_new(out)
    if rc:
        _wait.check(rc)
    return ffi.gc(out[0], lib.lt_lock_free, size=_C_LOCK_SIZE)


def at_fork_reinit(lk):
    rc = lib.lt_lock_at_fork_reinit(lk)
    if rc:
        _wait.check(rc)


class lock:
    """A primitive lock: unowned, so any thread may release it.

    acquire() blocks until the lock is free (or the timeout ends) and then
    locks it; release() unlocks it; locked() tells whether it is locked.
    A thread that acquires a lock it already holds waits for another thread
    to release it.  Also usable with the with statement.
    """

    __slots__ = ("_lk", "__weakref__")
    __module__ = "lowthread"

    def __init__(self, *args, **kwargs):
        if args:
            raise TypeError(f"lock expected 0 arguments, got {len(args)}")
        if kwargs:
            raise TypeError("lock() takes no keyword arguments")
        self._lk = new_c_lock()

    def __init_subclass__(cls, **kwargs):
        raise TypeError("type 'lowthread.lock' is not an acceptable base type")

    def acquire(self, blocking=True, timeout=_NO_TIMEOUT):
        """Lock the lock, waiting at most timeout seconds (-1: forever) if blocking.

        Returns True if the lock was acquired, False if not.
        """
        if blocking is True and timeout is _NO_TIMEOUT:
            rc = _acquire(self._lk, -1, _WAIT_INTR)
            if rc == 0:
                return True
            return _wait.acquire(self._lk, -1, rc)
        return _wait.acquire(self._lk, acquire_us(blocking, timeout))

    def release(self):
        """Unlock the lock; any thread may do so.  RuntimeError if it is unlocked."""
        if _release(self._lk):
            raise RuntimeError("release unlocked lock")

    def locked(self):
        """Return True if the lock is locked."""
        return _locked(self._lk) == 1

    def _at_fork_reinit(self):
        """Make the lock a fresh unlocked one, in a child process after fork()."""
        at_fork_reinit(self._lk)

    __enter__ = acquire

    def __exit__(self, *exc_info):
        if _release(self._lk):
            raise RuntimeError("release unlocked lock")

    # The obsolete spellings that code written for thread/_thread still uses.
    acquire_lock = acquire
    release_lock = release
    locked_lock = locked

    def __repr__(self):
        state = "locked" if _locked(self._lk) == 1 else "unlocked"
        return f"<{state} lowthread.lock object at {id(self):#x}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle 'lowthread.lock' object")


def allocate_lock():
    """Return a new, unlocked lock."""
    return lock()
