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
    # Timing.  Every call into lowthread's C core lets go of the GIL (cffi does
    # so for every call), so a lock release or an Event.set() lets the thread
    # it wakes run at once, where natively the releasing thread would run on
    # until it blocks or its switch interval ends.  These tests depend on the
    # native order.
    E(ALL, CF + "*.test_idle_thread_reuse", "flaky",
      "timing: the caller's next submit() can run before the worker that just set the "
      "result has marked itself idle, so a second worker starts (seen on 3.9, PyPy)"),
    E(ALL, CF + "*.test_cancel_futures_wait_false", "flaky",
      "timing: shutdown(cancel_futures=True) can run before the new worker has taken the "
      "task, which is then cancelled and prints nothing (seen on 3.9, 2 runs in 3)"),
    E(ALL, CF + "*.test_idle_process_reuse_one", "flaky",
      "timing, as test_idle_thread_reuse: the pool's management thread sees the worker "
      "process busy and starts a second one"),
    E(frozenset({"3.12"}), "test.test_threading.ThreadJoinOnShutdown.test_3_join_in_forked_from_thread",
      "flaky", "timing over 3.12.1's own bug (gh-113964): once the main thread has reached the "
      "program's end, 3.12.1 refuses os.fork() even while non-daemon threads run (natively too); "
      "natively the new worker forks before the main thread gets there, on lowthread the main "
      "thread runs on as soon as the worker says it has started"),
    E(ALL, CF + ".test_deadlock.*.test_shutdown_deadlock_pickle", "flaky",
      "CPython's own lock-order deadlock (gh-125451, fixed in 3.12.8 and 3.13.1, newer than "
      "the interpreters here): the pool's manager thread holds shutdown_lock while it joins "
      "the queue's feeder thread, which waits for shutdown_lock. The feeder pops the work "
      "item and then takes the lock; lowthread's acquire lets go of the GIL before it tries "
      "the lock, which lets the manager run in between. Hung 2 runs in 60 on 3.13 here, "
      "natively 0 in 60"),
    E(frozenset({"3.13"}), "test.test_threading.ThreadTests.test_main_thread_after_fork_from_dummy_thread",
      "flaky", "CPython's own shutdown bug (gh-130522, fixed in 3.13.3, newer than the 3.13.0 "
      "here): when a local() is torn down at exit while a thread that has a _DummyThread is "
      "still ending, _DeleteDummyThreadOnDel.__del__ runs after threading's globals became "
      "None and prints an unraisable TypeError. The thread releases the main thread's lock "
      "just before it ends; lowthread's release lets go of the GIL, so the main thread "
      "reaches its exit first. Printed that error 26 runs in 300 of the test's script on 3.13 "
      "here, natively 0 in 200"),
    E(ALL, "test.test_threading.InterruptMainTests.test_interrupt_main_*thread",
      "flaky", "interrupt_main() now reaches the main thread's waits: in "
      "test_interrupt_main_subthread the KeyboardInterrupt can land in Thread.start()'s "
      "Event.wait(), as its Condition takes its lock back; the acquire then gives the lock "
      "back (an interrupted acquire takes nothing) and Condition.wait's `with` releases an "
      "unlocked lock (RuntimeError), as natively when a real signal lands in that wait "
      "(seen once on 3.9, 2026-12-01). Also not understood: on 3.11 both once failed with "
      "KeyboardInterrupt not raised, in one of four runs of the module"),
    # lowthread bugs, open.
    E(ALL, "test.test_threading.ThreadingExceptionTests.test_print_exception_gh_102056",
      "deselect", "hung once in a CI-style run on 3.13 (dev mode) and in 2 of 16 runs of its "
      "script here, 0 of 10 before interrupt_main() reached the main thread's waits: the "
      "KeyboardInterrupt lands in a main thread at its recursion limit; under investigation, "
      "not run until understood"),
    E(frozenset({"pypy"}), CF + ".ProcessPoolForkProcessPoolShutdownTest.test_del_shutdown",
      "deselect", "hung once on PyPy in a full CI-style run (2026-12-01; passed in the runs "
      "before): under investigation, not run there until understood"),
    E(frozenset({"3.13"}), "test.test_threading.ThreadTests.test_dummy_thread_after_fork",
      "xfail", "a thread-local value of a daemon thread still running at exit (3.13's "
      "_DeleteDummyThreadOnDel) dies when threading's globals are already None; natively the "
      "interpreter clears the other threads' states, and so their locals, before it tears the "
      "modules down"),
    # The run: every process of it calls lowthread.install() at startup.
    E(ALL, "test.test_threading.ThreadTests.test_import_from_another_thread", "xfail",
      "it asserts that a fresh `python -c` has not imported threading; in this run every "
      "process puts threading on lowthread at startup, which imports it"),
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
