"""The quick workloads of ``python -m lowthread bench``: lowthread and the
interpreter's own _thread timed side by side.

Each workload takes the module under test and a loop count and returns the
elapsed seconds.  The pyperf suite in bench/ runs these and more
(bench/workloads.py) rigorously.
"""

import time

clock = time.perf_counter


def pairs(lk, loops):
    """loops uncontended acquire() + release() of the lock lk."""
    acquire, release = lk.acquire, lk.release
    t0 = clock()
    for _ in range(loops):
        acquire()
        release()
    return clock() - t0


def lock_pair(mod, loops):
    """Uncontended acquire() + release()."""
    return pairs(mod.allocate_lock(), loops)


def lock_with(mod, loops):
    """Uncontended ``with lock: pass``."""
    lk = mod.allocate_lock()
    t0 = clock()
    for _ in range(loops):
        with lk:
            pass
    return clock() - t0


def try_acquire_held(mod, loops):
    """acquire(False) on a lock that is held."""
    lk = mod.allocate_lock()
    lk.acquire()
    acquire = lk.acquire
    t0 = clock()
    for _ in range(loops):
        acquire(False)
    dt = clock() - t0
    lk.release()
    return dt


def wait_done(done, what):
    if not done.acquire(timeout=60):
        raise RuntimeError(f"benchmark thread did not {what} within 60 s")


def thread_start(mod, loops):
    """start_new_thread() until the new thread has run (latency per thread)."""
    done = mod.allocate_lock()
    done.acquire()
    release = done.release
    t0 = clock()
    for _ in range(loops):
        mod.start_new_thread(release, ())
        wait_done(done, "start")
    return clock() - t0


def handoff(mod, loops):
    """Ping-pong between two threads through two locks (per handoff)."""
    ping, pong, finished = (mod.allocate_lock() for _ in range(3))
    ping.acquire()
    pong.acquire()
    finished.acquire()

    def partner():
        for _ in range(loops):
            ping.acquire()
            pong.release()
        finished.release()

    mod.start_new_thread(partner, ())
    t0 = clock()
    for _ in range(loops):
        ping.release()
        pong.acquire()
    dt = clock() - t0
    wait_done(finished, "finish")
    return dt / 2


# name -> (function, loops for the quick pass)
QUICK = {
    "lock acquire+release": (lock_pair, 200_000),
    "with lock": (lock_with, 200_000),
    "acquire(False), held": (try_acquire_held, 200_000),
    "handoff between 2 threads": (handoff, 5_000),
    "start_new_thread until it runs": (thread_start, 300),
}


def best_ns(fn, mod, loops, repeat=5):
    """The best of repeat runs, in nanoseconds per loop."""
    return min(fn(mod, loops) for _ in range(repeat)) / loops * 1e9
