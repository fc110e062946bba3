"""The interpreter's own threading test suites, run with ``threading`` on lowthread.

    python tests/stdlib/stdlib_suites/run.py                 lowthread (what tox runs)
    python tests/stdlib/stdlib_suites/run.py --native        the same runner, threading native
    python tests/stdlib/stdlib_suites/run.py -m test_queue   one module (repeatable)
    python tests/stdlib/stdlib_suites/run.py --exceptions    print the exceptions table (Markdown)

It must run in a virtual environment where lowthread is installed (a tox
env): it puts a site hook (a .pth file) into that environment's
site-packages, which runs boot.py at the start of every Python process whose
environment has LOWTHREAD_STDLIB_BOOT set: the test modules' own
subprocesses (``script_helper`` runs them with -I, which keeps site-packages)
and multiprocessing's children use lowthread too.  Without that variable the
hook does nothing.

Each module runs in a process of its own (worker.py), with a limit per test
(faulthandler ends a process whose test outlives it, printing every thread's
stack) and one per module (the process is killed).  After a hang or a crash
the module starts again without the tests already done, so one hang costs
one test, not the rest of the module.

A test that fails, errors, hangs or crashes fails the run unless
expected.py lists it (with its reason); a listed xfail that passes fails
it too, so that the list stays true.  Before that verdict, each such test
runs once more on its own (--no-rerun: not): one that passes then is
printed as FLAKY, with its first outcome, and does not fail the run.
"""

import argparse
import glob
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import expected  # noqa: E402  (this folder)

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = ("pypy" if sys.implementation.name == "pypy"
        else "%d.%d" % sys.version_info[:2])
PTH_NAME = "lt_stdlib.pth"
# One line, as .pth lines are; the file is closed at once (left to the
# collector, PyPy reported it as a ResourceWarning in whichever test then ran:
# test_logging's test_config15_ok, which checks for none).
PTH_TEXT = ('import os; p = os.environ.get("LOWTHREAD_STDLIB_BOOT"); '
            'p and exec("with open(p) as f:\\n    exec(compile(f.read(), p, \'exec\'))")\n')
BAD = ("fail", "error", "hang", "crash", "xpass", "not run")


def install_site_hook():
    if sys.prefix == sys.base_prefix:
        sys.exit("run.py: run me in a virtual environment where lowthread is "
                 "installed (tox -e py311 runs me): I add a .pth file to its site-packages")
    path = os.path.join(sysconfig.get_paths()["purelib"], PTH_NAME)
    try:
        with open(path) as f:
            if f.read() == PTH_TEXT:
                return
    except FileNotFoundError:
        pass
    with open(path, "w") as f:
        f.write(PTH_TEXT)


def module_exists(name):
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False


def read_records(path):
    planned, started, results = [], None, {}
    with open(path) as f:
        for line in f:
            try:
                rec = json.loads(line)
            except ValueError:  # a line cut short by the kill
                continue
            if "planned" in rec:
                planned = rec["planned"]
            elif "start" in rec:
                started = rec["start"]
            else:
                results[rec["id"]] = rec
                if rec["id"] == started:
                    started = None
    return planned, started, results


