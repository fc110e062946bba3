"""The runner of the stdlib suites (tests/stdlib/stdlib_suites/run.py) against a module made to misbehave.

A failing test is reported; a test that hangs is stopped by the per-test
limit and one that crashes the process is reported as such, and in both
cases the module goes on with the tests after it in a new process; the run
fails.  The module runs with threading on lowthread, as in tox.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

RUN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stdlib_suites", "run.py")

MODULE = '''
import os, threading, time, unittest

class Misbehaving(unittest.TestCase):
    def test_1_passes(self):
        self.assertIn("lowthread", type(threading.Lock()).__module__)

    def test_2_fails(self):
        self.assertEqual(1, 2)

    def test_3_hangs(self):
        threading.Event().wait()

    def test_4_crashes(self):
        os.abort()

    def test_5_runs_after_them(self):
        pass
'''


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="run.py needs a virtual environment")
@pytest.mark.skipif(os.name != "posix", reason="os.abort() and process groups")
def test_hang_and_crash_cost_one_test_each(tmp_path):
    (tmp_path / "lt_misbehaving.py").write_text(textwrap.dedent(MODULE))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    t0 = time.monotonic()
    res = subprocess.run([sys.executable, RUN, "-m", "lt_misbehaving",
                          "--per-test", "3", "--json", str(tmp_path / "out.json")],
                         capture_output=True, text=True, env=env, timeout=120)
    took = time.monotonic() - t0
    out = res.stdout
    assert res.returncode == 1, out + res.stderr
    assert "FAIL: lt_misbehaving.Misbehaving.test_2_fails" in out
    assert "HANG: lt_misbehaving.Misbehaving.test_3_hangs" in out
    assert "CRASH: lt_misbehaving.Misbehaving.test_4_crashes" in out
    assert "3 starts" in out  # one after the hang, one after the crash
    with open(tmp_path / "out.json") as f:
        report = json.load(f)
    results = report["modules"][0]["results"]
    outcome = {tid.rsplit(".", 1)[1]: rec["outcome"] for tid, rec in results.items()}
    assert outcome == {"test_1_passes": "pass", "test_2_fails": "fail", "test_3_hangs": "hang",
                       "test_4_crashes": "crash", "test_5_runs_after_them": "pass"}
    # The hang's report holds every thread's stack, from faulthandler.
    assert "test_3_hangs" in results["lt_misbehaving.Misbehaving.test_3_hangs"]["detail"]
    assert took < 60


INVERSION = '''
import threading, unittest

A = threading.Lock()
B = threading.Lock()

class Inverts(unittest.TestCase):
    def test_a_then_b(self):
        with A:
            with B:
                pass

    def test_b_then_a(self):
        with B:
            with A:
                pass
'''


@pytest.mark.skipif(sys.prefix == sys.base_prefix, reason="run.py needs a virtual environment")
def test_diagnostics_reports_fail_the_run(tmp_path):
    (tmp_path / "lt_inverts.py").write_text(textwrap.dedent(INVERSION))
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    res = subprocess.run([sys.executable, RUN, "-m", "lt_inverts", "--per-test", "30"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr  # no diagnostics: both pass
    res = subprocess.run([sys.executable, RUN, "--diagnostics", "-m", "lt_inverts",
                          "--per-test", "30"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "REPORT: lowthread: lock-order inversion:" in res.stdout
    assert "lt_inverts.py:5" in res.stdout  # where the lock taken second was made
