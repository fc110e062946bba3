"""Reliability under stress (docs/testing.md §T4): lost wakeups, signals at random points, thread ends.

1. No lost wakeup: waiters (timed and untimed) and releasers race on a lock
   used as a binary semaphore, on an RLock and on a Condition over the RLock,
   with exact token accounting (tests/core/_stress_wakeups.py says how); in this
   process, in a process pinned to one CPU, and under background load.
2. Signals: an exception from a signal handler (SIGALRM from setitimer,
   SIGINT from os.kill, interrupt_main) strikes at random points of `with
   lock:`, `with rlock:`, RLock._release_save/_acquire_restore and
   threading.Condition(RLock()).wait; afterwards the lock must be in a
   consistent state (see _stress_signals.signal_fuzz).  The same rounds on the
   interpreter's own _thread show that the invariant is one the interpreter
   can keep.
3. A threading.local value set in a lowthread thread dies with the thread, as
   with the interpreter's own _thread.

Budgets: a few seconds per test in CI (the file takes about half a minute on
CPython).  LOWTHREAD_SOAK=1 multiplies them into minutes (LOWTHREAD_SOAK=F
scales the soak budgets by F); LOWTHREAD_STRESS_SEED fixes the random seed.
Every wait is bounded and every subprocess has a timeout.
"""

import json
import os
import random
import shutil
import signal
import sys

import _stress_work as work
import pytest
from conftest import HOST, IS_LINUX, IS_POSIX, IS_PYPY, LT_NAME, ORACLE, popen_py, run_py

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def _soak_factor():
    raw = os.environ.get("LOWTHREAD_SOAK", "")
    try:
        return max(float(raw), 0.0) if raw else 0.0
    except ValueError:
        return 1.0


SOAK = _soak_factor()
SEED = int(os.environ.get("LOWTHREAD_STRESS_SEED", "0")) or random.randrange(1, 10 ** 6)
if SOAK:
    # tox -e soak runs the suite with pytest-repeat's --count 3; these tests
    # already work for minutes each, once is enough.
    pytestmark = pytest.mark.repeat(1)


def budget(ci, soak):
    """Seconds to spend: ci in CI, soak (times LOWTHREAD_SOAK) in a soak run."""
    return soak * SOAK if SOAK else ci


def time_limit(seconds):
    """A pytest-timeout limit for a test that works for `seconds`."""
    return pytest.mark.timeout(int(120 + 3 * seconds))


def subprocess_code(*argv):
    """Source for run_py: run _stress_work.main(argv) from this folder."""
    return ("import sys\nsys.path.insert(0, %r)\nimport _stress_work\n_stress_work.main(%r)\n"
            % (TESTS_DIR, [str(a) for a in argv]))


def results_of(proc):
    assert proc.rc == 0, proc
    return [json.loads(line) for line in proc.out.splitlines() if line.startswith("{")]


def report(result):
    return "seed %d, %s: %s" % (SEED, HOST, json.dumps(result, sort_keys=True))


# ---------------------------------------------------------------------------
# 1. No lost wakeup


def handoff_problems(r):
    """What is wrong with a lock_handoff result (empty list if nothing)."""
    problems = []
    if r["errors"] or r["bad"]:
        problems.append("worker errors: %s %s" % (r["bad"], r["errors"]))
    if r["stuck"]:
        problems.append("lost wakeup: untimed waiters still blocked after the grace period: %s"
                        % (r["stuck"],))
    if r["balance"] != r["expected_balance"]:
        problems.append(
            "token accounting: %d successful releases, %d successful acquires, lock %s at the "
            "end: %+d token(s) unaccounted for (a grant reported as a timeout, a lost post, or "
            "a double grant)" % (r["releases"], r["acquires"],
                                 "locked" if r["locked_at_end"] else "unlocked",
                                 r["balance"] - r["expected_balance"]))
    if not r["probe_ok"]:
        problems.append("the lock's final state does not behave as locked() says")
    if r["n_early"]:
        problems.append("%d timed acquires returned False before their timeout: %s"
                        % (r["n_early"], r["early"]))
    if r["releases"] < 20:
        problems.append("too little happened to mean anything (%d releases)" % r["releases"])
    return problems


