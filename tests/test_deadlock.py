"""Deadlock detection (work in progress, branch wip-deadlock): each case in a
subprocess with a bounded timeout; a certain cycle is reported and ended with
DeadlockError in one thread, a cycle of timed waits is not reported."""

import os
import subprocess
import sys

import pytest
from conftest import ORACLE

pytestmark = pytest.mark.skipif(ORACLE, reason="lowthread's own diagnostics")
CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_deadlock_cases.py")


def _run(case):
    p = subprocess.run([sys.executable, CASES, case], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout, p.stderr


@pytest.mark.parametrize("case,ended", [
    ("three", "DeadlockError"), ("rlock", "DeadlockError"), ("cond", "DeadlockError")])
def test_certain_cycle_is_reported_and_ended(case, ended):
    out, err = _run(case)
    assert err.count("lowthread: deadlock:") == 1, err
    assert out.count(ended) == 1, out
    assert "Wait-for chains" in err


def test_timed_waits_are_never_reported():
    out, err = _run("sleeper")
    assert "lowthread: deadlock" not in err, err
    assert "DeadlockError" not in out
