"""No leaks (docs/testing.md §T6): locks made and dropped, threads started and ended, failed starts.

Each scenario in a fresh interpreter; the counts are in _faults_support.py.

Leak thresholds (what "back to baseline" allows), measured after a warm-up
of the same work, so that caches (pymalloc arenas, glibc's thread-stack
cache, free lists) are already full at the baseline (CPython: one short
round; PyPy: two full rounds, after which its heap stops stepping up).  The
measuring children run with conftest.STEADY_GC_ENV: with the nursery PyPy
sizes from a 480 MB cache, the threads test's heap grew past its slack in
7 of 20 runs (2.8-23 MB); with a 1 MB nursery, 0 of 20:

- RSS (``/proc/self/statm``): at most ``RSS_SLACK`` of growth, 4 MiB on
  CPython.  A leaked C lock costs at least 48 bytes of heap, so the CI count
  of locks alone would leak 12 MB; a leaked thread (its stack, at least
  8 MiB of address space, and its thread structure) shows through the task
  count and the heap.  PyPy: 16 MiB, because its collector's arenas and the
  JIT's code move RSS by up to ~9 MiB between identical rounds of work.
- bytes in use in malloc's heap (glibc ``mallinfo2().uordblks``, where it
  exists; every allocation of the C core lands there): at most
  ``HEAP_SLACK``, 1 MiB on CPython, 2 MiB on PyPy, whose collector takes
  memory from malloc too.
- open file descriptors (``/proc/self/fd``), lowthread ``_count()`` and the
  threads of the process (``/proc/self/task``): exactly back to baseline.
- the args and kwargs objects given to the starts: on CPython,
  ``sys.getrefcount`` back to baseline and fresh objects freed *while the
  cyclic collector is off*, and no garbage cycles left (``gc.collect()``
  finds nothing), as with the host's ``_thread``; on PyPy, which has no
  reference counts, weak references to them dead after a collection.
"""

import pytest
from _faults_support import FAILED_STARTS, LOCKS, SOAK, THREADS, child_json, report, run_child
from conftest import HEAP_PROBE, IS_LINUX, IS_PYPY, ORACLE, STEADY_GC_ENV

pytestmark = [
    pytest.mark.skipif(
        not IS_LINUX, reason="Linux only: /proc/self, LD_PRELOAD interposers and fork"),
    # The scenarios use what only lowthread has on every host (RLock and
    # joinable threads everywhere, its C core's own allocations).
    pytest.mark.skipif(ORACLE, reason="lowthread's own reliability, not the oracle's"),
]

MiB = 1024 * 1024
# See the module docstring: what "back to baseline" allows.
RSS_SLACK = (16 if IS_PYPY else 4) * MiB
HEAP_SLACK = (2 if IS_PYPY else 1) * MiB


# What the children of the leak tests measure.
MEASURE = """
import gc, json, os, sys, time, weakref
_PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE

def fds():
    return len(os.listdir("/proc/self/fd"))

def tasks():
    return len(os.listdir("/proc/self/task"))

""" + HEAP_PROBE + """
PYPY = sys.implementation.name == "pypy"
# PyPy's heap (its collector's arenas, the JIT's code) settles only after two
# rounds of the same work; CPython's after a short one.
WARM_ROUNDS = 2 if PYPY else 1

def gc_off():
    # CPython: refcounting alone must free what the work made (the cyclic
    # collector is off while it runs).  PyPy frees only by collecting, so
    # its collector stays on.
    if not PYPY:
        gc.disable()

def settle():
    for _ in range(3):
        gc.collect()

def deadline_wait(pred, seconds, what):
    end = time.monotonic() + seconds
    while not pred():
        if time.monotonic() > end:
            raise SystemExit("timed out waiting for " + what)
        time.sleep(0.001)

def snapshot():
    settle()
    return {"rss": rss(), "heap": heap(), "fds": fds(), "tasks": tasks(), "count": lt._count()}

def growth(before, after):
    out = {}
    for k, v in after.items():
        out[k] = None if v is None or before[k] is None else v - before[k]
    return out
"""


def check_growth(fig, what):
    """The leak thresholds of the module docstring, on a child's figures."""
    g = fig["growth"]
    assert g["rss"] <= RSS_SLACK, "%s: RSS grew by %.1f MiB (slack %.0f MiB): %r" % (
        what, g["rss"] / MiB, RSS_SLACK / MiB, fig)
    assert g["fds"] <= 0, "%s: file descriptors leaked: %r" % (what, fig)
    assert g["count"] == 0 and fig["after"]["count"] == 0, "%s: _count(): %r" % (what, fig)
    if g["heap"] is not None:
        assert g["heap"] <= HEAP_SLACK, "%s: malloc'd bytes grew by %d (slack %d): %r" % (
            what, g["heap"], HEAP_SLACK, fig)