def rlock_problems(r):
    problems = []
    if r["errors"]:
        problems.append("worker errors: %s" % (r["errors"],))
    if r["n_violations"]:
        problems.append("%d exclusion/ownership violations: %s"
                        % (r["n_violations"], r["violations"]))
    if r["stuck"]:
        problems.append("threads still blocked after the grace period: %s" % (r["stuck"],))
    if not r["free_at_end"]:
        problems.append("the RLock cannot be taken at the end")
    if r["n_early"]:
        problems.append("%d timed acquires returned False early: %s" % (r["n_early"], r["early"]))
    if r["acquisitions"] < 20:
        problems.append("too little happened (%d acquisitions)" % r["acquisitions"])
    return problems


def condition_problems(r):
    problems = []
    if r["errors"]:
        problems.append("worker errors: %s" % (r["errors"],))
    if r["stuck"]:
        problems.append("threads still waiting after the final notify_all: %s" % (r["stuck"],))
    if r["duplicates"] or r["lost"] or r["invented"]:
        problems.append("tokens: %d produced, %d consumed, %d twice, %s lost, %d invented"
                        % (r["produced"], r["consumed"], r["duplicates"], r["lost"],
                           r["invented"]))
    if not r["free_at_end"]:
        problems.append("the RLock cannot be taken at the end")
    if r["consumed"] < 20:
        problems.append("too little happened (%d tokens)" % r["consumed"])
    return problems


CHECKERS = {"lock_handoff": handoff_problems, "rlock_exclusion": rlock_problems,
            "condition_tokens": condition_problems}

HANDOFF_S = budget(2.0, 60)
RLOCK_S = budget(1.0, 30)
COND_S = budget(1.0, 30)


@time_limit(HANDOFF_S)
def test_lock_handoff_no_lost_wakeup(lt, no_lt_thread_leak):
    """Every successful release is taken by exactly one acquire; every untimed waiter returns."""
    r = work.lock_handoff(lt, HANDOFF_S, seed=SEED)
    assert not handoff_problems(r), "\n".join(handoff_problems(r) + [report(r)])


@time_limit(RLOCK_S)
def test_rlock_exclusion_and_liveness(lt, no_lt_thread_leak):
    """Owners are alone, recursion works, non-owners cannot release, nobody is left waiting."""
    r = work.rlock_exclusion(lt, RLOCK_S, seed=SEED)
    assert not rlock_problems(r), "\n".join(rlock_problems(r) + [report(r)])


@time_limit(COND_S)
def test_condition_over_rlock_hands_over_every_token(lt, no_lt_thread_leak):
    """threading.Condition(RLock()): _release_save/_acquire_restore under contention lose nothing."""
    r = work.condition_tokens(lt, COND_S, seed=SEED)
    assert not condition_problems(r), "\n".join(condition_problems(r) + [report(r)])


@pytest.mark.parametrize("kind,checker", [
    ("hidden-grant", handoff_problems),    # a timed acquire takes the token, says False
    ("phantom-grant", handoff_problems),   # a try-acquire says True, takes nothing
])
def test_handoff_accounting_catches_broken_locks(kind, checker):
    """The token accounting fails a lock that loses or invents a token (a check of the check)."""
    r = work.lock_handoff(work.broken_module(kind), 0.5, seed=SEED)
    problems = checker(r)
    assert any("token accounting" in p for p in problems), report(r)


SUBPROCESS_S = budget(0.8, 20)


def run_workloads(prefix=(), cpus=None):
    proc = run_py(subprocess_code("workloads", LT_NAME, SUBPROCESS_S, SEED),
                  prelude=False, prefix=prefix, timeout=60 + 6 * SUBPROCESS_S)
    results = results_of(proc)
    affinity = results.pop(0)["cpus"]
    if cpus is not None and affinity is not None:
        assert affinity == cpus, "the workloads ran on CPUs %s, not %s" % (affinity, cpus)
    assert [r["workload"] for r in results] == list(work.WORKLOADS), proc
    problems = []
    for r in results:
        problems += ["%s: %s" % (r["workload"], p) for p in CHECKERS[r["workload"]](r)]
    assert not problems, "\n".join(problems + [report(r) for r in results])
    return results


