"""Deadlock detection, opt-in (docs/behaviour.md §22).

A watchdog thread reads the C core's list of blocked waits (lt_waits) every
interval and draws the wait-for graph: a thread waiting for an RLock waits
for its owner, one joining a thread waits for that thread, one waiting for
a lock waits for the lock's last taker.  A cycle is reported, and ended
with DeadlockError, only when it is certain:

- every wait in it is untimed and was seen, the same wait (same start), on
  two scans in a row;
- an RLock can be released only by its owner, and a thread ends only if it
  runs, so a cycle of RLock and join edges is certain by itself;
- a lock can be released by any thread: an edge through a lock is certain
  only when every thread that runs Python code is in such a wait, so that
  no thread is left that could release it, and the main thread does not
  wait for a lock it holds itself: that is how a program waits for a
  signal (an Event set by a handler, Ctrl-C), whose handler would run in
  the main thread.  Threads that run no Python code are not seen.

While it runs, every acquire notes where it took its lock (_tracked's
"sites"), for the report.
"""

import atexit
import sys
import traceback

from .._lowthread import lib
from ..core import _calls, _joinable, _threads, _wait
from ..core._lock import lock
from ..core._rlock import RLock
from . import _introspect, _tracked


class DeadlockError(RuntimeError):
    """Raised, instead of waiting for ever, in the thread of a certain
    deadlock that blocked last; the lock it waited for is not taken."""

    __module__ = "lowthread"


_watch: dict = {"stop": None, "handle": None}


def detect_deadlocks(interval=0.5, file=None, sites=True):
    """Watch for deadlocks from now on (idempotent): a certain one is
    written to file (default: sys.stderr as it is then) and ended with
    DeadlockError in the thread that blocked last.  interval: seconds
    between looks; a deadlock is reported within about twice that.
    sites: note where each lock is taken, for the report (each acquire
    then costs more; without, the report has no acquisition sites)."""
    if not interval > 0:
        raise ValueError("interval must be a positive number of seconds")
    if _watch["stop"] is not None:
        return
    if sites:
        _tracked.switch("sites", True)
    _wait.every_thread_interruptible[0] = True
    stop, started = lock(), lock()
    started.acquire()
    _watch["stop"] = stop
    _watch["handle"] = _joinable.start_joinable_thread(
        lambda: _run(stop, started, interval, file))
    # At exit, let a report that is being written end.
    atexit.register(stop_detecting_deadlocks)
    started.acquire()  # once the watchdog holds stop, and is hidden
    started.release()


def stop_detecting_deadlocks():
    """Stop watching, and wait for the watchdog to end."""
    stop, handle = _watch["stop"], _watch["handle"]
    if stop is None:
        return
    _watch["stop"] = _watch["handle"] = None
    atexit.unregister(stop_detecting_deadlocks)
    stop.release()
    handle.join()
    _wait.every_thread_interruptible[0] = False
    _tracked.switch("sites", False)


def _run(stop, started, interval, file):
    me = _calls.get_ident()
    _introspect.hidden.add(me)
    stop.acquire()  # until stop_detecting_deadlocks() releases it
    started.release()
    try:
        _watch_waits(stop, interval, file, me)
    finally:
        _introspect.hidden.discard(me)


def _watch_waits(stop, interval, file, me):
    previous: dict = {}
    judged = None
    while not stop.acquire(timeout=interval):
        waits = {w.ident: w for w in _introspect._c_waits() if w.ident != me}
        stable = {i: w for i, w in waits.items()
                  if w.timeout_us < 0 and previous.get(i) == w}
        previous = waits
        key = frozenset(stable.values())
        if not stable or key == judged:
            continue
        judged = key  # the same waits give the same verdict: look once
        found = _certain_cycle(stable, me)
        if found is not None:
            _report(found, stable, file)


