"""Lock-order checking (docs/behaviour.md §23): each case of
_lockorder_cases.py runs in a subprocess with a bounded timeout.  An order
that closes a cycle is reported once, with the sites of every edge, though
nothing deadlocked; strict mode raises LockOrderError before taking the
lock; orders that cannot deadlock are never reported."""

import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import ORACLE, STEADY_GC_ENV

import lowthread

pytestmark = pytest.mark.skipif(ORACLE, reason="lowthread's own diagnostics")
HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "_lockorder_cases.py")
REPORT = "lowthread: lock-order inversion:"


def _run(*args, timeout=120, cwd=HERE, env=None):
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                       timeout=timeout, cwd=cwd, env=env and {**os.environ, **env})
    return p.returncode, p.stdout, p.stderr


def _lines_of(name):
    """The line numbers of _lockorder_cases.py that contain name."""
    with open(CASES) as f:
        return [n for n, line in enumerate(f, 1) if name in line]


def test_two_locks_in_opposite_orders_are_reported_once_with_their_sites():
    rc, out, err = _run(CASES, "two")
    assert rc == 0, err
    assert out == "two ok\n"
    assert err.count(REPORT) == 1, err
    report = err[err.index(REPORT):]
    made = re.findall(r"a lock made at (\S+?):(\d+)", report)
    assert {(f, int(n)) for f, n in made} == {
        (CASES, n) for n in _lines_of("threading.Lock()")[:2]}, made
    # Both edges: where each thread took the first and the second lock.
    with_lines = {CASES + ":%d" % n for n in _lines_of("with locks[0]:")}
    assert sum(report.count(w) for w in with_lines) >= 2, report
    assert "stack of this acquire:" in report and "its stack then:" in report


def test_strict_raises_before_taking_the_lock():
    rc, out, err = _run(CASES, "two", "strict")
    assert rc == 0, err
    assert out == "two raised LockOrderError, a locked: False\n", out
    assert REPORT not in err


def test_a_cycle_of_three_is_reported():
    rc, out, err = _run(CASES, "three")
    assert rc == 0, err
    assert err.count(REPORT) == 1, err
    assert "  3. " in err and "  4. " not in err  # three edges


@pytest.mark.parametrize("case", ["same-order", "timed", "signal", "rlock", "dropped"])
def test_orders_that_cannot_deadlock_are_never_reported(case):
    rc, out, err = _run(CASES, case)
    assert rc == 0, err
    assert out.endswith(f"{case} ok\n"), out
    assert REPORT not in err, err


def test_a_million_locks_from_one_site_keep_the_graph_small():
    rc, out, err = _run(CASES, "million", timeout=300, env=STEADY_GC_ENV)
    assert rc == 0, err
    m = re.match(r"million classes (\d+) grew (-?\d+) KiB", out)
    assert m, out
    classes, grew = int(m.group(1)), int(m.group(2))
    assert classes < 50, classes  # by site, not by lock
    assert grew < 20_000, grew  # KiB: 20 bytes per lock made at most (none is kept)


def test_run_lock_order_reports_and_keeps_the_exit_status(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""\
        import sys, threading
        a = threading.Lock()
        b = threading.Lock()
        def order(x, y):
            with x:
                with y:
                    pass
        for args in ((a, b), (b, a)):
            t = threading.Thread(target=order, args=args)
            t.start()
            t.join()
        sys.exit(5)
        """))
    rc, out, err = _run("-m", "lowthread", "run", "--lock-order", str(script))
    assert rc == 5, err
    assert err.count(REPORT) == 1, err
    assert f"made at {script}:2" in err and f"made at {script}:3" in err
    rc, out, err = _run("-m", "lowthread", "run", "--lock-order=strict", str(script))
    assert rc == 5 and "LockOrderError" in err and REPORT in err  # the thread's traceback


def test_pytest_plugin(tmp_path):
    (tmp_path / "test_order.py").write_text(textwrap.dedent("""\
        import threading
        a = threading.Lock()
        b = threading.Lock()
        def test_ab():
            with a:
                with b:
                    pass
        def test_ba():
            with b:
                with a:
                    pass
        """))
    base = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "lowthread.pytest_plugin"]
    rc, out, err = _run(*base, "--lowthread-lock-order=strict", cwd=tmp_path)
    assert rc == 1, out + err
    assert "1 failed, 1 passed" in out and "LockOrderError" in out
    rc, out, err = _run(*base, "--lowthread-lock-order", cwd=tmp_path)
    assert rc == 0, out + err
    assert "lowthread lock-order and deadlock reports" in out and REPORT in out
    rc, out, err = _run(*base, cwd=tmp_path)
    assert rc == 0 and "lowthread" not in out


def test_check_lock_order_api():
    from lowthread.diagnostics import _tracked

    plain = _tracked._PLAIN[lowthread.lock]
    lowthread.check_lock_order()
    try:
        assert lowthread.lock.acquire is not plain["acquire"]
        lk = lowthread.allocate_lock()
        assert lk._class.made[0] is sys._getframe().f_code
        with lk:
            assert _tracked._held[lowthread.get_ident()][-1][0]() is lk
        assert lowthread.get_ident() not in _tracked._held
        with pytest.raises(RuntimeError):
            lk.release()  # still the lock's own error
    finally:
        lowthread.stop_checking_lock_order()
    assert lowthread.lock.acquire is plain["acquire"]
    assert lowthread.lock.__new__ is plain["__new__"].__func__
