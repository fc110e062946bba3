"""Which stdlib tests run.py runs, and each exception to "passes as natively", with its reason.

An exception is (hosts, pattern, action, reason): pattern is an fnmatch
pattern over unittest ids (test.test_threading.ThreadTests.test_foo), hosts
a set of "3.9" ... "3.13", "pypy" (ALL: every one).  Actions:

  trim      not run, natively or on lowthread: the CI time budget
  native    not run: it fails natively too, on this runner
  deselect  not run on lowthread (it would hang, crash, or cannot apply)
  xfail     runs on lowthread and must fail (a pass fails the run)
  flaky     runs on lowthread; its outcome is not judged
"""

from collections import namedtuple
from fnmatch import fnmatchcase

MODULES = [
    "test.test_thread",
    "test.test_threading",
    "test.test_threading_local",
    "test.test_threadsignals",
    "test.test_queue",
    "test.test_concurrent_futures",
    "test.test_logging",
]

CPY = frozenset({"3.9", "3.10", "3.11", "3.12", "3.13"})
ALL = CPY | {"pypy"}

Exception_ = namedtuple("Exception_", "hosts pattern action reason")
E = Exception_

CF = "test.test_concurrent_futures"
EXCEPTIONS = [
    # The issue asks for the thread-pool parts and the process pools' fork
    # paths; the spawn and forkserver paths start fresh interpreters whose
    # pools' threads are the same code as fork's.
    E(ALL, CF + ".*Spawn*", "trim", "process pools' spawn path (CI budget; fork path runs)"),
    E(ALL, CF + ".*Forkserver*", "trim",
      "process pools' forkserver path (CI budget; fork path runs)"),
    # Failing natively too, on this runner and machine.
    E(frozenset({"pypy"}), CF + ".ProcessPoolForkProcessPoolExecutorTest.test_ressources_gced_in_workers",
      "native", "fails natively on PyPy too: the worker's objects are not collected when the "
      "test looks (PyPy's GC is not reference counting)"),
    E(frozenset({"pypy"}), CF + ".ProcessPoolForkProcessPoolShutdownTest.test_del_shutdown",
      "native", "hangs natively on PyPy too (3/60 runs alone, on lowthread 1/60; the same "
      "stacks): PyPy runs the executor's weakref callback in whichever thread next reaches a "
      "safe point, here the manager thread inside `with shutdown_lock:`, and the callback "
      "takes shutdown_lock, which is not reentrant. CPython gh-105829 (3.11.7, 3.12) moved "
      "that clear() out of the lock; PyPy's 3.9 stdlib predates it (docs/testing.md §T9)"),
    # Differences lowthread keeps by design.
    E(frozenset({"3.13", "pypy"}), "test.test_thread.ThreadRunningTests.test_unraisable_exception",
      "xfail", "an exception that ends a thread is reported with object=the thread's function "
      "and err_msg 'Exception ignored in thread started by' on every interpreter "
      "(docs/behaviour.md §5.3); 3.13 wants object=None, PyPy its own wording"),
    E(ALL, "test.test_threading.MiscTestCase.test__all__",
      "xfail", "threading.__all__ is checked against the names whose __module__ is threading "
      "or _thread: get_ident, get_native_id, Lock, local, stack_size are lowthread's objects "
      "and say so"),
    E(frozenset({"3.10", "3.11", "3.12"}), "test.test_threading.ThreadTests.test_disallow_instantiation",
      "xfail", "the lock type can be instantiated: lowthread has CPython 3.13's behaviour "
      "everywhere, where type(Lock()) is Lock itself"),
    E(frozenset({"3.12"}), "test.test_threading.ThreadTests.test_start_new_thread_at_exit",
      "xfail", "3.12.1 refuses thread starts inside atexit callbacks (CPython gh-113964, fixed "
      "in 3.12.3); lowthread allows them, as 3.13 does (docs/behaviour.md §5.6)"),
    # Timing on PyPy.  There every call into lowthread's C core lets go of
    # the GIL (every cffi call does; docs/behaviour.md §17.1, §19.7), and a
    # thread waiting for it takes it at once, so a lock release or an
    # Event.set() lets the thread it wakes run where natively the releasing
    # thread would run on.  These tests depend on the native order.  On
    # CPython the lock calls keep the GIL as native ones do (issue 20): the
    # same tests, 30 runs alone each way on 2026-12-07, failed 0/30 on
    # lowthread and natively on every CPython where they had failed (3.9,
    # 3.10, 3.13; 3.9, 3.10; 3.12 for join_in_forked below, was 29/30).
    E(frozenset({"pypy"}), CF + "*.ThreadPoolExecutorTest.test_idle_thread_reuse",
      "flaky", "timing (docs/behaviour.md §19.7): the caller's next submit() can run before the worker that "
      "just set the result has marked itself idle, so a second worker starts (2 != 1). "
      "Failed 4/30 on PyPy alone (2026-12-07), natively 0/30; on CPython 0/30 both ways "
      "since the lock calls keep the GIL (was 4/30 on 3.9, 4/30 on 3.10, 6/30 on 3.13)"),
    E(frozenset({"pypy"}), CF + "*.ThreadPoolShutdownTest.test_cancel_futures_wait_false",
      "flaky", "timing (docs/behaviour.md §19.7): shutdown(cancel_futures=True) can run before "
      "the new worker has taken the task, which is then cancelled and prints nothing "
      "(b'' != b'apple'). Failed 13/30 on PyPy alone (2026-12-07), natively 0/30; on "
      "CPython 0/30 both ways since the lock calls keep the GIL (was 20/30 on 3.9 and 3.10)"),
    E(frozenset({"3.13"}), CF + ".test_deadlock.*.test_shutdown_deadlock_pickle", "flaky",
      "CPython's own lock-order deadlock (gh-125451, fixed in 3.12.8 and 3.13.1, newer than "
      "the 3.13.0 here): the pool's manager thread holds shutdown_lock while it joins the "
      "queue's feeder thread, which waits for shutdown_lock. Hung 6/100 on 3.13.0, natively "
      "4/100 (the same stacks); 0/100 both ways on 3.10 and PyPy"),
]

