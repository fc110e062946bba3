"""Starting threads: docs/behaviour.md §5.

start_new_thread's validation, what the new thread runs and with what,
_count(), the audit event, a start that fails, and starts around the
interpreter's finalization.  How a thread's function ends by an exception is
in test_thread_exceptions.py, the other module functions in
test_module_functions.py.

Differential where the host's _thread conforms; a ``decision-on:<hosts>``
parameter id marks hosts whose own _thread differs from the Decision (there
lowthread is checked against the Decision only).
"""

import gc
import sys
import threading
import time
import weakref

import pytest
from _core_support import (
    WAIT,
    _run_in_thread,
    _thread_facts,
    _threads_end_and_stack_size_reset,  # noqa: F401 - autouse: threads end, stack_size(0) after each test
)
from conftest import IS_PYPY, LT_NAME, NOBODY, PRE312, PYPY, Raises, host_differs, run_py, wait_until

FIRST_ARG = Raises(TypeError, "first arg must be callable")
SECOND_ARG = Raises(TypeError, "2nd arg must be a tuple")
THIRD_ARG = Raises(TypeError, "optional 3rd arg must be a dictionary")


def _never(*args, **kwargs):
    raise AssertionError("this function must never run")


class TupleSub(tuple):
    pass


class DictSub(dict):
    pass


# ---------------------------------------------------------------------------
# start_new_thread validation (docs/behaviour.md §5.1)

VALIDATION = [
    ("not-callable", (1, ()), FIRST_ARG, NOBODY),
    ("not-callable-before-bad-tuple", (1, []), FIRST_ARG, PYPY),
    ("not-callable-before-bad-dict", (1, (), 1), FIRST_ARG, PYPY),
    ("list-args", (_never, []), SECOND_ARG, NOBODY),
    ("None-args", (_never, None), SECOND_ARG, NOBODY),
    ("str-args", (_never, "ab"), SECOND_ARG, NOBODY),
    ("bad-tuple-before-bad-dict", (_never, [], 1), SECOND_ARG, NOBODY),
    ("list-kwargs", (_never, (), []), THIRD_ARG, NOBODY),
    ("None-kwargs", (_never, (), None), THIRD_ARG, NOBODY),
    ("tuple-kwargs", (_never, (), ()), THIRD_ARG, NOBODY),
    # argument machinery: the type must match (docs/behaviour.md §1)
    ("no-args", (), Raises(TypeError), NOBODY),
    ("one-arg", (_never,), Raises(TypeError), NOBODY),
    ("four-args", (_never, (), {}, 1), Raises(TypeError), NOBODY),
]


@pytest.mark.parametrize("case_id,args,expect,differs",
                         [pytest.param(*c, id=c[0] + ("~decision-on:pypy" if c[3] else ""))
                          for c in VALIDATION])
@pytest.mark.parametrize("name", ["start_new_thread", "start_new"])
def test_start_new_thread_validation(same, lt, name, case_id, args, expect, differs):
    before = lt._count()
    same(lambda m: getattr(m, name)(*args), expect, differs,
         type_only=expect.message is None)
    assert lt._count() == before


@host_differs(PYPY)  # PyPy accepts args= and kwargs=
@pytest.mark.parametrize("kwargs", [{"args": ()}, {"function": _never, "args": ()}],
                         ids=["args=", "function=,args="])
def test_start_new_thread_rejects_keywords(lt, kwargs, differs):
    """Positional only: `start_new_thread() takes no keyword arguments` (PyPy accepts some)."""
    with pytest.raises(TypeError):
        if "function" in kwargs:
            lt.start_new_thread(**kwargs)
        else:
            lt.start_new_thread(_never, **kwargs)


@host_differs(PYPY)
def test_start_new_thread_rejects_kwargs_keyword(lt, differs):
    with pytest.raises(TypeError):
        lt.start_new_thread(_never, (), kwargs={})


def test_invalid_calls_never_run_the_function(lt):
    ran = []

    def target(*a, **k):
        ran.append(1)

    for args in [(target, []), (target, (), None), (target, [], {}), (target, (), [])]:
        with pytest.raises(TypeError):
            lt.start_new_thread(*args)
    time.sleep(0.1)
    assert ran == []


# ---------------------------------------------------------------------------
# running threads


