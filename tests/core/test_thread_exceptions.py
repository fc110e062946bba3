"""Threads that end by an exception: docs/behaviour.md §5.3.

SystemExit (in every spelling) ends a thread silently; any other exception
goes to sys.unraisablehook with CPython's err_msg, the function as object
and a traceback of the function's own frames, in the interpreter's genuine
UnraisableHookArgs.  Differential where the host's _thread conforms; a
``decision-on:<hosts>`` parameter id marks hosts whose own _thread differs.
"""

import contextlib
import io
import os
import sys
import threading
import time

import pytest
from _core_support import (
    WAIT,
    _run_in_thread,
    _threads_end_and_stack_size_reset,  # noqa: F401 - autouse: threads end, stack_size(0) after each test
)
from conftest import HOST, IS_PYPY, get_unraisable_hook_args_type, host_differs, wait_until

ERR_MSG = "Exception ignored in thread started by"


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