# run.py --diagnostics: the reports of deadlock detection and lock-order
# checking that are true, each (hosts, fnmatch pattern over the report's
# first line, reason).  Any other report fails that run.
KNOWN_REPORTS = [
    (ALL, "lowthread: deadlock: * -> 'QueueFeederThread' * -> *",
     "CPython's own deadlock gh-125451 (see test_shutdown_deadlock_pickle above): the "
     "process pool's manager thread holds shutdown_lock and joins the feeder thread, which "
     "waits for shutdown_lock; the detector ends it with DeadlockError in one of them"),
    (ALL, "lowthread: lock-order inversion: * made at */logging/__init__.py:* while it holds "
     "a lock made at */logging/__init__.py:*",
     "CPython's own lock-order inversion gh-96727: Handler.close() holds the handler's lock "
     "and takes logging's module lock, while dictConfig() holds the module lock and takes "
     "each handler's (logging.shutdown()); threads doing both can deadlock"),
]


def known_report(host, head):
    """The reason a report (its first line) is true, or None."""
    for hosts, pattern, reason in KNOWN_REPORTS:
        if host in hosts and fnmatchcase(head, pattern):
            return reason
    return None


_ACTIONS = ("trim", "native", "deselect", "xfail", "flaky")


def _applies(exc, host, native):
    return host in exc.hosts and (not native or exc.action in ("trim", "native"))


def skipped(host, native):
    """The patterns of the tests not to run on host."""
    return [e.pattern for e in EXCEPTIONS
            if _applies(e, host, native) and e.action in ("trim", "native", "deselect")]


def lookup(host, test_id):
    """The first exception that names test_id on host, or None."""
    for e in EXCEPTIONS:
        if host in e.hosts and fnmatchcase(test_id, e.pattern):
            return e
    return None


def markdown():
    order = ["3.9", "3.10", "3.11", "3.12", "3.13", "pypy"]
    lines = ["| interpreters | tests | action | reason |", "|---|---|---|---|"]
    for e in EXCEPTIONS:
        hosts = "all" if e.hosts == ALL else ("CPython" if e.hosts == CPY else
                                               ", ".join(h for h in order if h in e.hosts))
        lines.append(f"| {hosts} | `{e.pattern}` | {e.action} | {e.reason} |")
    return "\n".join(lines)


assert all(e.action in _ACTIONS for e in EXCEPTIONS)
