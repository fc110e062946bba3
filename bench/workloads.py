"""The workloads that only the pyperf suite (bench/run.py) runs, beside the
quick ones of lowthread/cli/_bench.py.

Each timed workload takes the module under test and a loop count and returns
the elapsed seconds.
"""

from typing import Any

from lowthread.cli._bench import clock, pairs, wait_done


def rlock_pair(mod, loops):
    """Uncontended RLock acquire() + release(); mod needs only an RLock attribute."""
    return pairs(mod.RLock(), loops)


def _made_and_dropped(make, loops):
    t0 = clock()
    for _ in range(loops):
        make()
    return clock() - t0


def lock_make(mod, loops):
    """Make a lock and drop it (threading makes one per Condition.wait())."""
    return _made_and_dropped(mod.allocate_lock, loops)


def rlock_make(mod, loops):
    """Make an RLock and drop it."""
    return _made_and_dropped(mod.RLock, loops)


def rlock_nested3(mod, loops):
    """An RLock taken three deep and released again (per whole nest)."""
    rl = mod.RLock()
    acquire, release = rl.acquire, rl.release
    t0 = clock()
    for _ in range(loops):
        acquire()
        acquire()
        acquire()
        release()
        release()
        release()
    return clock() - t0


def contended(mod, loops):
    """Two threads, each doing loops acquire()+release() on one lock.

    Returns half the wall time, so that per loop it is the time per
    acquisition (the inverse of the total acquisitions/s).
    """
    lk, ready, go, finished = (mod.allocate_lock() for _ in range(4))
    ready.acquire()
    go.acquire()
    finished.acquire()
    acquire, release = lk.acquire, lk.release

    def partner():
        ready.release()
        go.acquire()
        for _ in range(loops):
            acquire()
            release()
        finished.release()

    mod.start_new_thread(partner, ())
    wait_done(ready, "start")
    t0 = clock()
    go.release()
    for _ in range(loops):
        acquire()
        release()
    wait_done(finished, "finish")
    return (clock() - t0) / 2


def thread_throughput(mod, loops):
    """Start loops threads back to back; time until the last one has run."""
    mu, done = mod.allocate_lock(), mod.allocate_lock()
    done.acquire()
    left = [loops]

    def body():
        with mu:
            left[0] -= 1
            if not left[0]:
                done.release()

    start_new_thread = mod.start_new_thread
    t0 = clock()
    for _ in range(loops):
        start_new_thread(body, ())
    wait_done(done, "finish")
    return clock() - t0


def two_empty_calls(lib, loops):
    """The floor of a two-call lock: lib.nop() twice (lib from a cffi module)."""
    nop = lib.nop
    t0 = clock()
    for _ in range(loops):
        nop()
        nop()
    return clock() - t0


def timed_acquire_overshoot(mods, samples=50, timeout=0.01):
    """acquire(timeout=timeout) on a held lock: seconds past the timeout.

    mods: the modules to compare; their samples are taken in turn, so that
    a burst of load hits them alike.  Returns {module: [overshoot, ...]}.
    """
    locks = []
    for mod in mods:
        lk = mod.allocate_lock()
        lk.acquire()
        locks.append(lk)
    out: dict[Any, list[float]] = {mod: [] for mod in mods}
    for _ in range(samples):
        for mod, lk in zip(mods, locks):
            t0 = clock()
            got = lk.acquire(timeout=timeout)
            dt = clock() - t0
            if got:
                raise RuntimeError("a held lock was acquired")
            out[mod].append(dt - timeout)
    for lk in locks:
        lk.release()
    return out


class _Heap:
    """Bytes the interpreter sees allocated: tracemalloc on CPython; on PyPy,
    which has no tracemalloc, the GC heap plus the raw memory declared to the
    GC (its own locks' sem_t, lowthread's ffi.gc size=)."""

    def __init__(self):
        import gc
        self._gc = gc
        self._tm: Any = None
        try:
            import tracemalloc
        except ImportError:  # PyPy has the module but not _tracemalloc
            pass
        else:
            self._tm = tracemalloc
        self._started = False

    def __enter__(self):
        self._gc.collect()
        if self._tm is not None and not self._tm.is_tracing():
            self._tm.start()
            self._started = True
        return self

    def now(self):
        if self._tm is not None:
            return self._tm.get_traced_memory()[0]
        self._gc.collect()
        st = self._gc.get_stats(memory_pressure=True)._s
        return st.total_gc_memory + st.total_memory_pressure

    def __exit__(self, *exc_info):
        if self._started:
            self._tm.stop()


def lock_memory(mod, n=10_000, repeat=3):
    """Bytes per lock the interpreter sees, n locks alive (list included);
    the smallest of repeat tries."""
    best = None
    for _ in range(repeat):
        with _Heap() as heap:
            before = heap.now()
            keep = [mod.allocate_lock() for _ in range(n)]
            per = (heap.now() - before) / n
            del keep
        best = per if best is None else min(best, per)
    return best


