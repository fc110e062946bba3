"""threading.local on lowthread after install() (docs/behaviour.md §19.2, §19.7).

The values of a thread die with it (on PyPy too), those of a thread still
running at exit die as they do natively, and threading.local keeps its
semantics.  Each program in a fresh interpreter (run_py: lowthread imported
as ``lt``, a bounded timeout), as in test_install.py.
"""

import pytest
from conftest import IS_PYPY, ORACLE, run_py

pytestmark = pytest.mark.skipif(ORACLE, reason="install() is lowthread's own")


LOCALS_SCRIPT = """
import gc, threading, weakref
lt.install()
local = threading.local()
class Value:
    pass
refs = []
def body():
    v = Value()
    local.v = v
    refs.append(weakref.ref(v))
for _ in range(5):
    t = threading.Thread(target=body)
    t.start(); t.join(10)
del t
gc.collect()
print("alive after threads", sum(r() is not None for r in refs))
# A cycle through a local's values is garbage the collector finds.
class X:
    pass
x = X()
x.local = threading.local()
x.local.x = x
wr = weakref.ref(x)
del x
gc.collect()
print("cycle", wr() is None)
# A lowthread thread's values die with it too.
done = lt.allocate_lock(); done.acquire()
def raw():
    v = Value(); local.v = v; refs.append(weakref.ref(v)); done.release()
lt.start_new_thread(raw, ())
done.acquire(timeout=10)
import time
deadline = time.monotonic() + 10
while lt._count() and time.monotonic() < deadline:
    time.sleep(0.01)
gc.collect()
print("raw thread", refs[-1]() is None)
"""


@pytest.mark.timeout(60)
def test_thread_local_values_die_with_their_thread():
    """docs/behaviour.md §19.2: on PyPy too, where lowthread threads' native
    thread-locals never died (§16.8)."""
    proc = run_py(LOCALS_SCRIPT)
    assert proc.rc == 0, proc
    assert proc.out.split("\n")[:3] == ["alive after threads 0", "cycle True", "raw thread True"], proc


RUNNING_AT_EXIT = """
import sys, time
T = lt if sys.argv[1] == "lt" else __import__("_thread")
MARK = "whole"                    # None once the module is torn down
class Value:
    def __del__(self):
        print("dies", MARK, flush=True)
local = T._local()
ready = T.allocate_lock()
ready.acquire()
def daemon():
    local.v = Value()
    ready.release()
    time.sleep(30)                # still running at exit
T.start_new_thread(daemon, ())
ready.acquire(timeout=10)
print("exit", flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.skipif(IS_PYPY, reason="PyPy has no thread states to clear: the values of a "
                    "thread running at exit die with the local object (docs/behaviour.md §19.7)")
def test_local_values_of_a_thread_running_at_exit_die_as_natively():
    """As the interpreter clears a thread's state at exit, before the modules
    are torn down (what 3.13's _DeleteDummyThreadOnDel relies on):
    docs/behaviour.md §19.7.  The interpreter's _thread._local is the oracle."""
    ours = run_py(RUNNING_AT_EXIT, args=("lt",))
    native = run_py(RUNNING_AT_EXIT, args=("native",))
    assert native.out.split("\n")[:2] == ["exit", "dies whole"], native
    assert (ours.rc, ours.out, ours.err) == (native.rc, native.out, native.err), (ours, native)


@pytest.mark.timeout(120)
def test_thread_local_semantics():
    proc = run_py("""
import threading
lt.install()
class L(threading.local):
    def __init__(self, start):
        self.n = start
l = L(5)
l.n += 1
seen = []
def body():
    seen.append(l.n)
    l.n = 100
t = threading.Thread(target=body); t.start(); t.join(10)
print(seen, l.n, sorted(l.__dict__))
try:
    threading.local(1)
except TypeError as e:
    print("TypeError", e)
del l.n
print(hasattr(l, "n"))
# Names the class defines: a default, a property, a method.
class D(threading.local):
    default = "class"
    @property
    def doubled(self):
        return self.v * 2
    def get(self):
        return self.v
d = D()
d.v = 21
d.default = "mine"
other = []
def look():
    d.v = 1
    other.append((d.default, d.doubled, d.get()))
t = threading.Thread(target=look); t.start(); t.join(10)
print(d.default, d.doubled, d.get(), other)
# No thread ever sees another's value.
shared = threading.local()
bad = []
def hammer(k):
    for i in range(20000):
        shared.v = (k, i)
        if shared.v != (k, i):
            bad.append((k, i, shared.v))
ts = [threading.Thread(target=hammer, args=(k,)) for k in range(4)]
for t in ts: t.start()
for t in ts: t.join(60)
print("bad", bad[:3])
""", timeout=90)
    assert proc.rc == 0, proc
    assert proc.out.split("\n")[:5] == [
        "[5] 6 ['n']", "TypeError Initialization arguments are not supported", "False",
        "mine 42 21 [('class', 2, 1)]", "bad []"], proc
