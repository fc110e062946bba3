"""Lock-order checking, opt-in, in the manner of Linux's lockdep
(docs/behaviour.md §23).

Locks are grouped in classes by the site that made them (one class for a
million locks made on one line), so that the graph stays as small as the
program's source.  Taking a lock of class B, untimed, while holding one of
class A records the edge A -> B with where both were taken; an edge that
closes a cycle of classes is a lock-order inversion: threads that take
those locks in those orders can deadlock, whether or not they did this
time.  It is reported once per cycle, or raised as LockOrderError before
the lock is taken in strict mode (the edge is then not recorded).

What is not an order:
- a try or a timed acquire: it cannot wait for ever, so no edge ends at it
  (the lock still counts as held for the locks taken after it);
- two locks of one class (taken in either order, they are one node);
- a "signal" class: a plain lock that a thread takes while it holds it
  already (it waits for another thread to release it: Condition's waiter
  locks), or that a thread releases while another holds it.  Such a lock
  is a notification, not a mutual exclusion; once a class is seen used so,
  its edges are dropped and it is left out from then on.

The bookkeeping itself (what each thread holds) is _tracked's; this module
keeps the classes and the graph, and reports; _lockorder, above both, has
the switches.
"""

import gc
import sys
import traceback

from ..core import _calls, _methods
from ..core._lock import lock
from . import _sites


class LockOrderError(RuntimeError):
    """Raised in strict lock-order checking, instead of taking a lock whose
    order, with the locks this thread holds, closes a cycle."""

    __module__ = "lowthread"


class LockClass:
    """The locks made at one site: a node of the order graph."""

    __slots__ = ("made", "before_checking", "after", "before", "signal")

    def __init__(self, made, before_checking):
        self.made = made  # the site
        self.before_checking = before_checking  # made before checking began
        self.after = {}  # LockClass -> _Edge: taken after this one
        self.before = set()  # the classes with an edge to this one
        self.signal = False

    def describe(self):
        if self.before_checking:
            return (f"a lock first taken at {_sites.text(self.made, True)} "
                    "(made before checking began)")
        return f"a lock made at {_sites.text(self.made, True)}"


class _Edge:
    """The first time a class was taken while one of another class was held."""

    __slots__ = ("thread", "held_at", "taken_at", "stack")

    def __init__(self, thread, held_at, taken_at, stack):
        self.thread = thread
        self.held_at = held_at
        self.taken_at = taken_at
        self.stack = stack


_classes: dict = {}  # (site's code names, offset, made before checking) -> LockClass
# The class of the locks lowthread makes for itself (a thread's handle, a
# _set_sentinel() lock, the watchdog's): signals, never part of an order.
# The core marks the ones it makes with no class (None), as it knows
# nothing of classes.
INTERNAL = LockClass(None, False)
INTERNAL.signal = True
_reported: set = set()  # frozensets of the classes of the cycles reported
# Strict mode and where reports go (None: sys.stderr).
settings: dict = {"strict": False, "file": None}
_holder = _calls.lock_holder
_owner = _calls.rlock_owner


def class_made_at(made, before_checking=False):
    if made is None:
        return INTERNAL
    # Keyed by the code's names, not the code object, whose hash is slow:
    # hashing it on every lock made cost more than the rest of making it.
    code, lasti = made
    key = (code.co_filename, code.co_firstlineno, code.co_name, lasti, before_checking)
    c = _classes.get(key)
    if c is None:
        c = _classes.setdefault(key, LockClass(made, before_checking))
    return c


def class_of(lk, taken_at):
    """lk's class; a lock made before checking began gets the class of the
    site that first takes it."""
    try:
        c = lk._class
    except AttributeError:
        c = lk._class = class_made_at(taken_at, True)
        return c
    return INTERNAL if c is None else c


def holds(lk, me):
    """Whether thread me holds lk now (its held list may be stale: a lock
    released through a method that was not wrapped)."""
    return (_holder(lk._lk) if type(lk) is lock else _owner(lk._lk)) == me


_graph_lock = lock()
_take_graph = _methods.PLAIN[lock]["acquire"]  # the plain methods: see with_graph
_give_graph = _methods.PLAIN[lock]["release"]


def with_graph(fn, *args):
    """fn(*args) with the graph to itself.  Called from the wrapped lock
    methods, so it calls the plain ones."""
    _take_graph(_graph_lock)
    try:
        return fn(*args)
    finally:
        _give_graph(_graph_lock)


def make_signal(c):
    """c's locks are notifications: drop its edges, leave it out from now on."""
    c.signal = True
    for b in list(c.before):
        b.after.pop(c, None)
    for a in list(c.after):
        a.before.discard(c)
    c.after.clear()
    c.before.clear()