@time_limit(3 * SUBPROCESS_S)
@pytest.mark.skipif(not IS_LINUX or not shutil.which("taskset"), reason="taskset (util-linux)")
def test_stress_pinned_to_one_cpu():
    """The three workloads in a process that may only run on CPU 0."""
    run_workloads(prefix=("taskset", "-c", "0"), cpus=[0])


@time_limit(3 * SUBPROCESS_S)
@pytest.mark.skipif(not IS_POSIX, reason="POSIX process handling")
def test_stress_under_background_load():
    """The three workloads while busy processes keep every CPU occupied."""
    hogs = [popen_py("while True:\n    pass\n", prelude=False)
            for _ in range(max(os.cpu_count() or 2, 2))]
    try:
        run_workloads()
    finally:
        for p in hogs:
            p.kill()
        for p in hogs:
            p.communicate(timeout=30)


JOINABLE_S = budget(0.5, 30)


@time_limit(JOINABLE_S)
def test_new_thread_sees_its_own_handle(lt, no_lt_thread_leak):
    """A joinable thread that looks at its handle at once finds it started, with its ident.

    CPython 3.13 sets the handle up before the thread runs.  Found here:
    lowthread assigned the handle's C thread and ident only after the start
    call returned, so a thread that ran first got "thread not started" from
    handle.join() and ident 0 (measured: 0.5-2% of starts on 3.11, up to
    0.2% on 3.13 and PyPy).
    """
    if not hasattr(lt, "start_joinable_thread"):
        pytest.skip("no start_joinable_thread in this _thread")
    wrong = []
    starts = 0
    deadline = work.now() + JOINABLE_S
    while work.now() < deadline or starts < 200:
        seen = []
        handle = lt._ThreadHandle()

        def body(seen=seen, handle=handle):
            try:
                handle.join(0)
                seen.append("join returned")
            except RuntimeError as exc:
                seen.append(str(exc))
            seen.append(handle.ident == lt.get_ident())

        lt.start_joinable_thread(body, handle=handle)
        handle.join(10.0)
        starts += 1
        if seen != ["Cannot join current thread", True]:
            wrong.append(seen)
    assert not wrong, "%d of %d threads saw their handle unready: %s" % (
        len(wrong), starts, wrong[:5])


# ---------------------------------------------------------------------------
# 2. Signals at random points

# Hosts whose interpreter itself can skip a with statement's __exit__ when a
# handler raises at the end of the body: bpo-29988 on CPython 3.9; PyPy 7.3.
# Measured with their own _thread (0.5 s per case, setitimer / os.kill /
# interrupt_main): 3.9 left the lock held after `with` in 3.5-58% of rounds,
# PyPy 7.3.11 in 0-11%; CPython 3.10-3.13 in none.  There, being left held after the body
# (phases below) is the interpreter's doing and is tolerated; being left held
# by __enter__ and every inconsistent state still fail.
# lowthread adds a window of its own, on every interpreter: its __exit__ is a
# Python function, and a function's entry is a place where the interpreter
# runs pending handlers, before the body can release anything (CPython's
# __exit__ is a C method).  No Python-level code can close that window; it is
# the README's known limitation, and tolerated here in the same phases.
# And where the interpreter runs handlers between almost any two bytecodes
# (CPython 3.9, before bpo-29988's fix; PyPy), one may also raise after lowthread's
# acquire has left its guarded block but before it returns: __enter__ then
# leaves the lock held (phase 1; seen in under 1% of interrupted rounds).
EXIT_SKIPPED = frozenset({"3.9", "pypy"})
LT_EXIT_WINDOW = not ORACLE
LT_ENTER_WINDOW = frozenset({"3.9", "pypy"}) if LT_EXIT_WINDOW else frozenset()
BODY_PHASES = {"lock-with": (2,), "rlock-with": (2,), "rlock-nested-with": (2, 3, 4)}
ENTER_PHASE = 1

FUZZ_S = budget(0.6, 10)
BASELINE_S = budget(0.25, 2.5)
MIN_HITS = 50


def tolerated(scenario, category):
    name, _, phase = category.partition("@phase")
    if not name.startswith("held-") or scenario not in BODY_PHASES:
        return False
    if int(phase) in BODY_PHASES[scenario]:
        return HOST in EXIT_SKIPPED or LT_EXIT_WINDOW
    return HOST in LT_ENTER_WINDOW and int(phase) == ENTER_PHASE


