"""Programs for test_deadlock.py, one per case: python _deadlock_cases.py CASE.

Each runs with threading on lowthread and deadlock detection on (interval
0.2 s), prints "CASE [(thread, outcome), ...] seconds" on stdout, and the
detector's reports go to stderr.
"""

import signal
import sys
import time

import lowthread

lowthread.install()
import queue  # noqa: E402
import threading  # noqa: E402

lowthread.detect_deadlocks(interval=0.2, sites="no-sites" not in sys.argv[2:])
case = sys.argv[1]
res = {}


def guard(name, fn):
    def run():
        try:
            fn()
            res[name] = "ok"
        except lowthread.DeadlockError:
            res[name] = "DeadlockError"
    return threading.Thread(target=run, name=name)


def opposite_order(first, second, bar):
    def f():
        with first:
            bar.wait()
            with second:
                pass
    return f


t0 = time.monotonic()
ts = []
if case == "two":
    a, b = threading.Lock(), threading.Lock()
    bar = threading.Barrier(2)
    ts = [guard("x", opposite_order(a, b, bar)), guard("y", opposite_order(b, a, bar))]
elif case == "three":
    locks = [threading.Lock() for _ in range(3)]
    bar = threading.Barrier(3)
    ts = [guard("t%d" % i, opposite_order(locks[i], locks[(i + 1) % 3], bar))
          for i in range(3)]
elif case == "rlock":
    r, lk = threading.RLock(), threading.Lock()
    bar = threading.Barrier(2)
    ts = [guard("r", opposite_order(r, lk, bar)), guard("l", opposite_order(lk, r, bar))]
elif case == "main":  # the main thread is in the cycle
    a, b = threading.Lock(), threading.Lock()
    bar = threading.Barrier(2)
    ts = [guard("worker", opposite_order(a, b, bar))]
    ts[0].start()
    guard("MainThread", opposite_order(b, a, bar)).run()
elif case == "join":  # a thread joins one that waits for its RLock; main is busy
    r = threading.RLock()
    holding = threading.Event()

    def joined():
        holding.wait()
        with r:
            pass

    child = guard("joined", joined)

    def joiner():
        with r:
            child.start()
            holding.set()
            child.join()

    ts = [guard("joiner", joiner)]
    ts[0].start()
    # Running Python, no lowthread call: the main thread is not stuck.
    while len(res) < 2 and time.monotonic() - t0 < 10:
        sum(range(1000))
    child.join()
elif case == "cond":
    m, c = threading.Lock(), threading.Condition()
    bar = threading.Barrier(2)

    def waiter():
        with m:
            with c:
                bar.wait()
                c.wait()

    def notifier():
        bar.wait()
        with m:
            with c:
                c.notify()

    ts = [guard("w", waiter), guard("n", notifier)]
elif case == "queue":  # the consumer holds the lock the producer needs
    q, m = queue.Queue(), threading.Lock()
    bar = threading.Barrier(2)

    def consumer():
        with m:
            bar.wait()
            q.get()

    def producer():
        bar.wait()
        with m:
            q.put(1)

    ts = [guard("consumer", consumer), guard("producer", producer)]
elif case == "sleeper":  # not certain: timed waits end by themselves
    a, b = threading.Lock(), threading.Lock()
    bar = threading.Barrier(2)

    def timed(first, second):
        def f():
            with first:
                bar.wait()
                second.acquire(timeout=1.5)
        return f

    ts = [guard("x", timed(a, b)), guard("y", timed(b, a))]
elif case == "busy":  # not certain: a thread that runs can release a lock
    a, b = threading.Lock(), threading.Lock()
    bar = threading.Barrier(3)

    def unlocker():
        bar.wait()
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            sum(range(1000))
        b.release()  # y's lock: any thread may release a plain lock

    def x():
        with a:
            bar.wait()
            b.acquire()
            b.release()

    def y():
        b.acquire()
        bar.wait()
        with a:
            pass

    ts = [guard("x", x), guard("y", y), guard("unlocker", unlocker)]
elif case == "signal":  # the main thread waits for a signal handler
    done = threading.Event()
    signal.signal(signal.SIGALRM, lambda *args: done.set())
    signal.setitimer(signal.ITIMER_REAL, 1.5)
    try:
        done.wait()
        res["MainThread"] = "ok"
    except lowthread.DeadlockError:
        res["MainThread"] = "DeadlockError"
for t in ts:
    if t.ident is None:
        t.start()
for t in ts:
    t.join()
print(case, sorted(res.items()), round(time.monotonic() - t0, 1))
