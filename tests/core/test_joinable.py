"""Joinable threads, thread names and fork, on every interpreter (docs/behaviour.md §12, §13, §14).

CPython 3.13's own joinable-thread tests run against lowthread in test_stdlib.py;
these cover the same ground on the interpreters whose stdlib lacks them (3.9-3.12,
PyPy), plus what the stdlib does not test.  The expected texts are CPython 3.13's.
"""

import os
import sys
import time
import weakref

import pytest
from conftest import IS_PYPY, ORACLE, run_py

if ORACLE:
    pytest.skip("lowthread-only API: CPython <= 3.12 and PyPy have no joinable threads",
                allow_module_level=True)

import lowthread as lt  # noqa: E402

LONG = 10.0


def _gate():
    """A held lock and the function that releases it."""
    gate = lt.allocate_lock()
    gate.acquire()
    return gate


def test_join_waits_for_the_function():
    seen = []
    gate = _gate()

    def body():
        gate.acquire(timeout=LONG)
        seen.append(lt.get_ident())

    h = lt.start_joinable_thread(body)
    assert isinstance(h, lt._ThreadHandle)
    assert h.ident != 0 and not h.is_done()
    gate.release()
    assert h.join() is None
    assert h.is_done()
    assert seen == [h.ident]
    h.join()  # again: returns at once
    h.join(0)


def test_join_timeout_is_honoured():
    gate = _gate()
    h = lt.start_joinable_thread(lambda: gate.acquire(timeout=LONG))
    t0 = time.perf_counter()
    assert h.join(0.2) is None
    elapsed = time.perf_counter() - t0
    assert not h.is_done()
    assert 0.2 <= elapsed < 5, elapsed
    gate.release()
    h.join(LONG)
    assert h.is_done()


@pytest.mark.parametrize("timeout", [None, -1, -5.5])
def test_join_none_or_negative_waits_forever(timeout):
    h = lt.start_joinable_thread(lambda: time.sleep(0.05))
    h.join(timeout)
    assert h.is_done()


@pytest.mark.parametrize("timeout, exc, text", [
    (float("nan"), ValueError, "Invalid value NaN (not a number)"),
    (1e100, OverflowError, None),
    ("x", TypeError, "'str' object cannot be interpreted as an integer"),
])
def test_join_timeout_validation(timeout, exc, text):
    h = lt.start_joinable_thread(lambda: None)
    with pytest.raises(exc) as info:
        h.join(timeout)
    if text:
        assert str(info.value) == text
    h.join()


def test_join_from_several_threads():
    gate = _gate()
    h = lt.start_joinable_thread(lambda: gate.acquire(timeout=LONG))
    results = []
    joiners = [lt.start_joinable_thread(lambda: results.append(h.join(LONG))) for _ in range(4)]
    time.sleep(0.05)
    gate.release()
    for j in joiners:
        j.join(LONG)
    assert results == [None] * 4 and h.is_done()


def test_self_join_raises_even_with_zero_timeout():
    errors = []

    def body():
        for timeout in (None, 0, 1):
            try:
                handle.join(timeout)
            except RuntimeError as exc:
                errors.append(str(exc))

    handle = lt._ThreadHandle()
    lt.start_joinable_thread(body, handle=handle)
    handle.join(LONG)
    assert errors == ["Cannot join current thread"] * 3


def test_unstarted_handle():
    h = lt._ThreadHandle()
    assert h.ident == 0 and not h.is_done()
    assert repr(h) == "<lowthread._ThreadHandle object: ident=0>"
    for call in (h.join, h._set_done):
        with pytest.raises(RuntimeError, match="^thread not started$"):
            call()


def test_handle_reuse_and_validation():
    with pytest.raises(TypeError, match="^thread function must be callable$"):
        lt.start_joinable_thread(1)
    for bad in ((1,), 1, object()):
        with pytest.raises(TypeError, match="^'handle' must be a _ThreadHandle$"):
            lt.start_joinable_thread(lambda: None, bad)
    h = lt.start_joinable_thread(lambda: None)
    with pytest.raises(RuntimeError, match="^thread already started$"):
        lt.start_joinable_thread(lambda: None, handle=h)
    h.join()


def test_handle_type_properties():
    h = lt._ThreadHandle()
    with pytest.raises(TypeError, match="not an acceptable base type"):
        type("Sub", (lt._ThreadHandle,), {})
    if IS_PYPY:
        weakref.ref(h)  # PyPy lets every object be weakly referenced: a known difference
    else:
        with pytest.raises(TypeError):
            weakref.ref(h)
    with pytest.raises(AttributeError):
        h.ident = 5
    t = lt.start_joinable_thread(lambda: None)
    t.join()
    assert repr(t) == f"<lowthread._ThreadHandle object: ident={t.ident}>"


def test_set_done_lets_joiners_go_without_joining():
    gate = _gate()
    h = lt.start_joinable_thread(lambda: gate.acquire(timeout=LONG))
    h._set_done()
    assert h.is_done()
    h.join()  # returns at once: the thread was let go
    h._set_done()  # idempotent
    gate.release()