def run_module(module, native, args, workdir):
    """{test id: record} for one module, the module run again after each hang/crash."""
    skip = expected.skipped(HOST, native)
    done = {}
    planned = []
    env = dict(os.environ)
    env.pop("LOWTHREAD_STDLIB_BOOT", None)
    env.pop("LOWTHREAD_STDLIB_REPORTS", None)
    if not native:
        env["LOWTHREAD_STDLIB_BOOT"] = os.path.join(HERE, "boot.py")
        if args.diagnostics:
            env["LOWTHREAD_STDLIB_REPORTS"] = os.path.join(workdir, f"{module}.reports")
    deadline = time.monotonic() + args.per_module
    t0 = time.monotonic()
    for attempt in range(1, 1000):
        base = os.path.join(workdir, f"{module}.{attempt}")
        with open(base + ".skip", "w") as f:
            f.write("".join(p + "\n" for p in list(skip) + list(done)))
        cmd = [sys.executable, os.path.join(HERE, "worker.py"), "--results", base + ".jsonl",
               "--skip", base + ".skip", "--per-test", str(args.per_test),
               "--expect", "native" if native else "lowthread", module]
        cmd[2:2] = [f"--only=*{k}*" for k in args.keyword]
        with open(base + ".log", "w") as log:
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                rc = "module timeout"
        # Whatever the worker left behind in its session (a test's children).
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        open(base + ".jsonl", "a").close()
        got_planned, started, results = read_records(base + ".jsonl")
        planned = planned or got_planned
        done.update(results)
        with open(base + ".log", errors="replace") as f:
            log_tail = f.read()[-6000:]
        if started is not None:
            kind = "hang" if "Timeout (" in log_tail or rc == "module timeout" else "crash"
            done[started] = {"id": started, "outcome": kind, "seconds": None,
                             "detail": f"exit status {rc}\n{log_tail}"}
        selected = [t for t in planned if not any(fnmatchcase(t, p) for p in skip)
                    and (not args.keyword or any(k in t for k in args.keyword))]
        missing = [t for t in selected if t not in done]
        if rc == 0 and not missing and planned:
            break
        if rc == "module timeout" or time.monotonic() >= deadline:
            for t in missing:
                done[t] = {"id": t, "outcome": "not run", "seconds": None,
                           "detail": "the module ran out of its time limit"}
            break
        if started is None:
            # Died outside any test: at import, in a fixture, at exit.
            name = f"{module} (worker exit {rc})"
            done[name] = {"id": name, "outcome": "crash" if planned else "error",
                          "seconds": None, "detail": log_tail}
            for t in missing:
                done[t] = {"id": t, "outcome": "not run", "seconds": None,
                           "detail": "the worker died outside a test"}
            break
    return {"module": module, "planned": planned, "results": done,
            "seconds": round(time.monotonic() - t0, 1), "attempts": attempt}


def judge(module_report, native):
    """(counts, listed, problems): counts by outcome; listed, how many of the
    tests that did not pass are exceptions of expected.py; problems are
    (test id, outcome, text)."""
    counts, listed, problems = {}, 0, []
    for tid, rec in sorted(module_report["results"].items()):
        out = rec["outcome"]
        counts[out] = counts.get(out, 0) + 1
        exc = None if native else expected.lookup(HOST, tid)
        if exc is not None and out in BAD:
            listed += 1
        if exc is not None and exc.action == "flaky":
            continue
        if exc is not None and exc.action == "xfail":
            if out not in BAD or out == "xpass":
                problems.append((tid, "XPASS", f"listed as xfail ({exc.reason}) but it {out}ed"))
            continue
        if out in BAD:
            problems.append((tid, out.upper(), rec.get("detail") or ""))
    return counts, listed, problems


