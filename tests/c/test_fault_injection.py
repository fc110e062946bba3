"""Injected faults (docs/testing.md §T6): pthread_create and malloc fail, in a fresh interpreter each.

Faults are injected with tests/c/faults/ltfault.c, compiled here with ``cc``
and loaded into the child with LD_PRELOAD: an interposed ``pthread_create``
that fails the next N calls with a chosen errno, and an interposed
``malloc`` that fails chosen calls made from lowthread's own extension (its
code's address range is read from /proc/self/maps), so that the failure
lands in lowthread's C core and nowhere else, wherever that core allocates.

What must follow: the host's own _thread's error (RuntimeError: can't start
new thread, or MemoryError), nothing ran, nothing kept, and everything works
afterwards.
"""

import os
import shlex
import shutil
import subprocess

import pytest
from _faults_support import child_json, report, run_child
from conftest import IS_LINUX, IS_PYPY, ORACLE

pytestmark = [
    pytest.mark.skipif(
        not IS_LINUX, reason="Linux only: /proc/self, LD_PRELOAD interposers and fork"),
    # The scenarios use what only lowthread has on every host (RLock and
    # joinable threads everywhere, its C core's own allocations).
    pytest.mark.skipif(ORACLE, reason="lowthread's own reliability, not the oracle's"),
]

HERE = os.path.dirname(os.path.abspath(__file__))
FAULT_SRC = os.path.join(HERE, "faults", "ltfault.c")


# ---------------------------------------------------------------------------
# 3. Injected faults: pthread_create and malloc fail