def test_make_thread_handle():
    h = lt._make_thread_handle(12345)
    assert h.ident == 12345 and not h.is_done()
    assert h.join(0) is None and not h.is_done()
    lt.start_new_thread(lambda: (time.sleep(0.05), h._set_done()), ())
    h.join(LONG)
    assert h.is_done()
    with pytest.raises(TypeError, match="^ident must be an integer$"):
        lt._make_thread_handle("1")
    with pytest.raises(OverflowError, match="^can't convert negative int to unsigned$"):
        lt._make_thread_handle(-1)
    mine = lt._make_thread_handle(lt.get_ident())
    with pytest.raises(RuntimeError, match="^Cannot join current thread$"):
        mine.join(0)


def test_shutdown_joins_non_daemon_threads():
    ended = []
    h = lt.start_joinable_thread(lambda: (time.sleep(0.1), ended.append(1)), daemon=False)
    lt._shutdown()
    assert ended == [1] and h.is_done()


def test_exception_in_joinable_thread_goes_to_unraisablehook():
    seen = []
    old = sys.unraisablehook
    sys.unraisablehook = seen.append

    def boom():
        raise ValueError("bang")

    try:
        lt.start_joinable_thread(boom).join(LONG)
    finally:
        sys.unraisablehook = old
    assert len(seen) == 1
    assert seen[0].object is boom and seen[0].err_msg == "Exception ignored in thread started by"
    assert seen[0].exc_traceback.tb_frame.f_code is boom.__code__


def test_dropped_handles_leave_nothing_running():
    base = lt._count()
    for _ in range(200):
        lt.start_joinable_thread(lambda: None)  # handle dropped at once
    deadline = time.monotonic() + LONG
    while lt._count() != base and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lt._count() == base


def test_audit_event_and_interruptible_join():
    proc = run_py("""
        import signal, sys, time
        events = []
        sys.addaudithook(lambda name, args: name.startswith("_thread.") and events.append((name, args)))
        f = lambda: time.sleep(2)
        h = lt.start_joinable_thread(f, daemon=False)
        assert events == [("_thread.start_joinable_thread", (f, 0, None))], events
        def raiser(*a):
            raise KeyboardInterrupt
        signal.signal(signal.SIGALRM, raiser)
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.monotonic()
        try:
            h.join()
        except KeyboardInterrupt:
            print("interrupted after %.1f" % (time.monotonic() - t0))
        h.join()
        print("done", h.is_done())
    """, timeout=30)
    assert proc.rc == 0, proc.err
    assert proc.out.split("\n")[:2] == ["interrupted after 0.2", "done True"], proc.out


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_fork_child_state():
    proc = run_py("""
        import os, threading, time
        gate = lt.allocate_lock(); gate.acquire()
        held = lt.allocate_lock(); held.acquire()
        rl = lt.RLock(); rl.acquire()
        h = lt.start_joinable_thread(lambda: gate.acquire(timeout=10))
        gate2 = lt.allocate_lock(); gate2.acquire()
        lt.start_new_thread(lambda: gate2.acquire(timeout=10), ())
        time.sleep(0.05)
        parent_native = lt.get_native_id()
        pid = os.fork()
        if pid == 0:
            ok = (lt._count() == 0 and h.is_done() and lt.get_native_id() == os.getpid()
                  and lt.get_native_id() != parent_native
                  and lt.get_native_id() == threading.get_native_id())
            h.join()  # a thread of the parent: must not hang
            held._at_fork_reinit(); rl._at_fork_reinit()
            ok = ok and held.acquire(timeout=1) and rl.acquire(timeout=1)
            done = lt.allocate_lock(); done.acquire()
            lt.start_new_thread(done.release, ())
            ok = ok and done.acquire(timeout=5)
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status)
        gate.release(); gate2.release()
        h.join()
    """, timeout=30)
    assert proc.rc == 0, proc.err
    assert "child 0" in proc.out, (proc.out, proc.err)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/task")
@pytest.mark.parametrize("name, shown", [
    ("worker", "worker"),
    ("a-rather-long-thread-name", "a-rather-long-t"),
    ("abcdefghijklmné", "abcdefghijklmn"),  # 14 bytes + a 2-byte character: cut before it
    ("€uro-€uro-€uro", "€uro-€uro-"),
])
def test_set_name_is_visible_to_the_os(name, shown):
    result = []

    def body():
        lt.set_name(name)
        with open(f"/proc/self/task/{lt.get_native_id()}/comm", encoding="utf-8") as f:
            result.append((f.read().rstrip("\n"), lt._get_name()))

    lt.start_joinable_thread(body).join(LONG)
    assert result == [(shown, shown)]


def test_set_name_validation():
    with pytest.raises(TypeError):
        lt.set_name(b"bytes")
    with pytest.raises(ValueError, match="embedded null character"):
        lt.set_name("a\0b")


def test_handle_is_complete_when_the_function_starts():
    # The new thread must not run its function before start_joinable_thread
    # has recorded it in the handle: a function that looks at its own handle
    # at once saw "thread not started" (ident 0) before the start gate.
    seen = []
    done = lt.allocate_lock()
    done.acquire()
    for _ in range(50):
        handle = lt._ThreadHandle()

        def body(handle=handle):
            seen.append((handle.ident == lt.get_ident(), handle.is_done()))
            done.release()

        lt.start_joinable_thread(body, handle=handle)
        assert done.acquire(timeout=LONG)
        handle.join(LONG)
    assert seen == [(True, False)] * 50
