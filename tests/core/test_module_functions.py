"""The module's functions other than the starts: docs/behaviour.md §3, §7, §8 and §10.

get_ident and get_native_id (in the main thread, in threads, in fork
children), stack_size (values, errors, and the stacks threads really get),
exit, error, TIMEOUT_MAX and the public names.  Differential where the
host's _thread conforms; a ``decision-on:<hosts>`` parameter id marks hosts
whose own _thread differs from the Decision.
"""

import ctypes
import ctypes.util
import os
import threading

import pytest
from _core_support import (
    WAIT,
    _run_in_thread,
    _thread_facts,
    _threads_end_and_stack_size_reset,  # noqa: F401 - autouse: threads end, stack_size(0) after each test
)
from conftest import IS_LINUX, LT_NAME, NOBODY, ORACLE, PRE313, PYPY, Raises, Returns, host_differs, run_py

# ---------------------------------------------------------------------------
# get_ident / get_native_id (docs/behaviour.md §8)


def test_get_ident_main_thread(lt):
    assert type(lt.get_ident()) is int
    assert lt.get_ident() == threading.get_ident() == threading.main_thread().ident
    assert lt.get_ident() != 0


@pytest.mark.skipif(not hasattr(threading, "get_native_id"), reason="no native thread ids here")
def test_get_native_id_main_thread(lt):
    assert type(lt.get_native_id()) is int
    assert lt.get_native_id() == threading.get_native_id()
    assert lt.get_native_id() >= 0
    if IS_LINUX:
        assert lt.get_native_id() == os.getpid()


def test_idents_in_threading_thread(lt):
    facts = {}
    t = threading.Thread(target=lambda: facts.update(_thread_facts(lt)))
    t.start()
    t.join(WAIT)
    assert facts["lt_ident"] == facts["threading_ident"] == t.ident
    assert facts["lt_native_id"] == facts["threading_native_id"] == t.native_id


def test_idents_in_lowthread_thread(lt):
    ident, facts = _run_in_thread(lt, lambda: _thread_facts(lt))
    assert facts["lt_ident"] == facts["threading_ident"] == ident
    assert facts["lt_native_id"] == facts["threading_native_id"]
    assert facts["lt_native_id"] != os.getpid()


@pytest.mark.parametrize("name", ["get_ident", "get_native_id"])
def test_ident_functions_take_no_arguments(same, name):
    same(lambda m: getattr(m, name)(1), Raises(TypeError), NOBODY, type_only=True)


