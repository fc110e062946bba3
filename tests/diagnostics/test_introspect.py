"""Who holds which lock and who waits for what (docs/behaviour.md §21).

No interpreter's _thread can say either, so there is no oracle: each test
states the answer.  Threads here block only in bounded waits, and each test
lets them go before it ends.
"""

import io
import os
import signal
import sys
import time

import pytest
from conftest import ORACLE, run_py, wait_until

pytestmark = [pytest.mark.skipif(ORACLE, reason="lowthread's own diagnostics"),
              pytest.mark.timeout(60)]

if not ORACLE:
    import lowthread


def _start(fn, *args):
    """Start fn(*args) in a lowthread thread; returns its handle."""
    return lowthread.start_joinable_thread(lambda: fn(*args))


def _waiting_on(obj, n=1):
    assert wait_until(lambda: len(lowthread.waiters(obj)) >= n, timeout=10), (
        "no thread is listed as waiting", lowthread.waiters(obj))


def test_holder_of_a_lock_is_its_last_taker():
    lk = lowthread.allocate_lock()
    assert lowthread.holder(lk) is None
    lk.acquire()
    assert lowthread.holder(lk) == lowthread.get_ident()
    idents = []

    def release_and_take():
        lk.release()  # a lock has no owner: any thread may release it
        idents.append(lowthread.get_ident())
        lk.acquire()

    _start(release_and_take).join(10)
    assert lowthread.holder(lk) == idents[0] != lowthread.get_ident()
    lk.release()
    assert lowthread.holder(lk) is None


def test_holder_of_an_rlock_is_its_owner():
    rl = lowthread.RLock()
    assert lowthread.holder(rl) is None
    with rl, rl:
        assert lowthread.holder(rl) == lowthread.get_ident()
    assert lowthread.holder(rl) is None


@pytest.mark.parametrize("bad", [None, 1, object()], ids=["None", "int", "object"])
def test_holder_and_waiters_refuse_other_objects(bad):
    with pytest.raises(TypeError, match="holder\\(\\) takes a lowthread lock or RLock"):
        lowthread.holder(bad)
    with pytest.raises(TypeError, match="waiters\\(\\) takes a lowthread lock"):
        lowthread.waiters(bad)


@pytest.mark.parametrize("how", ["untimed", "timed", "rlock", "with"])
def test_waiters_lists_blocked_threads_oldest_first(how):
    lk = lowthread.RLock() if how == "rlock" else lowthread.allocate_lock()
    lk.acquire()
    got = []

    def wait():
        if how == "timed":
            got.append(lk.acquire(timeout=30))
        elif how == "with":
            with lk:
                got.append(True)
            return
        else:
            got.append(lk.acquire())
        lk.release()

    first = _start(wait)
    _waiting_on(lk, 1)
    second = _start(wait)
    _waiting_on(lk, 2)
    assert lowthread.waiters(lk) == [first.ident, second.ident]
    lk.release()
    first.join(10)
    second.join(10)
    assert got == [True, True]
    assert lowthread.waiters(lk) == []


def test_an_acquire_that_does_not_wait_is_not_listed():
    lk = lowthread.allocate_lock()
    with lk:
        assert not lk.acquire(False)
        assert not lk.acquire(timeout=0.01)  # waited, and no longer does
    rl = lowthread.RLock()
    with rl:
        rl.acquire()
        rl.release()
    me = lowthread.get_ident()
    assert not [w for w in lowthread.diagnostics._introspect._c_waits() if w.ident == me]
    assert lowthread.waiters(lk) == []


def test_thread_states_say_who_holds_and_waits_for_what():
    a = lowthread.allocate_lock()
    b = lowthread.RLock()
    a.acquire()
    ready = lowthread.allocate_lock()
    ready.acquire()

    def holder_of_b():
        with b:
            ready.release()
            a.acquire(timeout=30)  # blocks until the test lets go of a
            a.release()

    t = _start(holder_of_b)
    _waiting_on(a)
    states = {s.ident: s for s in lowthread.thread_states()}
    me, other = states[lowthread.get_ident()], states[t.ident]
    assert list(states)[0] == lowthread.get_ident()  # the main thread first
    assert me.lowthread and other.lowthread
    assert any(h is a for h in me.held) and me.waiting is None
    assert any(h is b for h in other.held)
    assert other.waiting.on is a and other.waiting.timeout == 30.0
    assert 0 <= other.waiting.seconds < 30
    # Its own frames, not lowthread's.
    names = [f.name for f in other.stack]
    assert "holder_of_b" in names, names
    here = os.path.dirname(lowthread.__file__) + os.sep
    assert not any(f.filename.startswith(here) for f in other.stack), other.stack
    a.release()
    t.join(10)


