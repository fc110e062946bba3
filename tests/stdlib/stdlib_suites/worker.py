"""One stdlib test module in one process: run.py starts this, and starts it again after a hang.

    python worker.py --results FILE [--skip FILE] [--per-test SECONDS] MODULE

Writes one JSON object per line to FILE as it goes, so that what a killed
process had done survives it:

    {"planned": [id, ...]}                    the module's tests, once
    {"start": id}                             before each test
    {"id": id, "outcome": ..., "seconds": s, "detail": text}   after it

outcome is pass, fail, error, skip, xfail or xpass (an expected failure that
passed).  A test that outlives --per-test makes faulthandler print every
thread's stack to stderr and end the process (exit=True): run.py then sees a
"start" with no result after it, and goes on without that test.

Whether ``threading`` is on lowthread is decided before this file runs (by
the site hook run.py installs, in every process of the run); this file only
checks it and says which it is, so that a run can never silently be native.
"""

import argparse
import faulthandler
import json
import os
import sys
import tempfile
import time
import traceback
import unittest
from fnmatch import fnmatchcase


def threading_backend():
    """'lowthread' or 'native': whose lock threading.Lock() makes."""
    import threading

    module = type(threading.Lock()).__module__ or ""
    return "lowthread" if module.split(".")[0] == "lowthread" else "native"


def flatten(suite):
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            yield from flatten(test)
        else:
            yield test


class Recorder(unittest.TestResult):
    """Writes each test's outcome the moment it is known, and arms the per-test alarm."""

    def __init__(self, out, per_test):
        super().__init__()
        self._out = out
        self._per_test = per_test
        self._outcome = None
        self._detail = ""
        self._t0 = 0.0

    def _write(self, record):
        self._out.write(json.dumps(record) + "\n")
        self._out.flush()

    def startTest(self, test):
        super().startTest(test)
        self._outcome, self._detail = "pass", ""
        self._write({"start": test.id()})
        self._t0 = time.monotonic()
        faulthandler.dump_traceback_later(self._per_test, exit=True)

    def stopTest(self, test):
        faulthandler.cancel_dump_traceback_later()
        super().stopTest(test)
        self._write({"id": test.id(), "outcome": self._outcome,
                     "seconds": round(time.monotonic() - self._t0, 3),
                     "detail": self._detail})

    def _set(self, outcome, err=None, text=""):
        # The first failure of a test (or of one of its subtests) decides.
        if self._outcome in ("fail", "error"):
            return
        self._outcome = outcome
        if err is not None:
            text = "".join(traceback.format_exception(*err))
        self._detail = text[-4000:]

    def addError(self, test, err):
        super().addError(test, err)
        if isinstance(test, unittest.TestCase):
            self._set("error", err)
        else:  # a class or module fixture (_ErrorHolder): no startTest/stopTest
            self._write({"id": test.id(), "outcome": "error", "seconds": 0,
                         "detail": "".join(traceback.format_exception(*err))[-4000:]})

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set("fail", err)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            failed = issubclass(err[0], test.failureException)
            self._set("fail" if failed else "error", err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        if isinstance(test, unittest.TestCase):
            self._set("skip", text=reason)
        else:
            self._write({"id": test.id(), "outcome": "skip", "seconds": 0, "detail": reason})

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._set("xfail", err)

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set("xpass")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--skip", help="file of fnmatch patterns of test ids not to run, one a line")
    p.add_argument("--only", action="append", default=[],
                   help="run only the tests whose id matches one of these fnmatch patterns")
    p.add_argument("--per-test", type=float, default=120.0)
    p.add_argument("--expect", choices=("lowthread", "native"), required=True)
    p.add_argument("module")
    args = p.parse_args()

    backend = threading_backend()
    if backend != args.expect:
        sys.exit(f"worker: threading is {backend}, expected {args.expect}")

    from test import support

    support.verbose = 0
    skip = set()
    if args.skip:
        with open(args.skip) as f:
            skip = {line.strip() for line in f if line.strip()}

    # Tests write their scratch files (TESTFN) into the current directory.
    os.chdir(tempfile.mkdtemp(prefix="lt_stdlib_"))
    with open(args.results, "a") as out:
        suite = unittest.defaultTestLoader.loadTestsFromName(args.module)
        tests = list(flatten(suite))
        out.write(json.dumps({"planned": [t.id() for t in tests]}) + "\n")
        out.flush()
        result = Recorder(out, args.per_test)
        chosen = [t for t in tests if not any(fnmatchcase(t.id(), p) for p in skip)
                  and (not args.only or any(fnmatchcase(t.id(), p) for p in args.only))]
        unittest.TestSuite(chosen).run(result)
    # The module's non-daemon threads, atexit handlers and so on still run here.


if __name__ == "__main__":
    main()
