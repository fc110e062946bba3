"""Programs for test_lockorder.py: python _lockorder_cases.py CASE [strict].

Each runs with threading on lowthread and lock-order checking on; threads
run one after another, so that nothing ever deadlocks: what is reported
is the order alone.  Prints "CASE outcome" on stdout; reports go to stderr.
"""

import sys

import lowthread

lowthread.install()
import concurrent.futures  # noqa: E402
import logging  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402

case = sys.argv[1]
lowthread.check_lock_order(strict="strict" in sys.argv[2:])


def in_thread(fn, *args):
    """Run fn(*args) in a thread of its own; return what it raised, if anything."""
    caught = []

    def run():
        try:
            fn(*args)
        except lowthread.LockOrderError as exc:
            caught.append(exc)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    return caught


def nested(*locks):
    if not locks:
        return
    with locks[0]:
        nested(*locks[1:])


outcome = "ok"
if case == "two":
    a = threading.Lock()
    b = threading.Lock()
    in_thread(nested, a, b)
    caught = in_thread(nested, b, a)
    in_thread(nested, b, a)  # the same cycle: not reported again
    outcome = f"raised {type(caught[0]).__name__}, a locked: {a.locked()}" if caught else "ok"
elif case == "three":
    a = threading.Lock()
    b = threading.RLock()
    c = threading.Lock()
    in_thread(nested, a, b)
    in_thread(nested, b, c)
    in_thread(nested, c, a)
elif case == "same-order":  # many threads, one order, and the stdlib's own locks
    a = threading.Lock()
    b = threading.RLock()
    ts = [threading.Thread(target=nested, args=(a, b, threading.Lock())) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q = queue.Queue(maxsize=2)
    cond, sem, event = threading.Condition(), threading.Semaphore(2), threading.Event()
    barrier = threading.Barrier(3)

    def worker(i):
        for n in range(50):
            q.put(n)
            with sem:
                with cond:
                    cond.notify_all()
        barrier.wait()
        event.wait()

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in ts:
        t.start()
    for _ in range(100):
        q.get()
        with cond:
            cond.wait(0.001)
    barrier.wait()
    event.set()
    for t in ts:
        t.join()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert sum(pool.map(abs, range(-100, 0))) == 5050
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    in_thread(logging.info, "logged")
    timer = threading.Timer(0.01, event.clear)
    timer.start()
    timer.join()
elif case == "timed":  # a try or a timed acquire cannot wait for ever
    a = threading.Lock()
    b = threading.Lock()
    in_thread(nested, a, b)

    def timed():
        with b:
            if a.acquire(timeout=1):
                a.release()
            if a.acquire(False):
                a.release()

    in_thread(timed)
elif case == "signal":  # a lock taken by one thread and released by another
    done = threading.Lock()
    m = threading.Lock()
    done.acquire()

    def finish():
        with m:
            done.release()

    t = threading.Thread(target=finish)
    with m:
        pass
    t.start()
    done.acquire()  # waits for finish(), as a latch
    with m:
        pass
    t.join()
elif case == "rlock":  # an RLock taken again is not an order
    r = threading.RLock()
    a = threading.Lock()

    def again():
        with r:
            with a:
                with r:
                    pass

    in_thread(again)
    in_thread(again)
elif case == "dropped":  # a lock dropped while held is held no more
    def leak_one():
        lk = threading.Lock()
        lk.acquire()

    def leak_other():
        lk = threading.Lock()
        lk.acquire()

    for _ in range(2):
        leak_one()
        leak_other()
elif case == "million":  # a million locks from one site: one class
    import resource

    from lowthread.diagnostics import _lockgraph as _lockorder

    outer = threading.Lock()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(1_000_000):
        lk = threading.Lock()
        if i % 100 == 0:  # some taken in an order too: the time goes to the making
            with outer:
                with lk:
                    pass
    grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    outcome = f"classes {len(_lockorder._classes)} grew {grew} KiB"
print(case, outcome)
