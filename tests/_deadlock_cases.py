import sys, time, lowthread
lowthread.install()
import threading, queue
lowthread.detect_deadlocks(interval=0.2)
case = sys.argv[1]
res = {}
def guard(name, fn):
    def run():
        try:
            fn(); res[name] = "ok"
        except lowthread.DeadlockError:
            res[name] = "DeadlockError"
    return threading.Thread(target=run, name=name)
t0 = time.monotonic()
if case == "three":
    locks = [threading.Lock() for _ in range(3)]
    bar = threading.Barrier(3)
    def mk(i):
        def f():
            with locks[i]:
                bar.wait()
                with locks[(i + 1) % 3]:
                    pass
        return f
    ts = [guard("t%d" % i, mk(i)) for i in range(3)]
elif case == "rlock":
    r, l = threading.RLock(), threading.Lock()
    bar = threading.Barrier(2)
    def f1():
        with r:
            bar.wait()
            with l: pass
    def f2():
        with l:
            bar.wait()
            with r: pass
    ts = [guard("r", f1), guard("l", f2)]
elif case == "sleeper":   # not certain: a thread sleeps and could release
    a, b = threading.Lock(), threading.Lock()
    bar = threading.Barrier(2)
    def f1():
        with a:
            bar.wait()
            b.acquire(timeout=2)
    def f2():
        with b:
            bar.wait()
            a.acquire(timeout=2)
    ts = [guard("x", f1), guard("y", f2)]
elif case == "cond":
    m = threading.Lock(); c = threading.Condition()
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
for t in ts: t.start()
for t in ts: t.join()
print(case, sorted(res.items()), round(time.monotonic() - t0, 1))