def rerun(module_report, problems, args, workdir):
    """(problems left, [(test id, first outcome)] of those that passed the second time).

    Each test that failed, hung or crashed unexpectedly runs once more, on
    its own in a fresh worker, as CPython's regrtest --rerun does: a test
    that then passes is reported as flaky and does not fail the run; one
    that fails again stays a problem, with its first failure's details.
    An XPASS is a pass, and is not run again.
    """
    again = [p for p in problems if p[1] != "XPASS"]
    if not again:
        return problems, []
    rerun_dir = os.path.join(workdir, "rerun")
    os.makedirs(rerun_dir, exist_ok=True)
    one_by_one = argparse.Namespace(**vars(args))
    one_by_one.keyword = [tid for tid, _, _ in again]
    results = run_module(module_report["module"], args.native, one_by_one,
                         rerun_dir)["results"]
    left, passed = [], []
    for tid, kind, text in problems:
        if kind != "XPASS" and results.get(tid, {}).get("outcome") == "pass":
            passed.append((tid, kind))
        else:
            left.append((tid, kind, text))
    return left, passed


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--native", action="store_true", help="threading native (the baseline)")
    p.add_argument("-m", "--module", action="append",
                   help="only this module (test_queue is test.test_queue); repeatable")
    p.add_argument("-k", "--keyword", action="append", default=[],
                   help="only the tests whose id contains this; repeatable")
    # The slowest test natively takes about 8 s here (HandlerTest.test_race).
    p.add_argument("--per-test", type=float, default=60.0,
                   help="seconds a test may take (default 60)")
    p.add_argument("--per-module", type=float, default=900.0,
                   help="seconds a module may take, reruns after hangs included (default 900)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="modules run at once (default 1)")
    p.add_argument("--json", metavar="FILE", help="write every test's record to FILE")
    p.add_argument("--no-rerun", dest="rerun", action="store_false",
                   help="do not run a failing test a second time (by default one that "
                        "passes then is reported as flaky and does not fail the run)")
    p.add_argument("--diagnostics", action="store_true",
                   help="with deadlock detection and lock-order checking on in every "
                        "process; any report they make fails the run")
    p.add_argument("--none", action="store_true",
                   help="run nothing, say so and succeed (LOWTHREAD_STDLIB=--none in tox)")
    p.add_argument("--exceptions", action="store_true",
                   help="print the exceptions table as Markdown and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="print each problem's details")
    args = p.parse_args()

    if args.exceptions:
        print(expected.markdown())
        return 0
    if args.none:
        print("stdlib suites: not run (--none)")
        return 0
    install_site_hook()
    # Started as a background job, with SIGINT ignored: the suites' own
    # processes need Python's KeyboardInterrupt handler, which they install
    # only if SIGINT is not ignored when they start (as conftest.py does).
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    modules = [f"test.{m}" if m.startswith("test_") else m
               for m in (args.module or expected.MODULES)]
    present = [m for m in modules if module_exists(m)]
    absent = [m for m in modules if m not in present]
    mode = "native" if args.native else "lowthread"
    print(f"stdlib suites on {HOST} ({sys.executable}), threading {mode}", flush=True)
    for m in absent:
        print(f"  ABSENT  {m}: not in this interpreter's stdlib", flush=True)
    workdir = tempfile.mkdtemp(prefix="lt_stdlib_runs_")
    # Of the default list a module may be missing (pyenv's 3.11 and 3.12 here
    # lack test_concurrent_futures); one asked for by name may not.
    failed = bool(absent and args.module)
    reports = []
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = [pool.submit(run_module, m, args.native, args, workdir) for m in present]
        for fut in futures:
            rep = fut.result()
            reports.append(rep)
            counts, listed, problems = judge(rep, args.native)
            passed_on_rerun = []
            if problems and args.rerun:
                problems, passed_on_rerun = rerun(rep, problems, args, workdir)
            summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
            if listed:
                summary += f"; {listed} not passing as expected.py lists"
            if args.diagnostics and problems:
                # Judged are the reports; the tests' outcomes are the plain run's.
                for tid, kind, _ in problems:
                    print(f"        (outcome with diagnostics on) {kind}: {tid}", flush=True)
                problems = []
            status = "FAIL" if problems else "ok"
            print(f"  {status:4}  {rep['module']}: {len(set(rep['planned']))} tests, ran "
                  f"{len(rep['results'])}: {summary}; {rep['seconds']} s"
                  + (f", {rep['attempts']} starts" if rep["attempts"] > 1 else ""), flush=True)
            for path in sorted(glob.glob(os.path.join(workdir, "**", rep["module"] + ".reports"),
                                         recursive=True)):
                with open(path, errors="replace") as f:
                    heads = [line.rstrip() for line in f if line.startswith(
                        ("lowthread: deadlock:", "lowthread: lock-order inversion:"))]
                for head in heads:
                    known = expected.known_report(HOST, head)
                    failed = failed or known is None
                    print(f"        {'known' if known else 'REPORT'}: {head[:300]}", flush=True)
            for tid, kind in passed_on_rerun:
                print(f"        FLAKY: {tid}: {kind.lower()}ed, then passed when run again",
                      flush=True)
            for tid, kind, text in problems:
                failed = True
                lines = text.strip().splitlines() or [""]
                print(f"        {kind}: {tid}: {lines[-1][:200]}", flush=True)
                if args.verbose and len(lines) > 1:
                    print("          " + "\n          ".join(lines), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"host": HOST, "mode": mode, "absent": absent, "modules": reports}, f,
                      indent=1)
    print(f"stdlib suites on {HOST}, threading {mode}: {'FAILED' if failed else 'passed'}"
          f" (logs in {workdir})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