@pytest.mark.parametrize("name", ["start_new_thread", "start_new"])
def test_returns_the_new_threads_ident(lt, name):
    gate = lt.allocate_lock()
    gate.acquire()
    seen = {}
    done = threading.Event()

    def task():
        gate.acquire(timeout=WAIT)  # wait until the main thread has the ident
        seen.update(_thread_facts(lt))
        done.set()

    ident = getattr(lt, name)(task, ())
    try:
        assert type(ident) is int and ident != 0
        assert ident != lt.get_ident()
    finally:
        gate.release()
    assert done.wait(WAIT)
    assert seen["lt_ident"] == ident
    assert seen["threading_ident"] == ident
    assert seen["current_thread_ident"] == ident  # threading's _DummyThread for a foreign thread
    assert seen["lt_native_id"] == seen["threading_native_id"]
    assert seen["lt_native_id"] != lt.get_native_id()


def test_args_and_kwargs_passed(lt):
    marker = object()
    _, got = _run_in_thread(lt, lambda *a, **k: (a, k), (1, marker), {"x": marker, "y": 2})
    assert got[0] == (1, marker) and got[0][1] is marker
    assert got[1] == {"x": marker, "y": 2} and got[1]["x"] is marker


def test_args_without_kwargs(lt):
    _, got = _run_in_thread(lt, lambda *a, **k: (a, k), ("a", "b"))
    assert got == (("a", "b"), {})


def test_empty_kwargs(lt):
    _, got = _run_in_thread(lt, lambda *a, **k: (a, k), (), {})
    assert got == ((), {})


def test_tuple_and_dict_subclasses_accepted(lt):
    _, got = _run_in_thread(lt, lambda *a, **k: (a, k), TupleSub((1, 2)), DictSub(z=3))
    assert got == ((1, 2), {"z": 3})


def test_callable_objects(lt):
    class C:
        def __call__(self, x):
            return x * 2

        def method(self, x):
            return x + 1

    assert _run_in_thread(lt, C(), (21,))[1] == 42
    assert _run_in_thread(lt, C().method, (1,))[1] == 2
    assert _run_in_thread(lt, int, ("7",))[1] == 7


def test_many_threads(lt):
    n = 50
    lock = lt.allocate_lock()
    results = []
    all_done = threading.Event()

    def task(i):
        with lock:
            results.append(i)
            if len(results) == n:
                all_done.set()

    idents = [lt.start_new_thread(task, (i,)) for i in range(n)]
    assert all_done.wait(30)
    assert sorted(results) == list(range(n))
    assert all(type(i) is int and i for i in idents)


def test_concurrent_threads_have_distinct_idents(lt):
    n = 8
    barrier = threading.Barrier(n + 1)
    facts = []
    lock = threading.Lock()

    def task():
        with lock:
            facts.append((lt.get_ident(), lt.get_native_id()))
        barrier.wait(WAIT)  # all alive at once

    for _ in range(n):
        lt.start_new_thread(task, ())
    barrier.wait(WAIT)
    assert len({f[0] for f in facts}) == n
    assert len({f[1] for f in facts}) == n


def test_thread_locals_and_recursion_in_thread(lt):
    local = threading.local()
    local.value = "main"

    def task():
        assert not hasattr(local, "value")
        local.value = "thread"

        def rec(n):
            return 0 if n == 0 else 1 + rec(n - 1)

        return local.value, rec(500)

    assert _run_in_thread(lt, task)[1] == ("thread", 500)
    assert local.value == "main"


# ---------------------------------------------------------------------------
# _count


def test_count(lt):
    orig = lt._count()
    assert type(orig) is int
    gate = lt.allocate_lock()
    gate.acquire()
    started = threading.Event()

    def task():
        started.set()
        gate.acquire(timeout=WAIT)

    lt.start_new_thread(task, ())
    assert started.wait(WAIT)
    assert lt._count() == orig + 1
    # As CPython's test__count: once the function object is gone, the count is back.
    done = threading.Event()
    wr = weakref.ref(task, lambda _: done.set())
    del task
    gate.release()
    assert wait_until(lambda: (gc.collect(), done.is_set())[1], timeout=WAIT)
    assert wr() is None
    assert lt._count() == orig