def thread_memory(mod, n=100):
    """Bytes the interpreter sees per started thread, n threads alive (blocked)."""
    # hold keeps every thread alive until all n have started.
    hold, mu, ready = (mod.allocate_lock() for _ in range(3))
    hold.acquire()
    ready.acquire()
    count = [0]

    def body():
        with mu:
            count[0] += 1
            if count[0] == n:
                ready.release()
        hold.acquire()
        hold.release()

    with _Heap() as heap:
        try:
            before = heap.now()
            for _ in range(n):
                mod.start_new_thread(body, ())
            wait_done(ready, "start")
            after = heap.now()
        finally:
            hold.release()
    return (after - before) / n


# ---------------------------------------------------------------------------
# threading's own objects, on whichever _thread the worker process put under
# threading (bench/run.py decides that before threading is imported).  Each
# takes the threading module and a loop count.  queue and concurrent.futures
# are imported here, in the worker, after that decision.

def _with_blocks(lk, loops):
    """loops uncontended ``with lk: pass``."""
    t0 = clock()
    for _ in range(loops):
        with lk:
            pass
    return clock() - t0


def th_lock_with(th, loops):
    """``with threading.Lock(): pass``, uncontended."""
    return _with_blocks(th.Lock(), loops)


def th_rlock_with(th, loops):
    """``with threading.RLock(): pass``, uncontended."""
    return _with_blocks(th.RLock(), loops)


def _partner(th, body):
    """Start body() in a thread; the caller joins what this returns."""
    t = th.Thread(target=body, daemon=True)
    t.start()
    return t


def th_condition_pingpong(th, loops):
    """Two threads taking turns through one Condition: per turn (one notify + one wait)."""
    cond = th.Condition()
    turn = [0]  # even: the main thread's turn, odd: the partner's
    n = 2 * loops

    def partner():
        with cond:
            while turn[0] < n:
                while turn[0] % 2 == 0:
                    cond.wait()
                turn[0] += 1
                cond.notify()

    t = _partner(th, partner)
    t0 = clock()
    with cond:
        while turn[0] < n:
            turn[0] += 1
            cond.notify()
            while turn[0] % 2 == 1 and turn[0] < n:
                cond.wait()
    elapsed = clock() - t0
    t.join()
    return elapsed / 2


def th_event_pingpong(th, loops):
    """Event set() in one thread, wait() returning in the other: per one-way handoff."""
    ping, pong = th.Event(), th.Event()

    def partner():
        for _ in range(loops):
            ping.wait()
            ping.clear()
            pong.set()

    t = _partner(th, partner)
    t0 = clock()
    for _ in range(loops):
        ping.set()
        pong.wait()
        pong.clear()
    elapsed = clock() - t0
    t.join()
    return elapsed / 2


def th_queue_transfer(th, loops):
    """queue.Queue: one thread put()s loops items, the other get()s them; per item."""
    import queue

    q = queue.Queue()
    put = q.put

    def producer():
        for i in range(loops):
            put(i)

    get = q.get
    t0 = clock()
    t = _partner(th, producer)
    for _ in range(loops):
        get()
    elapsed = clock() - t0
    t.join()
    return elapsed


def _tiny(x):
    return x


def th_pool_map(th, loops):
    """ThreadPoolExecutor().map over 10,000 tiny tasks, consumed: per map of 10,000."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor() as ex:
        for _ in ex.map(_tiny, range(100)):  # the workers start outside the timing
            pass
        t0 = clock()
        for _ in range(loops):
            for _ in ex.map(_tiny, range(10_000)):
                pass
        return clock() - t0


def _nothing():
    pass


def th_thread_start_join(th, loops):
    """threading.Thread(target=f): start() then join(), one thread at a time."""
    Thread = th.Thread
    t0 = clock()
    for _ in range(loops):
        t = Thread(target=_nothing)
        t.start()
        t.join()
    return clock() - t0


# (key, title, workload) of the threading benchmarks, in bench/run.py's order.
THREADING = [
    ("t_lock", "with threading.Lock()", th_lock_with),
    ("t_rlock", "with threading.RLock()", th_rlock_with),
    ("t_cond", "Condition ping-pong, per notify+wait", th_condition_pingpong),
    ("t_event", "Event set -> wait, 2 threads, per handoff", th_event_pingpong),
    ("t_queue", "queue.Queue put -> get, 2 threads, per item", th_queue_transfer),
    ("t_pool", "ThreadPoolExecutor.map, 10,000 tasks", th_pool_map),
    ("t_thread", "Thread start() + join()", th_thread_start_join),
]


def threading_backend(th):
    """'lowthread' or 'native': whose lock threading.Lock() makes."""
    module = type(th.Lock()).__module__ or ""
    return "lowthread" if module.split(".")[0] == "lowthread" else "native"
