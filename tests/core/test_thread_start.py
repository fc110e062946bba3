"""Threads and module functions: docs/behaviour.md §5-§8 and §10.

Differential where the host's _thread conforms; a ``decision-on:<hosts>``
parameter id marks hosts whose own _thread differs from the Decision (there
lowthread is checked against the Decision only).
"""

import contextlib
import ctypes
import ctypes.util
import gc
import io
import os
import sys
import threading
import time
import weakref

import pytest
from conftest import (
    HOST,
    IS_LINUX,
    IS_PYPY,
    LT_NAME,
    NOBODY,
    ORACLE,
    PRE312,
    PRE313,
    PYPY,
    Raises,
    Returns,
    get_unraisable_hook_args_type,
    host_differs,
    run_py,
    wait_until,
)

FIRST_ARG = Raises(TypeError, "first arg must be callable")
SECOND_ARG = Raises(TypeError, "2nd arg must be a tuple")
THIRD_ARG = Raises(TypeError, "optional 3rd arg must be a dictionary")
ERR_MSG = "Exception ignored in thread started by"
WAIT = 10.0


@pytest.fixture(autouse=True)
def _threads_end_and_stack_size_reset(lt, native, no_lt_thread_leak):
    yield
    lt.stack_size(0)
    native.stack_size(0)


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


def _run_in_thread(lt, func, args=(), kwargs=None, start=None):
    """Start func in a lowthread thread and wait until it has run; return (ident, result)."""
    done = threading.Event()
    result = {}

    def wrapper(*a, **k):
        try:
            result["value"] = func(*a, **k)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            result["error"] = exc
        finally:
            done.set()

    start = start or lt.start_new_thread
    ident = start(wrapper, args) if kwargs is None else start(wrapper, args, kwargs)
    assert done.wait(WAIT), "thread did not run within %ss" % WAIT
    if "error" in result:
        raise result["error"]
    return ident, result.get("value")


def _thread_facts(lt):
    cur = threading.current_thread()
    return {
        "lt_ident": lt.get_ident(),
        "threading_ident": threading.get_ident(),
        "lt_native_id": lt.get_native_id(),
        "threading_native_id": threading.get_native_id(),
        "current_thread_ident": cur.ident,
    }


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
# SystemExit and other exceptions (docs/behaviour.md §5.3)


@contextlib.contextmanager
def catch_unraisable():
    """Replace sys.unraisablehook; yield (list of hook args, Event set on each call)."""
    seen = []
    called = threading.Event()

    def hook(args):
        seen.append(args)
        called.set()

    old = sys.unraisablehook
    sys.unraisablehook = hook
    try:
        yield seen, called
    finally:
        sys.unraisablehook = old


def _start_and_wait_gone(lt, func, args=(), kwargs=None):
    """Start func in a lowthread thread and wait until lowthread no longer counts it."""
    before = lt._count()
    if kwargs is None:
        lt.start_new_thread(func, args)
    else:
        lt.start_new_thread(func, args, kwargs)
    # _count goes up in the new thread; wait for the thread to be counted out again.
    wait_until(lambda: lt._count() > before, timeout=0.5)
    assert wait_until(lambda: lt._count() <= before, timeout=WAIT)
    time.sleep(0.05)  # a hook called late would still be seen


class ExitSub(SystemExit):
    pass


@pytest.mark.parametrize("how", ["raise", "raise-code", "lt.exit", "lt.exit_thread", "sys.exit",
                                 "subclass"])
def test_system_exit_is_silent(lt, how):
    after = []

    def task():
        if how == "raise":
            raise SystemExit
        if how == "raise-code":
            raise SystemExit(3)
        if how == "lt.exit":
            lt.exit()
        if how == "lt.exit_thread":
            lt.exit_thread()
        if how == "sys.exit":
            sys.exit("message")
        if how == "subclass":
            raise ExitSub(1)
        after.append(1)

    with catch_unraisable() as (seen, _):
        _start_and_wait_gone(lt, task)
    assert seen == []
    assert after == []


def test_return_value_ignored_silently(lt):
    with catch_unraisable() as (seen, _):
        _start_and_wait_gone(lt, lambda: 42)
    assert seen == []


