"""Workloads for test_stress.py, importable in a fresh process (no pytest here).

Every workload takes the module under test (lowthread, or the interpreter's
own _thread as a baseline) and a time budget, and returns a dict of plain
counts; the test decides what they must be.  Every wait is bounded, so a lost
wakeup or a deadlock shows up as a count ("stuck", "unacquirable"), never as
a hang.

The workloads live in _stress_wakeups.py (part 1: lost wakeups, and the
helpers they all use) and _stress_signals.py (part 2: signals at random
points); this module has part 3 (threading.local lifetimes), the broken
stand-ins for the module under test, and the command line, and it gives
test_stress.py every name it uses as ``work.NAME``.

Run in a fresh process as ``python -c 'import _stress_work as w; w.main()' ARGS``
(see main()); it prints one JSON object per line.
"""

import _thread as _native_thread
import importlib
import json
import os
import sys
import threading
import time

from _stress_signals import (  # noqa: F401 - test_stress.py uses them as work.NAME
    DELIVERIES,
    SCENARIOS,
    _PythonLevelLock,
    signal_fuzz,
)
from _stress_wakeups import (  # noqa: F401 - test_stress.py uses them as work.NAME
    WORKLOADS,
    _BrokenLock,
    condition_tokens,
    lock_handoff,
    now,
    rlock_exclusion,
    wait_until,
)

# ---------------------------------------------------------------------------
# 3. threading.local values die with the thread


def local_lifetime(mod, threads=1, limit=1.0):
    """Threads started by mod each store a value in a threading.local.

    Returns how long after the last thread's function returned its value was
    freed (its weakref callback and its __del__ both count), or None if not
    within limit seconds.  No other thread is started meanwhile (cffi frees
    a finished thread's state when another thread first calls back, which
    would hide the leak).
    """
    import gc
    import weakref

    class Value:
        def __del__(self):
            deleted.append(now())

    deleted = []
    callbacks = []
    refs = []
    local = threading.local()
    finished = []

    def body(i):
        value = Value()
        refs.append(weakref.ref(value, lambda _r: callbacks.append(now())))
        local.value = value
        del value
        finished.append(now())

    for i in range(threads):
        n = len(finished)
        mod.start_new_thread(body, (i,))
        if not wait_until(lambda n=n: len(finished) > n, 10.0, 0.0005):
            return {"error": "thread %d did not run" % i}
    t_end = finished[-1]
    deadline = t_end + limit
    while now() < deadline and (len(callbacks) < threads or len(deleted) < threads):
        time.sleep(0.002)
        gc.collect()
    alive = sum(r() is not None for r in refs)
    return {
        "threads": threads, "alive": alive, "callbacks": len(callbacks), "deleted": len(deleted),
        "freed_after": (max(callbacks) - t_end) if len(callbacks) == threads else None,
    }


# ---------------------------------------------------------------------------
# Deliberately broken locks: the tests run the workloads on these once, to show
# that the checks catch what they are meant to catch.


def broken_module(kind):
    """A stand-in for the module under test whose allocate_lock() is broken as kind says."""
    import types

    factory = _PythonLevelLock if kind == "python-level" else (lambda: _BrokenLock(kind))
    return types.SimpleNamespace(__name__="broken:" + kind, allocate_lock=factory,
                                 start_new_thread=_native_thread.start_new_thread,
                                 interrupt_main=_native_thread.interrupt_main)


def _load(name):
    """A module by name, or "broken:KIND" for broken_module(KIND)."""
    if name.startswith("broken:"):
        return broken_module(name.partition(":")[2])
    return importlib.import_module(name)


# ---------------------------------------------------------------------------
# Command line (for subprocess runs)


def main(argv=None):
    """Command line for subprocess runs; prints one JSON object per line.

    workloads MODULE SECONDS SEED [NAME...]   the CPUs it may run on, then the
                                              workloads of part 1 (all by default)
    fuzz SCENARIO DELIVERY SEED MODULE=SECONDS...   signal_fuzz, once per module
    local MODULE THREADS                      local_lifetime
    """
    args = list(sys.argv[1:] if argv is None else argv)
    kind = args.pop(0)
    if kind == "workloads":
        mod = _load(args[0])
        seconds, seed = float(args[1]), int(args[2])
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        print(json.dumps({"cpus": cpus}), flush=True)
        for name in args[3:] or list(WORKLOADS):
            print(json.dumps(WORKLOADS[name](mod, seconds, seed=seed)), flush=True)
    elif kind == "fuzz":
        scenario, delivery, seed = args[0], args[1], int(args[2])
        for spec in args[3:]:
            name, _, seconds = spec.partition("=")
            result = signal_fuzz(_load(name), scenario, delivery,
                                 float(seconds), seed)
            print(json.dumps(result), flush=True)
    elif kind == "local":
        print(json.dumps(local_lifetime(importlib.import_module(args[0]), int(args[1]))),
              flush=True)
    else:
        raise SystemExit("unknown kind %r" % kind)