def _certain_cycle(stable, me):
    """(cycle of idents, {ident: waited-for object}) or None."""
    _held, objects = _introspect._scan(holders=False)
    edges, through_lock, joins = {}, set(), set()
    main = _threads._get_main_thread_ident()
    main_awaits_signal = False
    # threading's join on 3.9-3.12 and PyPy waits for a thread's
    # _set_sentinel() lock, which only the thread's end releases.
    sentinels = {id(job.sentinel): ident
                 for ident, job in _introspect._snapshot(_threads._jobs).items()
                 if job.sentinel is not None}
    for ident, w in stable.items():
        obj = objects.get(w.on)
        if isinstance(obj, RLock):
            target = _calls.rlock_owner(obj._lk)
        elif isinstance(obj, _joinable._ThreadHandle):
            target = None if obj.is_done() else obj.ident
        elif id(obj) in sentinels:
            target = sentinels[id(obj)]
            joins.add(ident)
        elif isinstance(obj, lock):
            target = _calls.lock_holder(obj._lk)
            through_lock.add(ident)
            main_awaits_signal |= ident == main and target == main
        else:
            target = None
        if target:
            edges[ident] = (target, obj)
    everyone_stuck = (set(sys._current_frames()) - {me} <= set(stable)
                      and not main_awaits_signal)
    for start in edges:
        path, here = [], start
        while here in edges and here not in path:
            path.append(here)
            here = edges[here][0]
        if here in path:
            cycle = path[path.index(here):]
            if everyone_stuck or not (set(cycle) & through_lock):
                behind = [i for i in edges if i not in cycle and _leads_to(i, cycle, edges)]
                return cycle, behind, {i: edges[i] for i in set(cycle) | set(behind)}, joins
    return None


def _leads_to(ident, cycle, edges):
    seen = set()
    while ident in edges and ident not in seen:
        seen.add(ident)
        ident = edges[ident][0]
        if ident in cycle:
            return True
    return False


def _report(found, stable, file):
    """Write the cycle, with the sites and the stacks of its threads, raise
    DeadlockError in the thread that blocked last, then write everything
    else (dump(): after a C call per lock, slow while a thread is busy)."""
    cycle, behind, edges, joins = found
    last = max(cycle, key=lambda i: stable[i].since_us)
    named = _introspect._threading_threads()
    frames = sys._current_frames()

    def label(ident):
        name = getattr(named.get(ident), "name", None)
        return f"{name!r} (ident {ident})" if name is not None else f"thread {ident}"

    ring = " -> ".join(label(i) for i in cycle + cycle[:1])
    lines = [f"lowthread: deadlock: {ring}"]
    for ident in cycle + behind:
        if behind and ident == behind[0]:
            lines.append("  blocked behind that cycle:")
        nxt, obj = edges[ident]
        if isinstance(obj, _joinable._ThreadHandle) or ident in joins:
            what = f"the end of {label(nxt)}"
        else:
            site = _introspect.taken_at(obj)
            what = (f"{type(obj).__name__} at {id(obj):#x}, "
                    + (f"taken at {site} " if site else "held ") + f"by {label(nxt)}")
            if nxt == ident:
                what += (" itself: it waits to be notified (as Condition.wait and Event.wait "
                         "do), and no thread that could is left running")
        lines.append(f"  {label(ident)} waits for {what}; its stack:")
        if ident in frames:
            lines.extend("    " + line.rstrip("\n").replace("\n", "\n    ")
                         for line in traceback.format_list(_introspect._stack(frames[ident])))
    lines.append(f"  DeadlockError is raised in {label(last)}, which blocked last.")
    out = file if file is not None else sys.stderr
    out.write("\n".join(lines) + "\n")
    out.flush()
    _wait.raise_in_wait[last] = DeadlockError(f"deadlock: {ring}")
    lib.lt_thread_interrupt(last)
    out.write("Every thread, once DeadlockError was raised:\n")
    _introspect.dump(out)