def _lt_dir(mod):
    path = getattr(mod, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


def _unraisable_summary(m, func, args=(), kwargs=None):
    """Run func in a thread of module m; summarize the unraisable hook call."""
    with catch_unraisable() as (seen, called):
        if kwargs is None:
            m.start_new_thread(func, args)
        else:
            m.start_new_thread(func, args, kwargs)
        assert called.wait(WAIT), "sys.unraisablehook was not called"
        time.sleep(0.05)
    assert len(seen) == 1, seen
    a = seen[0]
    tb = a.exc_traceback
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    return {
        "exc_type": a.exc_type,
        "exc_value": repr(a.exc_value),
        "err_msg": a.err_msg,
        "object_is_function": a.object is func,
        "tb_is_value_tb": a.exc_traceback is a.exc_value.__traceback__,
        "first_frame_is_function": bool(frames) and frames[0] is getattr(func, "__code__", None),
        "n_frames": len(frames),
        "frame_files": [c.co_filename for c in frames],
    }


def _boom():
    raise ValueError("bang")


def _deep():
    _boom()


def _kbd():
    raise KeyboardInterrupt


class CustomBase(BaseException):
    pass


def _custom_base():
    raise CustomBase("custom")


@host_differs({"3.13", "pypy"})  # 3.13: object=None, repr in err_msg; PyPy: ident in err_msg
@pytest.mark.parametrize("func,n_frames,exc", [
    (_boom, 1, ValueError), (_deep, 2, ValueError), (_kbd, 1, KeyboardInterrupt),
    (_custom_base, 1, CustomBase),
], ids=["ValueError", "nested", "KeyboardInterrupt", "BaseException-subclass"])
def test_exception_goes_to_unraisablehook(lt, native, func, n_frames, exc, differs):
    """docs/behaviour.md §5.3: err_msg, object = function, traceback = the function's frames only."""
    got = _unraisable_summary(lt, func)
    assert got["exc_type"] is exc
    assert got["err_msg"] == ERR_MSG
    assert got["object_is_function"]
    assert got["tb_is_value_tb"]
    assert got["first_frame_is_function"], got["frame_files"]
    assert got["n_frames"] == n_frames, got["frame_files"]
    lt_dir = _lt_dir(lt)
    if lt_dir:
        assert not any(f.startswith(lt_dir + os.sep) for f in got["frame_files"]), got["frame_files"]
    if HOST not in differs:
        assert _unraisable_summary(native, func) == got  # differential on 3.9-3.12


@host_differs({"3.13", "pypy"})
def test_exception_from_call_itself(lt, native, differs):
    """Wrong arguments for the function: TypeError from the call, reported the same way."""

    def takes_none():
        pass

    got = _unraisable_summary(lt, takes_none, (1,))
    assert got["exc_type"] is TypeError
    assert got["err_msg"] == ERR_MSG and got["object_is_function"]
    assert got["tb_is_value_tb"]
    lt_dir = _lt_dir(lt)
    if lt_dir:
        assert not any(f.startswith(lt_dir + os.sep) for f in got["frame_files"]), got["frame_files"]
    nat = _unraisable_summary(native, takes_none, (1,))
    assert got["exc_value"] == nat["exc_value"]
    assert got["n_frames"] == nat["n_frames"] == 0


@host_differs({"3.13", "pypy"})
def test_exception_with_kwargs_call(lt, differs):
    def f(a, *, b):
        raise LookupError(a, b)

    got = _unraisable_summary(lt, f, (1,), {"b": 2})
    assert got["exc_type"] is LookupError
    assert got["exc_value"] == repr(LookupError(1, 2))
    assert got["object_is_function"] and got["first_frame_is_function"]


@host_differs({"3.13", "pypy"})  # oracle mode: the hosts' own err_msg/object differ
def test_hook_args_type_is_genuine(lt, differs):
    """docs/behaviour.md §5.3: a genuine UnraisableHookArgs, so that sys.__unraisablehook__ accepts it."""
    hook_type = get_unraisable_hook_args_type()
    with catch_unraisable() as (seen, called):
        lt.start_new_thread(_boom, ())
        assert called.wait(WAIT)
    args = seen[0]
    assert type(args) is hook_type
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        sys.__unraisablehook__(args)
    lines = buf.getvalue().splitlines()
    # What the host's default hook prints for the Decision's err_msg and object
    # (CPython: "<err_msg>: <repr>"; PyPy's hook leaves out the colon).
    ref = io.StringIO()
    with contextlib.redirect_stderr(ref):
        fields = (ValueError, ValueError("bang"), None, ERR_MSG, _boom)
        if getattr(hook_type, "n_fields", 5) > 5:  # PyPy: + extra_line
            fields += (getattr(args, "extra_line", ""),)
        sys.__unraisablehook__(hook_type(fields))
    assert lines[0] == ref.getvalue().splitlines()[0], lines
    if not IS_PYPY:
        assert lines[0] == "%s: %r" % (ERR_MSG, _boom), lines
    assert "Traceback (most recent call last):" in lines
    assert any(", in _boom" in line for line in lines), lines
    assert lines[-1] == "ValueError: bang", lines


def test_unraisable_hook_failure_does_not_kill_process(lt):
    """A hook that raises is reported by the interpreter; the process and other threads go on."""
    def bad_hook(args):
        raise RuntimeError("hook failed")

    old = sys.unraisablehook
    sys.unraisablehook = bad_hook
    buf = io.StringIO()
    try:
        with contextlib.redirect_stderr(buf):
            _start_and_wait_gone(lt, _boom)
    finally:
        sys.unraisablehook = old
    assert _run_in_thread(lt, lambda: 5)[1] == 5


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


# ---------------------------------------------------------------------------
# get_ident / get_native_id (docs/behaviour.md §8)


def test_get_ident_main_thread(lt):
    assert type(lt.get_ident()) is int
    assert lt.get_ident() == threading.get_ident() == threading.main_thread().ident
    assert lt.get_ident() != 0


@pytest.mark.skipif(not hasattr(threading, "get_native_id"), reason="no native thread ids here")
def test_get_native_id_main_thread(lt):
    assert type(lt.get_native_id()) is int
    assert lt.get_native_id() == threading.get_native_id()
    assert lt.get_native_id() >= 0
    if IS_LINUX:
        assert lt.get_native_id() == os.getpid()


def test_idents_in_threading_thread(lt):
    facts = {}
    t = threading.Thread(target=lambda: facts.update(_thread_facts(lt)))
    t.start()
    t.join(WAIT)
    assert facts["lt_ident"] == facts["threading_ident"] == t.ident
    assert facts["lt_native_id"] == facts["threading_native_id"] == t.native_id


def test_idents_in_lowthread_thread(lt):
    ident, facts = _run_in_thread(lt, lambda: _thread_facts(lt))
    assert facts["lt_ident"] == facts["threading_ident"] == ident
    assert facts["lt_native_id"] == facts["threading_native_id"]
    assert facts["lt_native_id"] != os.getpid()


@pytest.mark.parametrize("name", ["get_ident", "get_native_id"])
def test_ident_functions_take_no_arguments(same, name):
    same(lambda m: getattr(m, name)(1), Raises(TypeError), NOBODY, type_only=True)


FORK_SCRIPT = """
import os, sys, threading, warnings
warnings.simplefilter("ignore", DeprecationWarning)

def facts():
    return (lt.get_ident(), threading.get_ident(), lt.get_native_id(),
            threading.get_native_id(), os.getpid())

def child_report(tag):
    i, ti, n, tn, pid = facts()
    ok = (i == ti, n == tn, n == pid)
    os.write(1, ("%s %s %s %s\\n" % (tag, *ok)).encode())

parent = facts()          # fills any per-thread cache before the fork
pid = os.fork()
if pid == 0:
    try:
        child_report("main-fork")
        done = threading.Event()
        def in_child_thread():
            i, ti, n, tn, p = facts()
            os.write(1, ("child-thread %s %s %s\\n" % (i == ti, n == tn, n != p)).encode())
            done.set()
        lt.start_new_thread(in_child_thread, ())
        done.wait(10)
    finally:
        os._exit(0)
os.waitpid(pid, 0)

# fork from a non-main thread (as test_thread.TestForkInThread)
finished = threading.Event()
def fork_in_thread():
    facts()
    pid = os.fork()
    if pid == 0:
        try:
            child_report("thread-fork")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    finished.set()
lt.start_new_thread(fork_in_thread, ())
finished.wait(10)
print("parent", parent[0] == parent[1], parent[2] == parent[3] == os.getpid())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_idents_in_forked_child():
    proc = run_py(FORK_SCRIPT)
    assert proc.rc == 0, proc
    lines = sorted(proc.out.splitlines())
    assert lines == sorted([
        "main-fork True True True",
        "child-thread True True True",
        "thread-fork True True True",
        "parent True True",
    ]), proc


SIGNAL_THREAD_SCRIPT = """
import os, signal, warnings
warnings.simplefilter("ignore", DeprecationWarning)
from lowthread import _wait
before = signal.getsignal(signal.SIGINT)
print("main", _wait.runs_signal_handlers())
done = lt.allocate_lock()
done.acquire()
def worker():
    print("worker", _wait.runs_signal_handlers(), flush=True)
    pid = os.fork()
    if pid == 0:
        os.write(1, ("forked-from-worker %s\\n" % _wait.runs_signal_handlers()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    done.release()
lt.start_new_thread(worker, ())
done.acquire(timeout=10)
print("handler kept", signal.getsignal(signal.SIGINT) is before)
"""


@pytest.mark.skipif(ORACLE, reason="lowthread's own internals")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_runs_signal_handlers_follows_the_main_thread():
    # Only the thread that runs signal handlers keeps a sliced wait
    # interruptible; after a fork from a worker, that worker is the child's
    # main thread.  Asking must not change the SIGINT handler.
    proc = run_py(SIGNAL_THREAD_SCRIPT)
    assert proc.rc == 0, proc
    assert sorted(proc.out.splitlines()) == sorted([
        "main True", "worker False", "forked-from-worker True", "handler kept True"]), proc


# ---------------------------------------------------------------------------
# stack_size (docs/behaviour.md §7)


def test_stack_size_initially_zero(lt):
    assert lt.stack_size() == 0
    assert lt.stack_size(0) == 0


def test_stack_size_returns_previous_and_no_arg_resets(same):
    def call(m):
        try:
            return (m.stack_size(65536), m.stack_size(), m.stack_size(), m.stack_size(0))
        finally:
            m.stack_size(0)

    same(call, Returns((0, 65536, 0, 0)))


def test_stack_size_sequence(same):
    def call(m):
        try:
            return (m.stack_size(32768), m.stack_size(40000), m.stack_size(40960),
                    m.stack_size(2 ** 40), m.stack_size(2 ** 62), m.stack_size(0), m.stack_size())
        finally:
            m.stack_size(0)

    same(call, Returns((0, 32768, 40000, 40960, 2 ** 40, 2 ** 62, 0)))


class Idx:
    def __init__(self, n):
        self.n = n

    def __index__(self):
        return self.n


def test_stack_size_index_object(same):
    def call(m):
        try:
            return (m.stack_size(Idx(65536)), m.stack_size())
        finally:
            m.stack_size(0)

    same(call, Returns((0, 65536)))


@pytest.mark.parametrize("bad,expect", [
    (-1, Raises(ValueError, "size must be 0 or a positive value")),
    (-2 ** 40, Raises(ValueError, "size must be 0 or a positive value")),
    (1, Raises(ValueError, "size not valid: 1 bytes")),
    (True, Raises(ValueError, "size not valid: 1 bytes")),
    (4096, Raises(ValueError, "size not valid: 4096 bytes")),
    (16384, Raises(ValueError, "size not valid: 16384 bytes")),
    (16385, Raises(ValueError, "size not valid: 16385 bytes")),
    (32767, Raises(ValueError, "size not valid: 32767 bytes")),
    (Idx(100), Raises(ValueError, "size not valid: 100 bytes")),
], ids=["-1", "-2**40", "1", "True", "4096", "16384", "16385", "32767", "Idx(100)"])
def test_stack_size_invalid_values_leave_setting_unchanged(same, bad, expect):
    def call(m):
        m.stack_size(65536)
        try:
            try:
                m.stack_size(bad)
            except Exception as exc:  # noqa: BLE001
                if m.stack_size(65536) != 65536:
                    raise AssertionError("setting changed by a refused value") from exc
                raise exc
            return "accepted"
        finally:
            m.stack_size(0)

    same(call, expect)


@pytest.mark.parametrize("bad", [1.5, 65536.0, "x", None, b"1", 1j],
                         ids=["1.5", "65536.0", "str", "None", "bytes", "complex"])
def test_stack_size_type_errors(same, bad):
    def call(m):
        try:
            return m.stack_size(bad)
        finally:
            m.stack_size(0)

    out = same(call, Raises(TypeError), NOBODY, type_only=True)
    assert type(bad).__name__ in out.message, out  # a clear message names the type


@pytest.mark.parametrize("bad", [2 ** 63, 2 ** 64, -2 ** 63 - 1], ids=["2**63", "2**64", "-2**63-1"])
def test_stack_size_overflow(same, bad):
    same(lambda m: m.stack_size(bad), Raises(OverflowError), NOBODY, type_only=True)


@host_differs(PYPY)  # PyPy accepts size=
def test_stack_size_keyword_rejected(same, differs):
    def call(m):
        try:
            return m.stack_size(size=0)
        finally:
            m.stack_size(0)

    same(call, Raises(TypeError), differs, type_only=True)


def test_stack_size_two_args(same):
    same(lambda m: m.stack_size(0, 0), Raises(TypeError), NOBODY, type_only=True)


def _pthread_stack_size():
    """The stack size of the calling thread, from pthread_getattr_np (glibc)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.pthread_self.restype = ctypes.c_ulong
    libc.pthread_getattr_np.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    libc.pthread_attr_getstacksize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    libc.pthread_attr_destroy.argtypes = [ctypes.c_void_p]
    attr = ctypes.create_string_buffer(256)  # >= sizeof(pthread_attr_t)
    assert libc.pthread_getattr_np(libc.pthread_self(), attr) == 0
    size = ctypes.c_size_t()
    try:
        assert libc.pthread_attr_getstacksize(attr, ctypes.byref(size)) == 0
    finally:
        libc.pthread_attr_destroy(attr)
    return size.value


@pytest.mark.skipif(not (IS_LINUX and os.confstr("CS_GNU_LIBC_VERSION")),
                    reason="pthread_getattr_np is glibc-only")
@pytest.mark.parametrize("size", [40000, 262144, 1048576])
def test_threads_get_the_configured_stack_size(same, size):
    def call(m):
        m.stack_size(size)
        try:
            done = threading.Event()
            out = []

            def task():
                out.append(_pthread_stack_size())
                done.set()

            m.start_new_thread(task, ())
            assert done.wait(WAIT)
            return out[0]
        finally:
            m.stack_size(0)

    same(call, Returns(size))


def test_threads_run_with_small_and_large_stacks(lt):
    for size in (32768, 262144, 0x100000, 16 * 2 ** 20):
        lt.stack_size(size)
        try:
            assert _run_in_thread(lt, lambda: sum(range(100)))[1] == 4950
        finally:
            lt.stack_size(0)


# ---------------------------------------------------------------------------
# exit, error, constants, namespace (docs/behaviour.md §3, §10)


@pytest.mark.parametrize("name", ["exit", "exit_thread"])
def test_exit_raises_system_exit(same, lt, name):
    def call(m):
        try:
            getattr(m, name)()
        except SystemExit as exc:
            return (type(exc) is SystemExit, exc.args, exc.code)
        return "no exception"

    same(call, Returns((True, (), None)))
    same(lambda m: getattr(m, name)(1), Raises(TypeError), NOBODY, type_only=True)


def test_error_is_runtime_error(lt, native):
    assert lt.error is RuntimeError
    assert native.error is RuntimeError


@host_differs(PYPY)
def test_timeout_max_constant(lt, differs):
    if os.name == "posix":
        assert lt.TIMEOUT_MAX == 9223372036.0
    assert type(lt.TIMEOUT_MAX) is float


@host_differs(PRE313)  # `lock`
def test_public_names(lt, differs):
    for name in ["error", "LockType", "lock", "allocate_lock", "allocate", "start_new_thread",
                 "start_new", "interrupt_main", "exit", "exit_thread", "get_ident",
                 "stack_size", "TIMEOUT_MAX", "_count"]:
        assert hasattr(lt, name), name
    if hasattr(threading, "get_native_id"):
        assert hasattr(lt, "get_native_id")
    if not ORACLE:
        assert isinstance(lt.__version__, str) and lt.__version__
        assert lt.__name__ == LT_NAME


def test_aliases_behave_like_targets(lt):
    assert type(lt.allocate()) is lt.LockType
    assert _run_in_thread(lt, lambda x: x + 1, (1,), start=lt.start_new)[1] == 2
    with pytest.raises(SystemExit):
        lt.exit_thread()