FORK_SCRIPT = """
import os, sys, threading, warnings
warnings.simplefilter("ignore", DeprecationWarning)

def facts():
    return (lt.get_ident(), threading.get_ident(), lt.get_native_id(),
            threading.get_native_id(), os.getpid())

def child_report(tag):
    i, ti, n, tn, pid = facts()
    ok = (i == ti, n == tn, n == pid)
    os.write(1, ("%s %s %s %s\\n" % (tag, *ok)).encode())

parent = facts()          # fills any per-thread cache before the fork
pid = os.fork()
if pid == 0:
    try:
        child_report("main-fork")
        done = threading.Event()
        def in_child_thread():
            i, ti, n, tn, p = facts()
            os.write(1, ("child-thread %s %s %s\\n" % (i == ti, n == tn, n != p)).encode())
            done.set()
        lt.start_new_thread(in_child_thread, ())
        done.wait(10)
    finally:
        os._exit(0)
os.waitpid(pid, 0)

# fork from a non-main thread (as test_thread.TestForkInThread)
finished = threading.Event()
def fork_in_thread():
    facts()
    pid = os.fork()
    if pid == 0:
        try:
            child_report("thread-fork")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    finished.set()
lt.start_new_thread(fork_in_thread, ())
finished.wait(10)
print("parent", parent[0] == parent[1], parent[2] == parent[3] == os.getpid())
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_idents_in_forked_child():
    proc = run_py(FORK_SCRIPT)
    assert proc.rc == 0, proc
    lines = sorted(proc.out.splitlines())
    assert lines == sorted([
        "main-fork True True True",
        "child-thread True True True",
        "thread-fork True True True",
        "parent True True",
    ]), proc


SIGNAL_THREAD_SCRIPT = """
import os, signal, warnings
warnings.simplefilter("ignore", DeprecationWarning)
from lowthread.core import _wait
before = signal.getsignal(signal.SIGINT)
print("main", _wait.runs_signal_handlers())
done = lt.allocate_lock()
done.acquire()
def worker():
    print("worker", _wait.runs_signal_handlers(), flush=True)
    pid = os.fork()
    if pid == 0:
        os.write(1, ("forked-from-worker %s\\n" % _wait.runs_signal_handlers()).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    done.release()
lt.start_new_thread(worker, ())
done.acquire(timeout=10)
print("handler kept", signal.getsignal(signal.SIGINT) is before)
"""


@pytest.mark.skipif(ORACLE, reason="lowthread's own internals")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_runs_signal_handlers_follows_the_main_thread():
    # Only the thread that runs signal handlers keeps a sliced wait
    # interruptible; after a fork from a worker, that worker is the child's
    # main thread.  Asking must not change the SIGINT handler.
    proc = run_py(SIGNAL_THREAD_SCRIPT)
    assert proc.rc == 0, proc
    assert sorted(proc.out.splitlines()) == sorted([
        "main True", "worker False", "forked-from-worker True", "handler kept True"]), proc


# ---------------------------------------------------------------------------
# stack_size (docs/behaviour.md §7)


def test_stack_size_initially_zero(lt):
    assert lt.stack_size() == 0
    assert lt.stack_size(0) == 0


def test_stack_size_returns_previous_and_no_arg_resets(same):
    def call(m):
        try:
            return (m.stack_size(65536), m.stack_size(), m.stack_size(), m.stack_size(0))
        finally:
            m.stack_size(0)

    same(call, Returns((0, 65536, 0, 0)))


def test_stack_size_sequence(same):
    def call(m):
        try:
            return (m.stack_size(32768), m.stack_size(40000), m.stack_size(40960),
                    m.stack_size(2 ** 40), m.stack_size(2 ** 62), m.stack_size(0), m.stack_size())
        finally:
            m.stack_size(0)

    same(call, Returns((0, 32768, 40000, 40960, 2 ** 40, 2 ** 62, 0)))


class Idx:
    def __init__(self, n):
        self.n = n

    def __index__(self):
        return self.n


def test_stack_size_index_object(same):
    def call(m):
        try:
            return (m.stack_size(Idx(65536)), m.stack_size())
        finally:
            m.stack_size(0)

    same(call, Returns((0, 65536)))


@pytest.mark.parametrize("bad,expect", [
    (-1, Raises(ValueError, "size must be 0 or a positive value")),
    (-2 ** 40, Raises(ValueError, "size must be 0 or a positive value")),
    (1, Raises(ValueError, "size not valid: 1 bytes")),
    (True, Raises(ValueError, "size not valid: 1 bytes")),
    (4096, Raises(ValueError, "size not valid: 4096 bytes")),
    (16384, Raises(ValueError, "size not valid: 16384 bytes")),
    (16385, Raises(ValueError, "size not valid: 16385 bytes")),
    (32767, Raises(ValueError, "size not valid: 32767 bytes")),
    (Idx(100), Raises(ValueError, "size not valid: 100 bytes")),
], ids=["-1", "-2**40", "1", "True", "4096", "16384", "16385", "32767", "Idx(100)"])
def test_stack_size_invalid_values_leave_setting_unchanged(same, bad, expect):
    def call(m):
        m.stack_size(65536)
        try:
            try:
                m.stack_size(bad)
            except Exception as exc:  # noqa: BLE001
                if m.stack_size(65536) != 65536:
                    raise AssertionError("setting changed by a refused value") from exc
                raise exc
            return "accepted"
        finally:
            m.stack_size(0)

    same(call, expect)


@pytest.mark.parametrize("bad", [1.5, 65536.0, "x", None, b"1", 1j],
                         ids=["1.5", "65536.0", "str", "None", "bytes", "complex"])
def test_stack_size_type_errors(same, bad):
    def call(m):
        try:
            return m.stack_size(bad)
        finally:
            m.stack_size(0)

    out = same(call, Raises(TypeError), NOBODY, type_only=True)
    assert type(bad).__name__ in out.message, out  # a clear message names the type


@pytest.mark.parametrize("bad", [2 ** 63, 2 ** 64, -2 ** 63 - 1], ids=["2**63", "2**64", "-2**63-1"])
def test_stack_size_overflow(same, bad):
    same(lambda m: m.stack_size(bad), Raises(OverflowError), NOBODY, type_only=True)


@host_differs(PYPY)  # PyPy accepts size=
def test_stack_size_keyword_rejected(same, differs):
    def call(m):
        try:
            return m.stack_size(size=0)
        finally:
            m.stack_size(0)

    same(call, Raises(TypeError), differs, type_only=True)


def test_stack_size_two_args(same):
    same(lambda m: m.stack_size(0, 0), Raises(TypeError), NOBODY, type_only=True)


def _pthread_stack_size():
    """The stack size of the calling thread, from pthread_getattr_np (glibc)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.pthread_self.restype = ctypes.c_ulong
    libc.pthread_getattr_np.argtypes = [ctypes.c_ulong, ctypes.c_void_p]
    libc.pthread_attr_getstacksize.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_size_t)]
    libc.pthread_attr_destroy.argtypes = [ctypes.c_void_p]
    attr = ctypes.create_string_buffer(256)  # >= sizeof(pthread_attr_t)
    assert libc.pthread_getattr_np(libc.pthread_self(), attr) == 0
    size = ctypes.c_size_t()
    try:
        assert libc.pthread_attr_getstacksize(attr, ctypes.byref(size)) == 0
    finally:
        libc.pthread_attr_destroy(attr)
    return size.value


