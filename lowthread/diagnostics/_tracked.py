"""The lock methods with bookkeeping, for the opt-in diagnostics
(docs/behaviour.md §22-23).

Off, lock and RLock have their plain methods (core/_wait.lock_methods) and
none of this runs.  At each mode change this module makes one method table
for the modes now on and hands it to the core (core/_methods.use), which
puts it in the classes, so that every lock, alive or made later, and every
caller (threading's Condition, queue, logging...) goes through it:

- "sites" (deadlock detection): each acquire that takes a lock notes where
  (lock._site), for the report of a deadlock the lock is part of;
- "order" (lock-order checking, which also notes sites): each thread's
  list of the locks it holds with where it took them, each lock's class
  (lock._class, the site that made it), and before an untimed acquire the
  check of _lockgraph;
- "made" (the contention profile): only each lock's class, in __new__; the
  profile sees waits through the binding (_wait.profile), not through
  wrappers, so the acquire and release it leaves as they are.

A lock that a method without wrappers took or released (a Condition made
before the switch keeps its lock's bound methods) is only missed, never
counted wrongly: a thread's list is checked against the C core's holder
before an entry of it is used for a new edge.
"""

import os
import sys
import weakref

from ..core import _calls, _methods
from ..core._lock import lock
from . import _lockgraph, _sites

_PLAIN = _methods.PLAIN
modes: set = set()  # "sites", "order", "made"
_getframe = sys._getframe
_site = _sites.site
_made_site = _sites.made_site
_ident = _calls.get_ident
_ref = weakref.ref
_recursion = _calls.rlock_recursion
# Thread ident -> [(weak reference to a lock, site taken at)], oldest first;
# weak, so that a lock dropped while held goes (it can be taken no more).  A
# thread that holds nothing has no entry, so the dictionary stays as small as
# the threads that hold locks.
_held: dict = {}


def _after_fork_in_child():
    """Only the thread that forked goes on in the child: the others' lists go."""
    mine = _held.get(_ident())
    _held.clear()
    if mine:
        _held[_ident()] = mine


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def switch(mode, on):
    """Turn a mode ("sites", "order" or "made") on or off, and have the core
    use the methods that the modes now on need."""
    (modes.add if on else modes.discard)(mode)
    if "order" in modes:
        tables = {cls: _order_methods(cls, _PLAIN[cls]) for cls in _PLAIN}
    else:
        _held.clear()
        tables = {cls: _site_methods(cls, _PLAIN[cls]) if "sites" in modes else {}
                  for cls in _PLAIN}
        if "made" in modes:
            for cls, table in tables.items():
                table["__new__"] = _classed_new(cls, _PLAIN[cls])
    _methods.use(tables if modes else None)


def _named(fn, cls, name, plain):
    fn.__name__ = name
    fn.__qualname__ = f"{cls.__name__}.{name}"
    fn.__module__ = cls.__module__
    fn.__doc__ = plain.__doc__
    return fn


def _site_methods(cls, plain):
    acquire = plain["acquire"]
    acquire_restore = plain.get("_acquire_restore")
    skipped, site = _sites.skipped, _site

    if cls is lock:
        def acquire_(self, blocking=True, timeout=-1):
            if acquire(self, blocking, timeout):
                f = _getframe(1)
                code = f.f_code
                self._site = ((code, f.f_lasti) if skipped.get(code.co_filename) is False
                              else site(f))
                return True
            return False
    else:
        def acquire_(self, blocking=True, timeout=-1):
            if acquire(self, blocking, timeout):
                if _recursion(self._lk) == 1:  # the first take, not a nested one
                    self._site = site(_getframe(1))
                return True
            return False

    table = dict(plain)
    table["acquire"] = _named(acquire_, cls, "acquire", acquire)
    table["__enter__"] = _named(_copy(acquire_), cls, "__enter__", acquire)
    if "acquire_lock" in table:
        table["acquire_lock"] = _named(_copy(acquire_), cls, "acquire_lock", acquire)
    if acquire_restore is not None:
        def acquire_restore_(self, state, /):
            acquire_restore(self, state)
            self._site = site(_getframe(1))

        table["_acquire_restore"] = _named(acquire_restore_, cls, "_acquire_restore",
                                           acquire_restore)
    return table


def _order_methods(cls, plain):
    acquire, release = plain["acquire"], plain["release"]
    release_save = plain.get("_release_save")
    acquire_restore = plain.get("_acquire_restore")
    check = _lockgraph.check
    released_elsewhere = _lockgraph.released_elsewhere

    skipped = _sites.skipped

    def acquire_(self, blocking=True, timeout=-1):
        me = _ident()
        held = _held.get(me)
        frame = _getframe(1)
        code = frame.f_code
        taken_at = ((code, frame.f_lasti) if skipped.get(code.co_filename) is False
                    else _site(frame))
        if held:
            check(self, held, me, taken_at, frame, blocking and timeout == -1)
        if not acquire(self, blocking, timeout):
            return False
        if held is None:
            _held[me] = [(_ref(self), taken_at)]
            self._site = taken_at
        else:
            if cls is lock or _recursion(self._lk) == 1:
                self._site = taken_at
            held.append((_ref(self), taken_at))
        return True

    def release_(self):
        me = _ident()
        held = _held.get(me)
        if held:
            for i in range(len(held) - 1, -1, -1):
                if held[i][0]() is self:
                    del held[i]
                    if not held:
                        del _held[me]
                    break
            else:
                released_elsewhere(self, me)
        else:
            released_elsewhere(self, me)
        release(self)

    def exit_(self, *exc_info):
        release_(self)

    table = {"__new__": _classed_new(cls, plain),
             "acquire": _named(acquire_, cls, "acquire", acquire),
             "__enter__": _named(_copy(acquire_), cls, "__enter__", acquire),
             "release": _named(release_, cls, "release", release),
             "__exit__": _named(exit_, cls, "__exit__", plain["__exit__"])}
    if "acquire_lock" in plain:
        table["acquire_lock"] = _named(_copy(acquire_), cls, "acquire_lock", acquire)
        table["release_lock"] = _named(_copy(release_), cls, "release_lock", release)
    if release_save is not None:
        def release_save_(self):
            state = release_save(self)
            held = _held.get(_ident())
            if held:
                held[:] = [entry for entry in held if entry[0]() is not self]
                if not held:
                    _held.pop(_ident(), None)
            return state

        def acquire_restore_(self, state, /):
            me = _ident()
            held = _held.get(me)
            frame = _getframe(1)
            taken_at = _site(frame)
            if held:
                check(self, held, me, taken_at, frame, True)
            acquire_restore(self, state)
            self._site = taken_at
            _held.setdefault(me, []).extend([(_ref(self), taken_at)] * max(1, int(state[0])))

        table["_release_save"] = _named(release_save_, cls, "_release_save", release_save)
        table["_acquire_restore"] = _named(acquire_restore_, cls, "_acquire_restore",
                                           acquire_restore)
    return table


def _classed_new(cls, plain):
    """__new__ that gives each lock its class (the site that made it)."""
    new = plain["__new__"].__func__
    made_at = _lockgraph.class_made_at

    def new_(cls_, *args, **kwargs):
        self = new(cls_, *args, **kwargs)
        self._class = made_at(_made_site(_getframe(1)))
        return self

    return staticmethod(_named(new_, cls, "__new__", new))


def _copy(fn):
    """Another function object with fn's code and closure (each method has
    its own name)."""
    return type(fn)(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
