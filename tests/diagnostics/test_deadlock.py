"""Deadlock detection (docs/behaviour.md §22): each case of _deadlock_cases.py
runs in a subprocess with a bounded timeout.  A certain cycle is reported
once, within 2 s, with each lock's acquisition site and each thread's stack,
and ended with one DeadlockError; what is not certain is never reported."""

import os
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import ORACLE

import lowthread

pytestmark = pytest.mark.skipif(ORACLE, reason="lowthread's own diagnostics")
HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "_deadlock_cases.py")


def _run(*args, timeout=60):
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True,
                       timeout=timeout, cwd=HERE)
    return p.returncode, p.stdout, p.stderr


def _outcomes(out):
    case, rest = out.split(" ", 1)
    results, seconds = rest.rsplit(" ", 1)
    return dict(eval(results)), float(seconds)


# case: (the threads of the cycle, those blocked behind it, the line where a
# lock of the cycle was taken)
EXPECTED = {
    "two": ({"x", "y"}, set(), "with first:"),
    "three": ({"t0", "t1", "t2"}, set(), "with first:"),
    "rlock": ({"r", "l"}, set(), "with first:"),
    "main": ({"MainThread", "worker"}, set(), "with first:"),
    "join": ({"joiner", "joined"}, set(), "with r:\n            child.start()"),
    "cond": ({"w"}, {"n"}, "with m:\n            with c:\n                bar.wait()"),
    "queue": ({"consumer"}, {"producer"}, "with m:\n            bar.wait()\n            q.get()"),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_certain_cycle_is_reported_and_ended(case):
    in_cycle, behind, taken = EXPECTED[case]
    rc, out, err = _run(CASES, case)
    assert rc == 0, err
    outcomes, seconds = _outcomes(out)
    assert set(outcomes) <= in_cycle | behind, outcomes
    assert list(outcomes.values()).count("DeadlockError") == 1, outcomes
    failed = next(name for name, result in outcomes.items() if result == "DeadlockError")
    assert failed in in_cycle
    assert err.count("lowthread: deadlock:") == 1, err
    head = err[err.index("lowthread: deadlock:"):].splitlines()[0]
    assert set(re.findall(r"'([^']+)' \(ident", head)) == in_cycle, head
    for name in behind:
        assert f"\n  '{name}' (ident" in err.split("blocked behind that cycle:", 1)[1], err
    with open(CASES) as f:
        source = f.read()
    line = source[:source.index(taken)].count("\n") + 1
    assert f"taken at {CASES}:{line} " in err, (line, err)
    # Reported within 2 s of the cycle closing (the threads' start is in it).
    assert seconds < 3.0, seconds
    assert "DeadlockError is raised in" in err
    assert "its stack:" in err and "_deadlock_cases.py" in err
    assert "Every thread, once DeadlockError was raised:\nlowthread: " in err  # the dump


def test_without_sites_the_report_has_none():
    rc, out, err = _run(CASES, "two", "no-sites")
    assert rc == 0, err
    outcomes, _ = _outcomes(out)
    assert list(outcomes.values()).count("DeadlockError") == 1, outcomes
    assert err.count("lowthread: deadlock:") == 1, err
    assert "taken at" not in err and ", held by" in err


@pytest.mark.parametrize("case", ["sleeper", "busy", "signal"])
def test_what_is_not_certain_is_never_reported(case):
    rc, out, err = _run(CASES, case)
    assert rc == 0, err
    outcomes, _ = _outcomes(out)
    assert set(outcomes.values()) == {"ok"}, outcomes
    assert "lowthread: deadlock" not in err, err


def test_run_deadlocks_reports_and_keeps_the_exit_status(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""\
        import sys, threading
        a, b = threading.Lock(), threading.Lock()
        bar = threading.Barrier(2)
        def other():
            with a:
                bar.wait()
                with b:
                    pass
        t = threading.Thread(target=other)
        t.start()
        with b:
            bar.wait()
            try:
                with a:
                    pass
            except Exception as e:
                print("main:", type(e).__name__)
        t.join()
        sys.exit(3)
        """))
    rc, out, err = _run("-m", "lowthread", "run", "--deadlocks", str(script))
    assert rc == 3, err
    assert err.count("lowthread: deadlock:") == 1, err
    assert f"taken at {script}:" in err
    rc, out, err = _run("-m", "lowthread", "run", "--deadlocks", "-m", "json.tool", "--help")
    assert rc == 0 and "usage" in out and "lowthread: deadlock" not in err


def test_detect_deadlocks_api():
    with pytest.raises(ValueError):
        lowthread.detect_deadlocks(interval=0)
    lowthread.detect_deadlocks(interval=0.1)
    lowthread.detect_deadlocks(interval=0.1)  # idempotent
    assert lowthread.lock.acquire.__name__ == "acquire"
    lk = lowthread.allocate_lock()
    with lk:
        assert lk._site[0] is sys._getframe().f_code
    lowthread.stop_detecting_deadlocks()
    lowthread.stop_detecting_deadlocks()  # idempotent
    from lowthread.diagnostics import _tracked
    assert lowthread.lock.acquire is _tracked._PLAIN[lowthread.lock]["acquire"]