def test_thread_states_while_another_thread_makes_locks():
    """A lock another thread is still constructing (made, its C lock not yet
    attached: lt_lock_new runs without the GIL) is skipped, not an error.
    The deadlock report's dump reads every lock this way: it failed with
    AttributeError '_lk' in a CI run (3.12)."""
    stop = []

    def make_locks():
        while not stop:
            lowthread.allocate_lock()
            lowthread.RLock()

    t = _start(make_locks)
    deadline = time.monotonic() + 3  # gc.get_objects() is slow on PyPy
    try:
        for _ in range(300):
            lowthread.thread_states()
            if time.monotonic() > deadline:
                break
    finally:
        stop.append(1)
        t.join(10)


def test_join_waits_are_listed_with_the_handle():
    go = lowthread.allocate_lock()
    go.acquire()
    worker = _start(lambda: go.acquire(timeout=30))
    joiner = _start(lambda: worker.join(30))
    _waiting_on(worker)
    assert lowthread.waiters(worker) == [joiner.ident]
    chains = lowthread.diagnostics._introspect.wait_chains(lowthread.thread_states())
    assert [joiner.ident, worker.ident, lowthread.get_ident()] in chains, chains
    go.release()
    joiner.join(10)


def test_dump_shows_a_cycle_between_two_threads():
    a, b = lowthread.allocate_lock(), lowthread.allocate_lock()
    both = lowthread.allocate_lock()
    both.acquire()
    order, got = [], []

    def take(first, second, name):
        first.acquire()
        order.append(name)
        if len(order) == 2:
            both.release()
        wait_until(lambda: len(order) == 2)  # each holds its first lock
        got.append(second.acquire(timeout=30))  # a cycle until the test ends it

    t1 = _start(take, a, b, "t1")
    t2 = _start(take, b, a, "t2")
    assert both.acquire(timeout=10)
    _waiting_on(a)
    _waiting_on(b)
    out = io.StringIO()
    lowthread.dump(out)
    text = out.getvalue()
    assert f"(ident {t1.ident})" in text and f"(ident {t2.ident})" in text, text
    assert text.count("waits for lock at") == 2, text
    assert "(a cycle)" in text, text
    assert "in take" in text, text
    # Ended from here (a lock has no owner): each thread takes the lock it
    # waits for, and ends holding it.
    a.release()
    b.release()
    t1.join(40)
    t2.join(40)
    assert got == [True, True]


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="needs SIGUSR1")
def test_dump_on_a_signal():
    """The report comes from the handler, in the main thread, whose own wait
    has ended to let it run: its stack shows where it waits, and the other
    threads' waits are listed."""
    p = run_py("""
        import os, signal, sys, time
        lk = lt.allocate_lock()
        held = lt.allocate_lock(); held.acquire()
        lt.dump_on(signal.SIGUSR1)
        main = lt.get_ident()
        def blocked():
            lk.acquire(timeout=10)
            lk.release()
        def worker():
            lk.acquire()
            held.release()
            h = lt.start_joinable_thread(blocked)
            deadline = time.monotonic() + 10
            while (sorted(lt.waiters(lk)) != sorted([main, h.ident])
                   and time.monotonic() < deadline):
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGUSR1)
            time.sleep(0.5)
            lk.release()
            h.join(10)
        lt.start_new_thread(worker, ())
        held.acquire(timeout=10)
        t0 = time.monotonic()
        got = lk.acquire(timeout=10)  # the dump runs inside this wait
        print("acquired", got, round(time.monotonic() - t0, 1) < 5)
    """, timeout=30)
    assert p.rc == 0, p.err
    assert "acquired True True" in p.out
    assert "main thread" in p.err and "in <module>" in p.err, p.err
    assert "waits for lock at" in p.err and "(timeout 10 s)" in p.err, p.err
    assert "in blocked" in p.err, p.err


def test_dump_names_locks_held_by_threads_that_ended():
    lk = lowthread.allocate_lock()
    t = _start(lk.acquire)
    t.join(10)
    out = io.StringIO()
    lowthread.dump(out)
    assert f"by thread {t.ident}" in out.getvalue(), out.getvalue()
    lk.release()


def test_dump_writes_to_stderr_by_default(capsys):
    lowthread.dump()
    err = capsys.readouterr().err
    assert err.startswith("lowthread: ") and "main thread" in err
    assert sys._getframe().f_code.co_name in err


def test_the_wait_list_read_through_cffi_takes_no_buffer():
    """The cffi form of the wait-list read (PyPy's, and a subinterpreter's)
    takes None for "no buffer" as _kept's does: PyPy's cffi refused None,
    and every waiters() and the deadlock watchdog failed there."""
    from lowthread.core import _calls
    lk = lowthread.allocate_lock()
    lk.acquire()
    lowthread.start_new_thread(lk.acquire, ())
    assert wait_until(lambda: _calls._waits(None, 0) >= 1)
    lk.release()