def check_references(fig, what):
    """The args and kwargs of the starts are let go when each start is over.

    The measured phase runs with the cyclic garbage collector off.  On
    CPython the host's own _thread lets go of them at once, by reference
    counting, and leaves no garbage cycle behind: lowthread must do the same
    (else they live as long as the collector stays off, for ever under
    gc.disable()).  On PyPy, which has no reference counts, they must be
    gone after a collection.
    """
    if not IS_PYPY:
        assert fig["refcounts"][0] == fig["refcounts"][1] and fig["alive_before_gc"] == 0, (
            "%s: args/kwargs still referenced after the starts (before a gc.collect()): "
            "getrefcount(args), getrefcount(kwargs) before/after %r, %d of %d fresh args "
            "alive; gc.collect() then found %r unreachable objects"
            % (what, fig["refcounts"], fig["alive_before_gc"], fig["weakrefs"], fig["garbage"]))
        assert fig["garbage"] == 0, (
            "%s: the starts left %d objects in reference cycles (gc off): %r"
            % (what, fig["garbage"], fig))
    assert fig["weakrefs"] > 0 and fig["alive_args"] == 0, (what, fig)


# ---------------------------------------------------------------------------
# 2. No leaks

LOCKS_SCRIPT = """
N = {n}

def churn(n):
    alloc, LockType, RLock = lt.allocate_lock, lt.LockType, lt.RLock
    for i in range(n):
        lk = alloc()
        if i % 8 == 0:
            lk.acquire()
            lk.release()
        if i % 16 == 1:
            lk = LockType()
            lk.acquire()     # dropped while held
        if i % 16 == 2:
            r = RLock()
            r.acquire()
            r.acquire()

for _ in range(WARM_ROUNDS):
    churn(N if PYPY else 50_000)
before = snapshot()
gc_off()
t0 = time.monotonic()
churn(N)
seconds = time.monotonic() - t0
garbage = gc.collect()
after = snapshot()
gc.enable()
print(json.dumps({{"n": N, "seconds": seconds, "before": before, "after": after,
                  "growth": growth(before, after), "garbage": garbage}}))
"""


@pytest.mark.timeout(600 if SOAK else 120)
def test_no_leak_locks_made_and_dropped():
    """LOCKS locks (1/8 used, 1/16 dropped held, 1/16 RLocks held twice) leave nothing behind."""
    fig = child_json(run_child(MEASURE + LOCKS_SCRIPT.format(n=LOCKS), timeout=500 if SOAK else 60,
                                env=STEADY_GC_ENV))
    report("locks", n=fig["n"], seconds=round(fig["seconds"], 2), growth=fig["growth"],
           garbage=fig["garbage"])
    check_growth(fig, "%d locks" % LOCKS)
    if not IS_PYPY:
        assert fig["garbage"] == 0, fig


THREADS_SCRIPT = """
N = {n}
BATCH = 50

class Arg:
    pass

args = (Arg(), "a")
kwargs = {{"k": Arg()}}
has_refcount = hasattr(sys, "getrefcount")
check = lt.allocate_lock()

def work(a, b=None, k=None):
    check.acquire()
    check.release()
    lt.get_ident()

def joinable_work():
    work(*args, **kwargs)

def run(n, refs):
    for start in range(0, n, BATCH):
        handles = []
        for i in range(start, min(n, start + BATCH)):
            if i % 4 == 3:
                handles.append(lt.start_joinable_thread(joinable_work))
            elif i % 4 == 2:
                a = Arg()
                refs.append(weakref.ref(a))
                lt.start_new_thread(work, (a,), {{"k": a}})
            else:
                lt.start_new_thread(work, args, kwargs)
        for h in handles:
            h.join(10.0)
            if not h.is_done():
                raise SystemExit("a joinable thread did not end within 10 s")
        deadline_wait(lambda: lt._count() == 0, 10.0, "_count() == 0")

for _ in range(WARM_ROUNDS):
    run(N if PYPY else 500, [])
deadline_wait(lambda: tasks() == 1, 5.0, "the warm-up threads to end")
before = snapshot()
rc_before = (sys.getrefcount(args), sys.getrefcount(kwargs)) if has_refcount else None
refs = []
gc_off()
t0 = time.monotonic()
run(N, refs)
seconds = time.monotonic() - t0
# Detached threads leave the task list a little after their Python part.
deadline_wait(lambda: tasks() == before["tasks"], 10.0, "the threads to leave /proc/self/task")
rc_after = (sys.getrefcount(args), sys.getrefcount(kwargs)) if has_refcount else None
alive_before_gc = sum(r() is not None for r in refs)
garbage = gc.collect()
after = snapshot()
gc.enable()
print(json.dumps({{"n": N, "seconds": seconds, "before": before, "after": after,
                  "growth": growth(before, after), "refcounts": [rc_before, rc_after],
                  "alive_before_gc": alive_before_gc, "garbage": garbage,
                  "alive_args": sum(r() is not None for r in refs), "weakrefs": len(refs)}}))
"""