@pytest.fixture(scope="session")
def ltfault_so(tmp_path_factory):
    """tests/c/faults/ltfault.c built as a shared object for LD_PRELOAD."""
    import platform

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("the interposer needs glibc (__libc_malloc)")
    cc = shlex.split(os.environ.get("CC", "")) or [shutil.which("cc") or shutil.which("gcc")]
    assert cc[0], "no C compiler (cc) on PATH: the fault tests need one"
    out = str(tmp_path_factory.mktemp("ltfault") / "ltfault.so")
    cmd = [*cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-o", out,
           FAULT_SRC, "-ldl", "-pthread"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, "%s\n%s%s" % (" ".join(cmd), proc.stdout, proc.stderr)
    return out


def fault_env(so):
    return {"LD_PRELOAD": so, "LTFAULT_SO": so}


FAULT_PRELUDE = """
import ctypes, json, os, sys, time, weakref
import _thread as native
F = ctypes.CDLL(os.environ["LTFAULT_SO"])
F.ltfault_pthread_create_arm.argtypes = [ctypes.c_long, ctypes.c_int]
F.ltfault_pthread_create_arm.restype = None
F.ltfault_pthread_create_calls.restype = ctypes.c_long
F.ltfault_pthread_create_failed.restype = ctypes.c_long
F.ltfault_malloc_arm.argtypes = [ctypes.c_size_t, ctypes.c_size_t, ctypes.c_long, ctypes.c_long]
F.ltfault_malloc_arm.restype = None
F.ltfault_malloc_disarm.restype = None
F.ltfault_malloc_seen.restype = ctypes.c_long
F.ltfault_malloc_failed.restype = ctypes.c_long

def outcome(call):
    try:
        call()
    except BaseException as e:
        return "%s: %s" % (type(e).__name__, e)
    return "ok"

def wait_for(pred, seconds=10.0):
    end = time.monotonic() + seconds
    while not pred() and time.monotonic() < end:
        time.sleep(0.001)
    return pred()

def thread_runs(start=lt.start_new_thread):
    # A thread starts and runs; a lock works across threads.
    done = lt.allocate_lock()
    done.acquire()
    start(done.release, ())
    return done.acquire(timeout=10)

def usable():
    lk = lt.allocate_lock()
    ok = lk.acquire() and not lk.acquire(False) and lk.locked()
    lk.release()
    r = lt.RLock()
    with r:
        with r:
            ok = ok and r._recursion_count() == 2
    h = lt.start_joinable_thread(lambda: None)
    h.join(10)
    return bool(ok and h.is_done() and thread_runs() and wait_for(lambda: lt._count() == 0))
"""

PTHREAD_CREATE_SCRIPT = """
ERR = {err}
res = {{}}

class Arg:
    pass

ran = []

def target(*a, **k):
    ran.append(a)

# The interposer is in place and lets calls through while disarmed.
calls = F.ltfault_pthread_create_calls()
res["disarmed_start_works"] = thread_runs()
res["interposed"] = F.ltfault_pthread_create_calls() - calls
wait_for(lambda: lt._count() == 0)

import gc
gc.collect()
gc.disable()          # what the failures leave must go without the collector
args = (Arg(), 1)
kwargs = {{"k": Arg()}}
refs = (sys.getrefcount(args), sys.getrefcount(kwargs)) if hasattr(sys, "getrefcount") else None
arg_ref = weakref.ref(args[0])
starts = [
    ("native", lambda: native.start_new_thread(target, args, kwargs)),
    ("lowthread", lambda: lt.start_new_thread(target, args, kwargs)),
    ("lowthread_joinable", lambda: lt.start_joinable_thread(lambda: target(*args, **kwargs))),
]
if hasattr(native, "start_joinable_thread"):
    starts.append(("native_joinable",
                   lambda: native.start_joinable_thread(lambda: target(*args, **kwargs))))
for name, call in starts:
    failed = F.ltfault_pthread_create_failed()
    F.ltfault_pthread_create_arm(1, ERR)
    res[name] = outcome(call)
    F.ltfault_pthread_create_arm(0, 0)
    res[name + "_faults"] = F.ltfault_pthread_create_failed() - failed
time.sleep(0.1)
res["ran"] = len(ran)
res["count_after_failures"] = lt._count()

# A burst: the first 5 of 10 starts fail, the others run.
F.ltfault_pthread_create_arm(5, ERR)
burst = [outcome(lambda: lt.start_new_thread(target, args, kwargs)) for _ in range(10)]
F.ltfault_pthread_create_arm(0, 0)
res["burst"] = burst
res["burst_ran"] = wait_for(lambda: len(ran) == 5) and len(ran)
res["count_back"] = wait_for(lambda: lt._count() == 0)
res["usable"] = usable()
ran.clear()
if refs is not None:
    res["refcounts"] = [refs, [sys.getrefcount(args), sys.getrefcount(kwargs)]]
del args, kwargs, starts, call
res["args_freed_before_gc"] = arg_ref() is None
res["garbage"] = gc.collect()
gc.enable()
for _ in range(3):
    gc.collect()
res["args_freed"] = arg_ref() is None
print(json.dumps(res))
"""

CANT_START = "RuntimeError: can't start new thread"


@pytest.mark.parametrize("err", ["EAGAIN", "EPERM", "EINVAL", "ENOMEM"])
def test_pthread_create_failure(ltfault_so, err):
    """pthread_create failing with `err`: RuntimeError as the host's _thread says, then all works."""
    import errno

    child = run_child(FAULT_PRELUDE + PTHREAD_CREATE_SCRIPT.format(err=getattr(errno, err)),
                      timeout=60, env=fault_env(ltfault_so))
    res = child_json(child)
    report("pthread_create_" + err, **{k: res[k] for k in ("native", "lowthread",
                                                          "lowthread_joinable", "ran")})
    assert res["disarmed_start_works"] and res["interposed"] == 1, res
    # The interposer really failed each start (so this test can fail) ...
    for name in ("native", "lowthread", "lowthread_joinable", "native_joinable"):
        if name in res:
            assert res[name + "_faults"] == 1, (name, res)
    # ... and the interpreter's own _thread says what lowthread must say.
    assert res["native"] == CANT_START, res
    assert res["lowthread"] == CANT_START, res
    assert res["lowthread_joinable"] == CANT_START, res
    if "native_joinable" in res:
        assert res["native_joinable"] == CANT_START, res
    assert res["ran"] == 0 and res["count_after_failures"] == 0, res
    assert res["burst"] == [CANT_START] * 5 + ["ok"] * 5, res
    assert res["burst_ran"] == 5 and res["count_back"], res
    assert res["usable"], res
    if not IS_PYPY:  # let go at once, as the host's _thread does (see check_references)
        assert res["refcounts"][0] == res["refcounts"][1], res
        assert res["args_freed_before_gc"], res
    assert res["args_freed"], res
    assert child.err == "", child


MALLOC_SCRIPT = """
import lowthread._lowthread as ext

# The address range of lowthread's extension: its C core lives there, and
# only the mallocs it makes itself are failed.
path = os.path.realpath(ext.__file__)
lo = hi = None
with open("/proc/self/maps") as maps:
    for line in maps:
        parts = line.split()
        if len(parts) >= 6 and os.path.realpath(parts[5]) == path:
            a, b = (int(x, 16) for x in parts[0].split("-"))
            lo = a if lo is None else min(lo, a)
            hi = b if hi is None else max(hi, b)
assert lo is not None, "lowthread's extension is not in /proc/self/maps"

class Arg:
    pass

ran = []
refs = []

def start_new():
    a = Arg()
    refs.append(weakref.ref(a))
    done = lt.allocate_lock()
    done.acquire()
    lt.start_new_thread(lambda x, k=None: (ran.append(1), done.release()), (a,), {{"k": a}})
    if not done.acquire(timeout=10):
        raise SystemExit("started thread never ran")

def start_joinable():
    a = Arg()
    refs.append(weakref.ref(a))
    h = lt.start_joinable_thread(lambda: ran.append(a))
    h.join(10)
    if not h.is_done():
        raise SystemExit("joinable thread never ended")

def lock_used():
    lk = lt.allocate_lock()
    lk.acquire()
    lk.release()

ops = {{
    "allocate_lock": lock_used,
    "LockType()": lambda: lt.LockType(),
    "RLock()": lambda: lt.RLock().acquire(),
    "start_new_thread": start_new,
    "start_joinable_thread": start_joinable,
}}
res = {{}}
for name, op in ops.items():
    steps = []
    for k in range(12):
        before_ran = len(ran)
        F.ltfault_malloc_arm(lo, hi, k, 1)
        out = outcome(op)
        F.ltfault_malloc_disarm()
        failed = F.ltfault_malloc_failed()
        steps.append([k, out, F.ltfault_malloc_seen(), failed, len(ran) - before_ran])
        # After each failure everything works again.
        if not usable():
            steps.append("NOT USABLE after step %d" % k)
            break
        if failed == 0:
            break
    res[name] = steps

# Every lowthread allocation failing at once, then none.
F.ltfault_malloc_arm(lo, hi, 0, 1 << 40)
res["all_failing"] = {{name: outcome(op) for name, op in ops.items()}}
F.ltfault_malloc_disarm()
res["usable_at_end"] = usable()
res["count_at_end"] = lt._count()
ran.clear()
for _ in range(3):
    import gc; gc.collect()
res["alive_args"] = sum(r() is not None for r in refs)
print(json.dumps(res))
"""

def test_malloc_failure_in_the_c_core(ltfault_so):
    """Each malloc lowthread's C core makes, failed in turn: MemoryError, nothing ran, all usable."""
    child = run_child(FAULT_PRELUDE + MALLOC_SCRIPT.format(), timeout=60, env=fault_env(ltfault_so))
    res = child_json(child)
    report("malloc", **{name: [s[:2] for s in res[name]] for name in
                        ("allocate_lock", "LockType()", "RLock()", "start_new_thread",
                         "start_joinable_thread")})
    # A lock's C state lives in its Python object's memory (ffi.new): the C
    # core makes no malloc for it, so none can fail.
    for name in ("allocate_lock", "LockType()", "RLock()"):
        assert res[name] == [[0, "ok", 0, 0, 0]], (name, res[name])
    for name in ("start_new_thread", "start_joinable_thread"):
        steps = res[name]
        assert all(isinstance(s, list) for s in steps), (name, steps)
        # The first malloc of the C core is hit (the test would be vacuous otherwise) ...
        assert steps[0][3] == 1, (name, steps)
        # ... every failed one is a MemoryError and the operation did nothing ...
        for _k, out, _seen, failed, ran in steps[:-1]:
            assert failed == 1 and out == "MemoryError: ", (name, steps)
            assert ran == 0, (name, steps)
        # ... and past the last allocation the operation succeeds.
        k, out, seen, failed, ran = steps[-1]
        assert failed == 0 and out == "ok", (name, steps)
    assert res["all_failing"] == {name: "ok" if name in ("allocate_lock", "LockType()", "RLock()")
                                  else "MemoryError: " for name in res["all_failing"]}, res
    assert res["usable_at_end"] and res["count_at_end"] == 0, res
    assert res["alive_args"] == 0, res
    assert child.err == "", child