@pytest.mark.skipif(not (IS_LINUX and os.confstr("CS_GNU_LIBC_VERSION")),
                    reason="pthread_getattr_np is glibc-only")
@pytest.mark.parametrize("size", [40000, 262144, 1048576])
def test_threads_get_the_configured_stack_size(same, size):
    def call(m):
        m.stack_size(size)
        try:
            done = threading.Event()
            out = []

            def task():
                out.append(_pthread_stack_size())
                done.set()

            m.start_new_thread(task, ())
            assert done.wait(WAIT)
            return out[0]
        finally:
            m.stack_size(0)

    same(call, Returns(size))


def test_threads_run_with_small_and_large_stacks(lt):
    for size in (32768, 262144, 0x100000, 16 * 2 ** 20):
        lt.stack_size(size)
        try:
            assert _run_in_thread(lt, lambda: sum(range(100)))[1] == 4950
        finally:
            lt.stack_size(0)


# ---------------------------------------------------------------------------
# exit, error, constants, namespace (docs/behaviour.md §3, §10)


@pytest.mark.parametrize("name", ["exit", "exit_thread"])
def test_exit_raises_system_exit(same, lt, name):
    def call(m):
        try:
            getattr(m, name)()
        except SystemExit as exc:
            return (type(exc) is SystemExit, exc.args, exc.code)
        return "no exception"

    same(call, Returns((True, (), None)))
    same(lambda m: getattr(m, name)(1), Raises(TypeError), NOBODY, type_only=True)


def test_error_is_runtime_error(lt, native):
    assert lt.error is RuntimeError
    assert native.error is RuntimeError


@host_differs(PYPY)
def test_timeout_max_constant(lt, differs):
    if os.name == "posix":
        assert lt.TIMEOUT_MAX == 9223372036.0
    assert type(lt.TIMEOUT_MAX) is float


@host_differs(PRE313)  # `lock`
def test_public_names(lt, differs):
    for name in ["error", "LockType", "lock", "allocate_lock", "allocate", "start_new_thread",
                 "start_new", "interrupt_main", "exit", "exit_thread", "get_ident",
                 "stack_size", "TIMEOUT_MAX", "_count"]:
        assert hasattr(lt, name), name
    if hasattr(threading, "get_native_id"):
        assert hasattr(lt, "get_native_id")
    if not ORACLE:
        assert isinstance(lt.__version__, str) and lt.__version__
        assert lt.__name__ == LT_NAME


def test_aliases_behave_like_targets(lt):
    assert type(lt.allocate()) is lt.LockType
    assert _run_in_thread(lt, lambda x: x + 1, (1,), start=lt.start_new)[1] == 2
    with pytest.raises(SystemExit):
        lt.exit_thread()