def test_count_several(lt):
    orig = lt._count()
    gate = lt.allocate_lock()
    gate.acquire()
    n = 5
    started = threading.Semaphore(0)

    def task():
        started.release()
        gate.acquire(timeout=WAIT)
        gate.release()

    for _ in range(n):
        lt.start_new_thread(task, ())
    for _ in range(n):
        assert started.acquire(timeout=WAIT)
    assert lt._count() == orig + n
    gate.release()
    assert wait_until(lambda: lt._count() == orig, timeout=WAIT)


def test_count_takes_no_arguments(lt):
    with pytest.raises(TypeError):
        lt._count(1)


# ---------------------------------------------------------------------------
# audit event (docs/behaviour.md §5.2; 3.9-3.11 and PyPy emit none of their own)

AUDIT_SCRIPT = """
import sys
events = []

def hook(name, args):
    if name == "_thread.start_new_thread":
        events.append(args)

sys.addaudithook(hook)
done = lt.allocate_lock()
done.acquire()

def f(*a, **k):
    done.release()

lt.start_new_thread(f, (1, 2), {"k": 3})
assert done.acquire(timeout=10)
lt.start_new_thread(f, ())
assert done.acquire(timeout=10)
lt.start_new_thread(f, (), {})
assert done.acquire(timeout=10)
try:
    lt.start_new_thread(1, ())       # validation comes first: no event
except TypeError:
    pass
try:
    lt.start_new_thread(f, [])
except TypeError:
    pass
print("count", len(events))
e0, e1, e2 = events
print("tuple", type(e0) is tuple and len(e0) == 3)
print("e0", e0[0] is f, e0[1] == (1, 2), e0[2] == {"k": 3})
print("e1", e1[0] is f, e1[1] == (), e1[2] is None)
# CPython passes a given dict (even empty) and None only when kwargs is absent.
print("e2", e2[0] is f, e2[2] == {} or e2[2] is None)
"""


@host_differs(PRE312)
def test_audit_event(differs):
    proc = run_py(AUDIT_SCRIPT)
    assert proc.rc == 0, proc
    assert proc.out.split("\n")[:5] == [
        "count 3", "tuple True", "e0 True True True", "e1 True True True", "e2 True True"], proc


AUDIT_BLOCK_SCRIPT = """
import sys, time
def hook(name, args):
    if name == "_thread.start_new_thread":
        raise PermissionError("audit says no")
sys.addaudithook(hook)
ran = []
before = lt._count()
try:
    lt.start_new_thread(ran.append, (1,))
except PermissionError as e:
    print("raised", e)
else:
    print("started")
time.sleep(0.2)
print("ran", ran, lt._count() == before)
"""


@host_differs(PRE312)
def test_audit_hook_can_block_the_start(differs):
    proc = run_py(AUDIT_BLOCK_SCRIPT)
    assert proc.rc == 0, proc
    assert proc.out.splitlines() == ["raised audit says no", "ran [] True"], proc


# ---------------------------------------------------------------------------
# start failure


@pytest.mark.parametrize("size", [2 ** 40, 2 ** 46, 2 ** 62], ids=["2**40", "2**46", "2**62"])
def test_start_failure_with_huge_stack(same, lt, size):
    """docs/behaviour.md §5.4: `RuntimeError: can't start new thread`, nothing runs, nothing leaked."""
    ran = []

    def target(*args):
        ran.append(args)

    class Arg:
        pass

    args = (Arg(),)
    target_ref, arg_ref = weakref.ref(target), weakref.ref(args[0])
    before = lt._count()
    assert lt.stack_size(size) == 0
    try:
        with pytest.raises(RuntimeError) as info:
            lt.start_new_thread(target, args)
    finally:
        assert lt.stack_size(0) == size
    assert type(info.value) is RuntimeError
    assert str(info.value) == "can't start new thread"
    time.sleep(0.1)
    assert ran == []
    assert lt._count() == before
    info = None
    del target, args
    gc.collect()
    assert target_ref() is None and arg_ref() is None, "start failure leaked references"
    # and the module still starts threads afterwards
    assert _run_in_thread(lt, lambda: 1)[1] == 1

    def native_or_lt(m):
        m.stack_size(size)
        try:
            return m.start_new_thread(lambda: None, ())
        finally:
            m.stack_size(0)

    same(native_or_lt, Raises(RuntimeError, "can't start new thread"))


