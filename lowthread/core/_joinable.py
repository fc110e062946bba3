"""Joinable threads: CPython 3.13's start_joinable_thread() and _ThreadHandle.

A handle owns a C thread handle (freed after it, see _freed_after; a thread
never joined is detached then).  A handle made by _make_thread_handle() has no OS thread of
its own: its end is what _set_done() says, kept as a held lock.
"""

import os
import sys
import weakref
from typing import Any

from .._lowthread import ffi, lib
from . import _calls, _status, _threads, _wait
from ._lock import lock

_THREAD_OUT_T = ffi.typeof("lt_thread_t **")
_PYPY = sys.implementation.name == "pypy"
# CPython: the C handles waiting for their cdata to die, by the weak
# reference that tells (see _freed_after).
_freeing: "dict[weakref.ref, Any]" = {}


def _freed_after(c, _freeing=_freeing, _ref=weakref.ref, _cast=ffi.cast,
                 _typeof=ffi.typeof, _free=lib.lt_thread_free):
    """The cdata to keep for the C thread handle c points to: one whose death
    frees it.

    Not a __del__ of the handle, and on CPython not ffi.gc(): in a garbage
    cycle CPython's collector runs every finalizer of the garbage (ffi.gc()'s
    included) before it deallocates any, in no set order, so the C handle
    would be freed before a __del__ of the same garbage that still joins
    it.  A plain pointer cdata is not tracked by the collector: it dies by
    reference counting alone, when its _ThreadHandle is deallocated, after
    every finalizer that could reach it, and a weak reference's callback
    frees the C handle then (docs/behaviour.md §20).  Defaults, not
    globals: a handle may die at exit, once this module's globals are
    cleared.  PyPy keeps the objects a finalizer reaches alive until it has
    run, so ffi.gc() is right there; its weak references' callbacks would
    run only some time after a collection.
    """
    if _PYPY:
        return ffi.gc(c, _free)

    def free(ref, _pop=_freeing.pop, _free=_free):
        _free(_pop(ref))
    _freeing[_ref(c, free)] = _cast(_typeof(c), c)
    return c


# Non-daemon threads still running, joined by _shutdown().
_non_daemon: set = set()
# The "done" locks of the handles _make_thread_handle() made, with their
# idents: after fork() those of other threads are done.
_made: "weakref.WeakKeyDictionary[lock, int]" = weakref.WeakKeyDictionary()


class _ThreadHandle:
    """The handle of a thread started by start_joinable_thread()."""

    __slots__ = ("_thread", "_event", "_ident")
    __module__ = "lowthread"
    _thread: Any  # the C handle (cdata), once started
    _event: Any  # for _make_thread_handle: a lock held until done

    def __init__(self, *args, **kwargs):
        self._thread = None
        self._event = None
        self._ident = 0

    def __init_subclass__(cls, **kwargs):
        raise TypeError("type 'lowthread._ThreadHandle' is not an acceptable base type")

    @property
    def ident(self):
        return self._ident

    def _started(self):
        return self._thread is not None or self._event is not None

    def is_done(self):
        """True once the thread has finished (or _set_done() was called)."""
        if self._thread is not None:
            return _calls.thread_is_done(self._thread) == 1
        return self._event is not None and not self._event.locked()

    def _set_done(self):
        """Mark the thread done and never join it (idempotent)."""
        if not self._started():
            raise RuntimeError("thread not started")
        if self._thread is not None:
            lib.lt_thread_set_done(self._thread)
        elif self._event.locked():
            self._event.release()

    def join(self, timeout=None, /):
        """Wait until the thread ends, or at most timeout seconds (None or < 0: forever)."""
        us = -1 if timeout is None else _status.timeout_us(True, timeout, True)
        if not self._started():
            raise RuntimeError("thread not started")
        if self._ident == _threads.get_ident() and not self.is_done():
            raise RuntimeError("Cannot join current thread")
        if self._thread is not None:
            _wait.acquire(self._thread, us, _calls.thread_join, None)
        elif _wait.acquire(self._event._lk, us):
            self._event.release()

    def __repr__(self):
        return f"<lowthread._ThreadHandle object: ident={self._ident}>"

    def __reduce_ex__(self, protocol):
        raise TypeError("cannot pickle 'lowthread._ThreadHandle' object")


def start_joinable_thread(function, handle=None, daemon=True):
    """Start function() in a new thread and return its _ThreadHandle."""
    if not callable(function):
        raise TypeError("thread function must be callable")
    if handle is not None and type(handle) is not _ThreadHandle:
        raise TypeError("'handle' must be a _ThreadHandle")
    daemon = bool(daemon)
    sys.audit("_thread.start_joinable_thread", function, int(daemon), handle)
    if handle is None:
        handle = _ThreadHandle()
    elif handle._started():
        raise RuntimeError("thread already started")
    out = ffi.new(_THREAD_OUT_T)
    # The thread waits on hold until its handle knows it: the function may
    # well join or inspect its own handle at once.
    hold = lock()
    hold.acquire()
    try:
        handle._ident = _threads.start(
            function, (), {}, lambda fn, arg, ident: lib.lt_thread_start_joinable(fn, arg, out, ident),
            hold, None if daemon else lambda: _non_daemon.discard(handle))
        handle._thread = _freed_after(out[0])
        if not daemon:
            # Before the thread may end (it waits on hold): see at_end above.
            _non_daemon.add(handle)
    finally:
        hold.release()
    return handle


def _make_thread_handle(ident, /):
    """A running handle for a thread lowthread did not start (done by _set_done())."""
    handle = _ThreadHandle()
    handle._ident = _status.thread_ident(ident)
    event = handle._event = lock()
    event.acquire()
    _made[event] = handle._ident
    return handle


def _shutdown():
    """Join every non-daemon thread but the caller's, also those that the
    joined ones start meanwhile, until none is left."""
    me = _threads.get_ident()
    while True:
        pending = [handle for handle in _non_daemon if handle.ident != me]
        if not pending:
            return
        for handle in pending:
            handle.join()
            _non_daemon.discard(handle)


def _after_fork_in_child():
    # The parent's other threads do not exist here: nothing to wait for,
    # and the handles made for them are done.
    me = _threads.get_ident()
    for handle in list(_non_daemon):
        if handle.ident != me:
            _non_daemon.discard(handle)
    for event, ident in list(_made.items()):
        if ident != me:
            event._at_fork_reinit()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