@pytest.mark.timeout(600 if SOAK else 120)
def test_no_leak_threads_started_and_finished():
    """THREADS threads (detached with shared or fresh args, and joinable) leave nothing behind."""
    fig = child_json(run_child(MEASURE + THREADS_SCRIPT.format(n=THREADS), timeout=500 if SOAK else 90,
                                env=STEADY_GC_ENV))
    report("threads", n=fig["n"], seconds=round(fig["seconds"], 2), growth=fig["growth"],
           refcounts=fig["refcounts"], alive_before_gc=fig["alive_before_gc"],
           garbage=fig["garbage"], alive_args=fig["alive_args"])
    check_growth(fig, "%d threads" % THREADS)
    assert fig["growth"]["tasks"] == 0, fig
    check_references(fig, "%d threads" % THREADS)


FAILED_STARTS_SCRIPT = """
N = {n}

class Arg:
    pass

def never(*a, **k):
    ran.append(1)

ran = []
args = (Arg(), "a")
kwargs = {{"k": Arg()}}
has_refcount = hasattr(sys, "getrefcount")

# A size that stack_size() accepts (it validates when set) but that no
# system can map at pthread_create(): larger than any address space.
huge = None
for size in (2 ** 60, 2 ** 50, 2 ** 46):
    try:
        lt.stack_size(size)
    except ValueError:
        continue
    try:
        lt.start_new_thread(never, ())
    except RuntimeError:
        huge = size
        break
    finally:
        lt.stack_size(0)
if huge is None:
    raise SystemExit("found no stack size that passes stack_size() but fails the start")

errors = {{}}

def fail(n, refs):
    lt.stack_size(huge)
    try:
        for i in range(n):
            try:
                if i % 4 == 3:
                    lt.start_joinable_thread(never)
                elif i % 4 == 2:
                    a = Arg()
                    refs.append(weakref.ref(a))
                    lt.start_new_thread(never, (a,), {{"k": a}})
                else:
                    lt.start_new_thread(never, args, kwargs)
            except Exception as e:
                key = "%s: %s" % (type(e).__name__, e)
                errors[key] = errors.get(key, 0) + 1
            else:
                errors["started"] = errors.get("started", 0) + 1
    finally:
        lt.stack_size(0)
    # and a start works again
    done = lt.allocate_lock()
    done.acquire()
    lt.start_new_thread(done.release, ())
    if not done.acquire(timeout=10):
        raise SystemExit("no thread started after the failures")
    deadline_wait(lambda: lt._count() == 0, 10.0, "_count() == 0")

for _ in range(WARM_ROUNDS):
    fail(N if PYPY else 500, [])
deadline_wait(lambda: tasks() == 1, 5.0, "the thread to end")
before = snapshot()
rc_before = (sys.getrefcount(args), sys.getrefcount(kwargs)) if has_refcount else None
errors.clear()
refs = []
gc_off()
t0 = time.monotonic()
fail(N, refs)
seconds = time.monotonic() - t0
deadline_wait(lambda: tasks() == before["tasks"], 5.0, "the thread to end")
rc_after = (sys.getrefcount(args), sys.getrefcount(kwargs)) if has_refcount else None
alive_before_gc = sum(r() is not None for r in refs)
garbage = gc.collect()
after = snapshot()
gc.enable()
print(json.dumps({{"n": N, "huge": huge, "seconds": seconds, "before": before, "after": after,
                  "growth": growth(before, after), "refcounts": [rc_before, rc_after],
                  "alive_before_gc": alive_before_gc, "garbage": garbage,
                  "alive_args": sum(r() is not None for r in refs), "weakrefs": len(refs),
                  "errors": errors, "ran": len(ran)}}))
"""


@pytest.mark.timeout(600 if SOAK else 120)
def test_no_leak_failed_starts():
    """FAILED_STARTS starts refused at pthread_create (huge stack): RuntimeError each, nothing kept."""
    fig = child_json(run_child(MEASURE + FAILED_STARTS_SCRIPT.format(n=FAILED_STARTS),
                               timeout=500 if SOAK else 60, env=STEADY_GC_ENV))
    report("failed_starts", n=fig["n"], stack_size=fig["huge"], seconds=round(fig["seconds"], 2),
           growth=fig["growth"], refcounts=fig["refcounts"], errors=fig["errors"],
           alive_before_gc=fig["alive_before_gc"], garbage=fig["garbage"],
           alive_args=fig["alive_args"])
    assert fig["errors"] == {"RuntimeError: can't start new thread": FAILED_STARTS}, fig
    assert fig["ran"] == 0, fig
    check_growth(fig, "%d failed starts" % FAILED_STARTS)
    assert fig["growth"]["tasks"] == 0, fig
    check_references(fig, "%d failed starts" % FAILED_STARTS)