def check(lk, held, me, taken_at, frame, untimed):
    """Before an acquire of lk by thread me, which holds the (weak
    reference to a lock, site) entries of held: if the acquire is untimed, record the new edges, and
    report (or raise, strict) the first that closes a cycle."""
    c = class_of(lk, taken_at)
    if c.signal:
        return
    for i, (ref, _) in enumerate(held):
        if ref() is lk:
            if not holds(lk, me):
                del held[i]  # released behind the wrappers' back
                break
            if type(lk) is lock:
                with_graph(make_signal, c)  # it waits for another thread to release it
            return  # an RLock taken again: no new order
    if not untimed:
        return
    for i in range(len(held) - 1, -1, -1):
        ref, held_at = held[i]
        h = ref()
        if h is None:
            del held[i]  # dropped while held: nothing can take it any more
            continue
        hc = class_of(h, held_at)
        if hc is c or hc.signal or c in hc.after:
            continue
        if not holds(h, me):
            del held[i]  # released behind the wrappers' back
            continue
        h = None  # so that only the list's weak reference is left of it here
        if _dropped(ref):
            del held[i]
            continue
        with_graph(_new_edge, hc, c, me, held_at, taken_at, frame)


def _dropped(ref):
    """Whether the held lock ref refers to was dropped: on CPython ref dies
    with the last reference to it.  PyPy frees it only when its collector
    runs, so it collects here, before each new edge (those are few: at
    most one per pair of classes)."""
    if _COUNTS_REFERENCES:
        return False
    gc.collect()
    return ref() is None


_COUNTS_REFERENCES = sys.implementation.name == "cpython"


def _new_edge(hc, c, me, held_at, taken_at, frame):
    if c.signal or hc.signal or c in hc.after:  # another thread was first
        return
    path = _path(c, hc)
    edge = _Edge(_thread_name(me), held_at, taken_at, None)
    if path is not None:
        cycle = frozenset(path)
        if settings["strict"]:
            raise LockOrderError(_report_text(hc, c, edge, path, frame))
        if cycle not in _reported:
            _reported.add(cycle)
            _write(_report_text(hc, c, edge, path, frame))
    edge.stack = _stack(frame)
    hc.after[c] = edge
    c.before.add(hc)


def _path(start, goal):
    """The classes from start to goal along the edges (both included), or None."""
    came_from = {start: None}
    todo = [start]
    while todo:
        here = todo.pop()
        if here is goal:
            path = []
            while here is not None:
                path.append(here)
                here = came_from[here]
            return path[::-1]
        for nxt in list(here.after):
            if nxt not in came_from:
                came_from[nxt] = here
                todo.append(nxt)
    return None


def _stack(frame):
    return [f for f in traceback.extract_stack(frame)
            if not f.filename.startswith(_sites.PACKAGE)]


def _thread_name(ident):
    threading = sys.modules.get("threading")
    thread = getattr(threading, "_active", {}).get(ident)
    name = getattr(thread, "name", None)
    return f"{name!r} (ident {ident})" if name is not None else f"ident {ident}"


def _report_text(held_class, taken_class, edge, path, frame):
    lines = [
        "lowthread: lock-order inversion: thread "
        f"{edge.thread} takes {taken_class.describe()} while it holds "
        f"{held_class.describe()}, but these locks have been taken in the opposite order, "
        "so threads that take them can deadlock:",
        f"  1. {held_class.describe()}, then {taken_class.describe()}: now, in thread "
        f"{edge.thread}, which took the first at {_sites.text(edge.held_at)} and takes "
        f"the second at {_sites.text(edge.taken_at)}",
    ]
    for n, (a, b) in enumerate(zip(path, path[1:]), 2):
        old = a.after[b]
        lines.append(f"  {n}. {a.describe()}, then {b.describe()}: first in thread "
                     f"{old.thread}, which took the first at {_sites.text(old.held_at)} "
                     f"and the second at {_sites.text(old.taken_at)}; its stack then:")
        lines.extend("       " + line.rstrip("\n").replace("\n", "\n       ")
                     for line in traceback.format_list(old.stack))
    lines.append("  stack of this acquire:")
    lines.extend("       " + line.rstrip("\n").replace("\n", "\n       ")
                 for line in traceback.format_list(_stack(frame)))
    return "\n".join(lines)


def _write(text):
    out = settings["file"] if settings["file"] is not None else sys.stderr
    out.write(text + "\n")
    out.flush()


def released_elsewhere(lk, me):
    """lk, which thread me's list does not show it holding, is released by
    me: a plain lock held by another thread is a notification."""
    c = getattr(lk, "_class", None)
    if c is not None and not c.signal and type(lk) is lock:
        h = _holder(lk._lk)
        if h and h != me:
            with_graph(make_signal, c)


def forget():
    """Drop every class's graph (checking starts over)."""
    for c in _classes.values():
        c.after.clear()
        c.before.clear()
        c.signal = False
    _reported.clear()
