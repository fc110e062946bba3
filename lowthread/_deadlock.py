"""Deadlock detection, opt-in (docs/behaviour.md §22; work in progress).

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
  no thread is left that could release it.  (Signal handlers that release
  locks, and threads that run no Python code, are not seen.)
"""

import sys

from . import _introspect, _joinable, _threads, _wait
from ._lock import lock
from ._lowthread import lib
from ._rlock import RLock


class DeadlockError(RuntimeError):
    """Raised, instead of waiting forever, in the thread of a certain
    deadlock that blocked last; the lock it waited for is not taken."""

    __module__ = "lowthread"


_watch = {"stop": None, "handle": None}


def detect_deadlocks(interval=0.5, file=None):
    """Start the watchdog (idempotent).  Reports go to file (default: sys.stderr)."""
    if _watch["stop"] is not None:
        return
    stop = lock()
    stop.acquire()
    _watch["stop"] = stop
    _watch["handle"] = _joinable.start_joinable_thread(lambda: _run(stop, interval, file))


def stop_detecting():
    """Stop the watchdog and wait for it to end."""
    stop, handle = _watch["stop"], _watch["handle"]
    if stop is None:
        return
    _watch["stop"] = _watch["handle"] = None
    stop.release()
    handle.join()


def _run(stop, interval, file):
    previous: dict = {}
    judged = None
    me = lib.lt_get_ident()
    while not stop.acquire(timeout=interval):
        waits = {w.ident: w for w in _introspect._c_waits() if w.ident != me}
        stable = {i: w for i, w in waits.items()
                  if w.timeout_us < 0 and previous.get(i) == w}
        previous = waits
        key = frozenset(stable.values())
        if not stable or key == judged:
            continue
        judged = key  # the same waits give the same verdict: look once
        found = _certain_cycle(stable)
        if found is not None:
            _report(found, file)


def _certain_cycle(stable):
    """(cycle of idents, {ident: waited-for object}) or None."""
    _held, objects = _introspect._scan()
    edges, through_lock = {}, set()
    for ident, w in stable.items():
        obj = objects.get(w.on)
        if isinstance(obj, RLock):
            target = lib.lt_rlock_owner(obj._lk)
        elif isinstance(obj, _joinable._ThreadHandle):
            target = None if obj.is_done() else obj.ident
        elif isinstance(obj, lock):
            target = lib.lt_lock_holder(obj._lk)
            through_lock.add(ident)
        else:
            target = None
        if target:
            edges[ident] = (target, obj)
    everyone_stuck = set(sys._current_frames()) - {lib.lt_get_ident()} <= set(stable)
    for start in edges:
        path, here = [], start
        while here in edges and here not in path:
            path.append(here)
            here = edges[here][0]
        if here in path:
            cycle = path[path.index(here):]
            if everyone_stuck or not (set(cycle) & through_lock):
                return cycle, {i: edges[i][1] for i in cycle}
    return None


def _report(found, file):
    cycle, waited = found
    last = max(cycle, key=lambda i: _since(i))
    out = file if file is not None else sys.stderr
    lines = ["lowthread: deadlock: " + " -> ".join(f"thread {i}" for i in cycle + cycle[:1])]
    for ident in cycle:
        lines.append(f"  thread {ident} waits for {_introspect._describe(waited[ident])}")
    out.write("\n".join(lines) + "\n")
    _introspect.dump(out)
    out.flush()
    _wait.raise_in_wait[last] = DeadlockError(
        "deadlock: " + " -> ".join(f"thread {i}" for i in cycle + cycle[:1]))
    lib.lt_thread_interrupt(last)


def _since(ident):
    for w in _introspect._c_waits():
        if w.ident == ident:
            return w.since_us
    return -1
