"""Lock objects under load: docs/behaviour.md §4 and §9.

Many threads on one lock (mutual exclusion, exact counts, with every kind of
acquire) and many locks made and dropped (dropped while held without a
word, their C state freed with them).
"""

import gc
import sys
import threading
import time
import warnings

import pytest
from _core_support import _thread
from conftest import STEADY_GC_ENV, run_py


@pytest.mark.timeout(120)
@pytest.mark.parametrize("use_with", [True, False], ids=["with", "acquire-release"])
def test_contention_exact_count(lt, use_with):
    lock = lt.allocate_lock()
    n_threads, n_incr = 8, 2000
    state = {"count": 0, "inside": 0, "max_inside": 0}
    start = threading.Barrier(n_threads)

    def work():
        start.wait(10)
        for i in range(n_incr):
            if use_with:
                with lock:
                    _increment(state, i)
            else:
                assert lock.acquire() is True
                try:
                    _increment(state, i)
                finally:
                    lock.release()

    threads = [_thread(work) for _ in range(n_threads)]
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads)
    assert state["max_inside"] == 1
    assert state["count"] == n_threads * n_incr
    assert not lock.locked()


def _increment(state, i):
    state["inside"] += 1
    state["max_inside"] = max(state["max_inside"], state["inside"])
    value = state["count"]
    if i % 64 == 0:
        time.sleep(0)  # invite a thread switch inside the critical section
    state["count"] = value + 1
    state["inside"] -= 1


@pytest.mark.timeout(120)
def test_contention_with_timed_and_try_acquires(lt):
    lock = lt.allocate_lock()
    n_threads, n_incr = 6, 1000
    counter = [0]

    def work(kind):
        done = 0
        while done < n_incr:
            if kind == 0:
                ok = lock.acquire(False)
            elif kind == 1:
                ok = lock.acquire(timeout=0.01)
            else:
                ok = lock.acquire()
            if not ok:
                continue
            value = counter[0]
            if done % 64 == 0:
                time.sleep(0)
            counter[0] = value + 1
            lock.release()
            done += 1

    threads = [_thread(work, k % 3) for k in range(n_threads)]
    for t in threads:
        t.join(90)
    assert not any(t.is_alive() for t in threads)
    assert counter[0] == n_threads * n_incr


def test_dealloc_locked_lock_is_silent(lt):
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            for _ in range(100):
                lock = lt.allocate_lock()
                lock.acquire()
                del lock
            gc.collect()
    finally:
        sys.unraisablehook = old
    assert seen == []


@pytest.mark.timeout(120)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads VmRSS from /proc (Linux only)")
def test_c_lock_freed_with_object():
    """docs/behaviour.md §4: the C lock is freed with its object (RSS does not grow with dead locks)."""
    proc = run_py("""
        import gc
        def rss_kib():
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        def churn(n):
            for _ in range(n):
                batch = [lt.allocate_lock() for _ in range(1000)]
                for l in batch[::2]:
                    l.acquire()
                del batch
            gc.collect()
        churn(50)           # warm up allocator and caches
        before = rss_kib()
        churn(400)          # 400k locks created and dropped
        after = rss_kib()
        print(before, after)
    """, timeout=100, env=STEADY_GC_ENV)
    assert proc.rc == 0, proc
    before, after = map(int, proc.out.split())
    # 400k leaked locks would be >= 400000 * 32 bytes = 12.5 MiB of sem_t alone.
    assert after - before < 8 * 1024, proc
