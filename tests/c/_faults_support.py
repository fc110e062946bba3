"""What the tests of tests/c/ share: fresh interpreters that run each scenario, and the sizes.

Reliability (docs/testing.md §T5, §T6): exit with threads and fork
(test_exit_and_fork.py), leaks (test_leaks.py), injected faults
(test_fault_injection.py).  Every scenario runs in fresh interpreters, so
that a crash, a hang or a leak shows in a child's exit status or in its own
figures, never in pytest's process.  Every wait is bounded: children have
timeouts and are killed past them, and inside them every wait on a thread
has a deadline.

Sizes: CI runs a reduced count of each repetition (seconds per test); with
LOWTHREAD_SOAK=1 the full counts run (minutes).  The counts used are printed
with the measured figures (``pytest -s`` shows them):

===========================  ==========  =================
what                         CI          LOWTHREAD_SOAK=1
===========================  ==========  =================
exit runs (test 1)           30          300
locks made and dropped       250,000     1,000,000
threads started and ended    10,000      10,000
failed starts                10,000      10,000
forks (test 4)               20          200
forks amid starts (test 5)   500         5,000
===========================  ==========  =================
"""

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

from conftest import IS_PYPY, LT_NAME, PRELUDE, _lt_pythonpath

SOAK = os.environ.get("LOWTHREAD_SOAK", "") not in ("", "0")


def scaled(ci, soak):
    return soak if SOAK else ci


EXIT_RUNS = scaled(30, 300)
LOCKS = scaled(250_000, 1_000_000)
THREADS = scaled(10_000, 10_000)
FAILED_STARTS = scaled(10_000, 10_000)
FORKS = scaled(20, 200)
START_FORKS = scaled(500, 5_000)


def report(name, **figures):
    """Print the measured figures of a test (shown with pytest -s)."""
    impl = "pypy" if IS_PYPY else "cpython"
    print("\nFIGURES %s %s %d.%d soak=%d %s" % (
        name, impl, sys.version_info[0], sys.version_info[1], SOAK,
        json.dumps(figures, sort_keys=True)))


# ---------------------------------------------------------------------------
# Children: fresh interpreters, output to files, every one bounded


def _child_env(extra=None):
    env = dict(os.environ)
    env["PYTHONFAULTHANDLER"] = "1"
    env.pop("PYTHONWARNINGS", None)
    env.pop("LD_PRELOAD", None)
    path = _lt_pythonpath()
    if path:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (path, env.get("PYTHONPATH")) if p)
    if extra:
        env.update(extra)
    return env


class Child:
    """One finished child: rc (None if it was killed at its timeout), out, err, elapsed."""

    def __init__(self, index, rc, out, err, elapsed, timed_out):
        self.index, self.rc, self.out, self.err = index, rc, out, err
        self.elapsed, self.timed_out = elapsed, timed_out

    def __repr__(self):
        return "Child(#%d rc=%r%s, %.2fs)\n--- stdout:\n%s\n--- stderr:\n%s" % (
            self.index, self.rc, " TIMED OUT" if self.timed_out else "", self.elapsed,
            self.out[-3000:], self.err[-3000:])


def run_children(sources, parallel=4, timeout=30.0, env=None):
    """Run Python snippets (lt imported first), at most `parallel` at once.

    Returns the Children in order.  A child still running at its timeout is
    killed (SIGKILL) and reported as timed out; nothing here waits unbounded.
    """
    full_env = _child_env(env)
    results = [None] * len(sources)
    running = []  # (index, Popen, out file, err file, start)
    todo = list(enumerate(sources))
    with tempfile.TemporaryDirectory(prefix="lt-faults-") as tmp:
        try:
            _run_all(todo, running, results, parallel, timeout, full_env, tmp)
        finally:
            # Interrupted (pytest-timeout, ^C): leave no child behind.
            for _i, p, fout, ferr, _t0 in running:
                if p.poll() is None:
                    p.kill()
                    p.wait(10)
                fout.close()
                ferr.close()
    return results


def _run_all(todo, running, results, parallel, timeout, env, tmp):
    while todo or running:
        while todo and len(running) < parallel:
            i, src = todo.pop(0)
            code = PRELUDE.format(name=LT_NAME) + textwrap.dedent(src)
            fout = open(os.path.join(tmp, "%d.out" % i), "w+")
            ferr = open(os.path.join(tmp, "%d.err" % i), "w+")
            p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                 stdout=fout, stderr=ferr, env=env)
            running.append((i, p, fout, ferr, time.monotonic()))
        time.sleep(0.005)
        still = []
        for i, p, fout, ferr, t0 in running:
            rc = p.poll()
            elapsed = time.monotonic() - t0
            timed_out = rc is None and elapsed > timeout
            if rc is None and not timed_out:
                still.append((i, p, fout, ferr, t0))
                continue
            if timed_out:
                p.kill()
                p.wait(10)
            fout.seek(0)
            ferr.seek(0)
            results[i] = Child(i, rc, fout.read(), ferr.read(), elapsed, timed_out)
            fout.close()
            ferr.close()
        running[:] = still


def run_child(src, timeout=60.0, env=None):
    return run_children([src], parallel=1, timeout=timeout, env=env)[0]


def child_json(child):
    """The last stdout line of a child that must have ended well, as JSON."""
    assert child.rc == 0 and not child.timed_out, child
    assert "Fatal Python error" not in child.err, child
    lines = child.out.strip().splitlines()
    assert lines, child
    return json.loads(lines[-1])