def fuzz_failures(result):
    return {c: n for c, n in result["failures"].items()
            if not tolerated(result["scenario"], c)}


@time_limit(FUZZ_S + BASELINE_S)
@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX signals")
@pytest.mark.parametrize("delivery", work.DELIVERIES)
@pytest.mark.parametrize("scenario", work.SCENARIOS)
def test_signal_leaves_lock_consistent(scenario, delivery):
    """A handler's exception at a random point never leaves the lock half-taken or held.

    lock-with, rlock-with, rlock-nested-with: after `with` is left by the
    exception, the lock is unlocked (not owned) and can be taken.
    rlock-save-restore: _release_save()/_acquire_restore() happen entirely or
    not at all.  condition-wait: the RLock under threading.Condition is owned
    once or not at all, and can be taken once released.  Failure categories
    read "<state>@phase<N>", N being where the loop was (see _stress_work):
    e.g. held-after-with@phase1 = the exception came out of __enter__ with the
    lock taken; free-but-unacquirable = nobody owns the RLock but its lock is
    held (the next acquire deadlocks).
    """
    proc = run_py(subprocess_code("fuzz", scenario, delivery, SEED,
                                  "%s=%s" % (LT_NAME, FUZZ_S), "_thread=%s" % BASELINE_S),
                  prelude=False, timeout=60 + 4 * (FUZZ_S + BASELINE_S))
    lt_result, native_result = results_of(proc)
    hits = lt_result["counts"].get("hit", 0) + lt_result["counts"].get("runtime-error", 0)
    failed = fuzz_failures(lt_result)
    assert not failed, (
        "%s: %d of %d interrupted rounds left the lock inconsistent: %s\n%s\n"
        "interpreter's own _thread, same rounds: %s"
        % (LT_NAME, sum(failed.values()), hits, failed, report(lt_result),
           report(native_result)))
    assert hits >= MIN_HITS, report(lt_result)
    # The invariant is one the interpreter's own lock keeps.
    assert not fuzz_failures(native_result), (
        "the check itself is wrong on this host: " + report(native_result))


@pytest.mark.skipif(IS_PYPY or sys.version_info < (3, 10),
                    reason="the Python-level window is wide enough to hit in 0.5 s on CPython 3.10+")
@time_limit(1.0)
def test_signal_fuzz_catches_python_level_enter():
    """A lock whose __enter__ is a Python function around a native acquire fails (check of the check)."""
    proc = run_py(subprocess_code("fuzz", "lock-with", "setitimer", SEED, "broken:python-level=0.5"),
                  prelude=False, timeout=60)
    (result,) = results_of(proc)
    assert result["failures"].get("held-after-with@phase1", 0) > 0, report(result)


# ---------------------------------------------------------------------------
# 3. threading.local dies with the thread

LOCAL_MODULES = ["lowthread", "native"]


@pytest.mark.parametrize("threads", [1, 8])
@pytest.mark.parametrize("which", LOCAL_MODULES)
def test_threading_local_freed_when_thread_ends(which, threads, request):
    """A value in threading.local, set in a thread, is freed within 1 s of the thread's end.

    Differential: the same with the interpreter's own _thread.start_new_thread.
    Measured without the fix (cffi 2.0): on CPython a lowthread thread's
    value lived on until another lowthread thread made its first call into
    Python (cffi keeps a finished foreign thread's PyThreadState on a zombie
    list until then); on PyPy 7.3.11 never, whatever came later.
    """
    if which == "lowthread" and IS_PYPY and not ORACLE:
        request.applymarker(pytest.mark.xfail(
            strict=True, reason="PyPy keeps the thread-local dicts of a thread that was "
            "entered through a cffi callback (measured on 7.3.11: 50 of 50 never freed)"))
    name = LT_NAME if which == "lowthread" else "_thread"
    proc = run_py(subprocess_code("local", name, threads), prelude=False, timeout=60)
    (r,) = results_of(proc)
    assert r.get("freed_after") is not None and r["freed_after"] < 1.0, (
        "%s: %d of %d thread-local values still alive 1 s after their threads ended: %s"
        % (name, r.get("alive"), threads, r))
