"""When the C objects behind locks and thread handles may be freed
(docs/behaviour.md §20).

On CPython their owners free them in __del__.  A __del__ that runs because
the last reference went can free at once: nothing else reaches the owner.
The cyclic collector is different (PEP 442): it runs the finalizers of all
the garbage it found, in no set order, and only then clears and deallocates
it, so a lock's __del__ may run before the __del__ of an object that still
takes the lock.  During a collection the free therefore waits until the
owner lets go of the cdata that points to the C object, which it does when
it is cleared or deallocated: a weak reference to that cdata tells.  A cdata
is not tracked by the collector, so no collection clears such a reference
before its finalizers run (as it does those to its garbage); the cdata dies
by reference counting alone, after every finalizer that could reach it, in
this collection or, if a __del__ resurrected its owner, in a later one.

On PyPy the owners keep ffi.gc() cdata instead: its collector runs the
finalizer of an object before those of the objects it references, and
lowthread's owners reference no objects with finalizers of their own.
"""

import atexit
import gc
import sys
import weakref
from collections import OrderedDict

from ._lowthread import ffi

IN_DEL = sys.implementation.name == "cpython"


# gc.callbacks' entry tells whether a collection is running.  It is a C
# method, not a Python function: the collector calls it wherever a
# collection starts, at the recursion limit too, where calling a Python
# function fails with RecursionError, which the collector writes out as an
# unraisable report; writing it runs pending signal handlers and drops what
# they raise, so a KeyboardInterrupt from Ctrl-C or interrupt_main() was
# lost there (the main thread of CPython's test_print_exception_gh_102056
# recursed for ever).  move_to_end(phase, info) puts the phase last (info,
# a non-empty dict, is its `last` argument); the last key is the phase now.
_phases = OrderedDict.fromkeys(("start", "stop"))
_entry = _phases.move_to_end


# The weak references to the cdata of owners whose C objects wait for them,
# each to the function that frees the C object and a cdata of its own that
# points to it (holding the owner's cdata would keep it alive for ever).
_waiting: "dict[weakref.ref, tuple]" = {}
# PyPy has no gc.callbacks, and needs none (above).
_callbacks: list = gc.callbacks if IN_DEL else []

# The functions below take what they use as defaults or from closures, not
# from globals: finalizers also run at exit, once the interpreter may have
# cleared this module's globals.


def _free_waiting(ref, _waiting=_waiting):
    free_c, c = _waiting.pop(ref)
    free_c(c)


def _wait_for(c, free_c, _waiting=_waiting, _ref=weakref.ref, _free_waiting=_free_waiting,
              _cast=ffi.cast, _typeof=ffi.typeof):
    _waiting[_ref(c, _free_waiting)] = (free_c, _cast(_typeof(c), c))


def free(c, free_c, _phases=_phases, _entry=_entry, _callbacks=_callbacks,
         _wait_for=_wait_for, _reversed=reversed, _next=next):
    """free_c(c) now, or once nothing holds the cdata c if a collection may be running.

    Where gc.callbacks no longer holds _entry (someone removed it, or the
    interpreter is exiting: its last collections run no callbacks), no
    collection can be ruled out, so every free waits.
    """
    try:
        collecting = _next(_reversed(_phases)) == "start"
    except RuntimeError:  # see lk_finalizer
        collecting = True
    if collecting or _entry not in _callbacks:
        _wait_for(c, free_c)
    else:
        free_c(c)


def lk_finalizer(free_c):
    """The __del__ of a class whose _lk holds a cdata that free_c frees.

    It is free() written out in __del__ itself, one Python call less:
    locks are made and dropped at a high rate (threading.Condition.wait
    makes one per wait).
    """
    phases, entry, callbacks, wait_for = _phases, _entry, _callbacks, _wait_for
    last_of, next_ = reversed, next

    def __del__(self):
        try:
            c = self._lk
        except AttributeError:  # the constructor never set it, or failed
            return
        try:
            collecting = next_(last_of(phases)) == "start"
        except RuntimeError:
            # Another thread's collection moved a phase between the two
            # calls (the GIL can pass there): one may be running.
            collecting = True
        if collecting or entry not in callbacks:
            wait_for(c, free_c)
        else:
            free_c(c)
    return __del__


def _at_exit():
    _callbacks[:] = [cb for cb in _callbacks if cb is not _entry]


if IN_DEL:
    # First, so that the membership tests stop at it.
    _callbacks.insert(0, _entry)
    atexit.register(_at_exit)