def test_repeated_start_failures_leak_nothing(lt):
    lt.stack_size(2 ** 46)
    try:
        for _ in range(200):
            with pytest.raises(RuntimeError):
                lt.start_new_thread(_never, ())
    finally:
        lt.stack_size(0)
    assert _run_in_thread(lt, lambda: "ok")[1] == "ok"


# ---------------------------------------------------------------------------
# interpreter finalization (docs/behaviour.md §5.5)

FINALIZE_SCRIPT = """
import os, sys
def f():
    os.write(1, b"thread ran\\n")
class AtFinalization:
    def __del__(self):
        os.write(1, b"finalizing %r\\n" % sys.is_finalizing())
        try:
            lt.start_new_thread(f, ())
        except BaseException as e:
            os.write(1, ("%s: %s\\n" % (type(e).__name__, e)).encode())
        else:
            os.write(1, b"started\\n")
at_finalization = AtFinalization()
"""


@pytest.mark.skipif(IS_PYPY, reason="PyPy runs no __del__ of module globals at exit, so no Python "
                    "code runs while the interpreter is finalizing")
@host_differs(PRE312)  # 3.9-3.11 start the thread
def test_start_at_finalization_refused(differs):
    proc = run_py(FINALIZE_SCRIPT)
    assert proc.rc == 0, proc
    exc_name = "PythonFinalizationError" if sys.version_info >= (3, 13) else "RuntimeError"
    assert proc.out.splitlines()[:2] == [
        "finalizing True",
        "%s: can't create new thread at interpreter shutdown" % exc_name], proc
    assert "thread ran" not in proc.out
    assert "Fatal Python error" not in proc.err, proc


SUBINTERP_SCRIPT = """
import _testcapi
# A legacy subinterpreter imports the module too, and is gone at once.
rc = _testcapi.run_in_subinterp("import " + lt.__name__)
print("subinterpreter", rc)
done = lt.allocate_lock()
done.acquire()
lt.start_new_thread(done.release, ())
print("thread ran", done.acquire(timeout=10))
"""


@pytest.mark.skipif(IS_PYPY, reason="PyPy has no subinterpreters")
def test_threads_run_after_a_subinterpreter_imported_the_module():
    # lowthread's threads make their thread state in the interpreter that
    # imported it first; one that followed a later importer crashed here.
    pytest.importorskip("_testcapi")
    proc = run_py(SUBINTERP_SCRIPT)
    assert proc.rc == 0, proc
    assert proc.out.splitlines() == ["subinterpreter 0", "thread ran True"], proc


ATEXIT_SCRIPT = """
import atexit, os, time
done = lt.allocate_lock()
done.acquire()
def f():
    os.write(1, b"thread ran\\n")
    done.release()
def at_exit():
    lt.start_new_thread(f, ())
    print("acquired", done.acquire(timeout=10), flush=True)
atexit.register(at_exit)
"""


@host_differs({"3.12"})  # 3.12.1 refuses threads in atexit callbacks (gh-113964)
def test_start_in_atexit_allowed(differs):
    """3.13: atexit callbacks may still start threads (sys.is_finalizing() is still False)."""
    proc = run_py(ATEXIT_SCRIPT)
    assert proc.rc == 0, proc
    assert "thread ran" in proc.out and "acquired True" in proc.out, proc


ATEXIT_BEFORE_IMPORT_SCRIPT = """
import atexit, os
def at_exit():
    done = lt.allocate_lock()
    done.acquire()
    def f():
        os.write(1, b"thread ran\\n")
        done.release()
    try:
        lt.start_new_thread(f, ())
    except BaseException as e:
        print("%s: %s" % (type(e).__name__, e), flush=True)
    else:
        print("acquired", done.acquire(timeout=10), flush=True)
atexit.register(at_exit)      # registered before the module is imported: runs after its own
import {name} as lt
"""


@host_differs({"3.12"})  # 3.12.1 refuses threads in atexit callbacks (gh-113964)
def test_start_in_atexit_registered_before_import(differs):
    """atexit callbacks run before finalization whatever their order (3.13 rule, docs/behaviour.md §5.5)."""
    proc = run_py(ATEXIT_BEFORE_IMPORT_SCRIPT.format(name=LT_NAME), prelude=False)
    assert proc.rc == 0, proc
    assert "thread ran" in proc.out and "acquired True" in proc.out, proc
