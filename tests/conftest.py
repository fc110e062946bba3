"""Shared fixtures and helpers for the lowthread test suite.

Differential testing: most tests run the same call on ``lowthread`` (``lt``) and
on the interpreter's own ``_thread`` (``native``, the oracle) and compare the
outcome: the return value, or the exception type and message.  lowthread
presents CPython 3.13's behaviour on every interpreter (docs/behaviour.md §1-§12), so
where the host's ``_thread`` is known to differ (PyPy, CPython 3.9-3.12) a test
gives the expected Decision outcome and says on which hosts the oracle differs;
there lowthread is checked against the Decision only.

Oracle mode: ``LOWTHREAD_TEST_ORACLE=1`` makes ``lt`` the host's ``_thread``
itself, to check the tests before lowthread exists (on CPython 3.13 everything
but the unraisable-report tests of docs/behaviour.md §5.3 must pass; on other hosts exactly the
"host differs" cases fail).
"""

import _thread as native_thread
import importlib
import math
import os
import re
import subprocess
import sys
import textwrap
import time

import pytest

# ---------------------------------------------------------------------------
# Host facts

IS_PYPY = sys.implementation.name == "pypy"
PY = sys.version_info[:2]
IS_LINUX = sys.platform.startswith("linux")
IS_POSIX = os.name == "posix"
#: "pypy" or "3.9" ... "3.13": the key that "host differs" tables use.
HOST = "pypy" if IS_PYPY else "%d.%d" % PY

# Host groups whose own _thread differs from CPython 3.13 on some row.
PYPY = frozenset({"pypy"})
PRE310 = frozenset({"pypy", "3.9"})
PRE311 = PRE310 | {"3.10"}
PRE312 = PRE311 | {"3.11"}
PRE313 = PRE312 | {"3.12"}
CPY39 = frozenset({"3.9"})
CPY39_310 = frozenset({"3.9", "3.10"})
CPY313 = frozenset({"3.13"})
NOBODY = frozenset()

ORACLE = os.environ.get("LOWTHREAD_TEST_ORACLE", "") not in ("", "0")


def load_lt():
    """The module under test: lowthread, or the host's _thread in oracle mode."""
    if ORACLE:
        return native_thread
    return importlib.import_module("lowthread")


#: The module name that appears in reprs and messages ("lowthread" or "_thread").
LT_NAME = "_thread" if ORACLE else "lowthread"


def lowthread_env():
    """The environment of a subprocess that imports the lowthread under
    test (its install's folder first on PYTHONPATH), warnings as Python's
    defaults."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(load_lt().__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.pop("PYTHONWARNINGS", None)
    return env


def pytest_report_header(config):
    return "lowthread tests: module under test = %s (%s), host = %s" % (
        LT_NAME, "ORACLE MODE" if ORACLE else "lowthread", HOST)


def pytest_configure(config):
    # Keep the marker known even if pytest-timeout is missing.
    config.addinivalue_line("markers", "timeout(seconds): per-test time limit (pytest-timeout)")
    restore_sigint()


def restore_sigint():
    """Give SIGINT its Python handler again if this process started with it ignored.

    A shell starts a background job (``./test.sh &``) with SIGINT ignored, an
    ignored signal stays ignored across exec, and Python then installs no
    KeyboardInterrupt handler: interrupt_main() and Ctrl-C would do nothing
    in this process and in every interpreter the tests start.  With the
    handler set here, the children start with SIGINT at its default and
    install theirs, as when the suite runs from a terminal.
    """
    import signal

    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(config, items):
    """Deselect (not skip) the tests a module lists in its DESELECT mapping.

    Used by test_stdlib.py for stdlib tests of features that lowthread does not
    provide yet or where lowthread deliberately differs (each with its reason).
    """
    keep, drop = [], []
    for item in items:
        deselect = getattr(item.module, "DESELECT", None) if hasattr(item, "module") else None
        if deselect and item.name in deselect:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ---------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def lt():
    """The module under test (lowthread; the host _thread in oracle mode)."""
    return load_lt()


@pytest.fixture(scope="session")
def native():
    """The interpreter's own _thread (the oracle)."""
    return native_thread


# ---------------------------------------------------------------------------
# Outcomes: what a call did, comparable across modules


class Returned:
    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return "Returned(%r)" % (self.value,)


class Raised:
    def __init__(self, exc_type, message):
        self.exc_type = exc_type
        self.message = message

    def __repr__(self):
        return "Raised(%s: %r)" % (self.exc_type.__name__, self.message)


_MODNAME_RE = re.compile(r"(?<![\w.])(?:_thread|lowthread)\.")


def normalize(text):
    """Replace the module name in a message ('_thread.lock' -> 'MOD.lock')."""
    return _MODNAME_RE.sub("MOD.", text)


def outcome(call, mod):
    """Run call(mod); return Returned(value) or Raised(type, normalized message)."""
    try:
        value = call(mod)
    except Exception as exc:  # noqa: BLE001 - every exception is an outcome
        return Raised(type(exc), normalize(str(exc)))
    return Returned(value)


class Returns:
    """Expectation: the call returns exactly this value (same type, ==)."""

    def __init__(self, value):
        self.value = value

    def matches(self, out):
        return (isinstance(out, Returned) and type(out.value) is type(self.value)
                and out.value == self.value)

    def __repr__(self):
        return "Returns(%r)" % (self.value,)


class Raises:
    """Expectation: the call raises exc_type (exactly, not a subclass).

    message: None = any message (the text comes from the interpreter's argument
    machinery, docs/behaviour.md §1: only the type must match); a str = exact text after
    normalize(); a tuple of str = any of these texts.
    """

    def __init__(self, exc_type, message=None):
        self.exc_type = exc_type
        self.message = message

    def matches(self, out):
        if not isinstance(out, Raised) or out.exc_type is not self.exc_type:
            return False
        if self.message is None:
            return bool(out.message)  # "the message must be clear": at least not empty
        if isinstance(self.message, tuple):
            return out.message in self.message
        return out.message == normalize(self.message)

    def __repr__(self):
        return "Raises(%s, %r)" % (self.exc_type.__name__, self.message)


def expectation_from(out, type_only=False):
    """Turn an observed (native) outcome into an expectation for lowthread."""
    if isinstance(out, Returned):
        return Returns(out.value)
    return Raises(out.exc_type, None if type_only else out.message)


def check_same(lt_mod, native_mod, call, expect=None, differs=NOBODY, type_only=False):
    """Assert the same outcome for call(lt_mod) and call(native_mod).

    expect: the outcome per the Decisions (CPython 3.13).  When given, lowthread
    must match it on every host, and the oracle must match it too unless the host
    is in ``differs`` (the hosts whose own _thread is known to differ).
    Without expect, lowthread must match whatever the oracle does (differs must
    then be empty).  type_only compares exception types only (messages from the
    argument machinery, docs/behaviour.md §1).
    """
    lt_out = outcome(call, lt_mod)
    nat_out = outcome(call, native_mod)
    host_differs = HOST in differs
    if expect is None:
        assert not host_differs, "a host that differs needs an explicit Decision outcome"
        want = expectation_from(nat_out, type_only)
        assert want.matches(lt_out), (
            "lowthread: %r, native _thread (%s): %r" % (lt_out, HOST, nat_out))
        return lt_out
    if type_only and isinstance(expect, Raises):
        expect = Raises(expect.exc_type, expect.message if isinstance(expect.message, tuple) else None)
    assert expect.matches(lt_out), (
        "lowthread: %r, expected per Decisions: %r (native _thread on %s: %r%s)"
        % (lt_out, expect, HOST, nat_out, ", host differs" if host_differs else ""))
    if not host_differs:
        assert expect.matches(nat_out), (
            "test table error: native _thread on %s gives %r, not the Decision %r, "
            "but the host is not listed as differing" % (HOST, nat_out, expect))
    return lt_out


@pytest.fixture
def same(lt, native):
    """check_same bound to the two modules: same(call, expect=None, differs=..., type_only=...)."""

    def _same(call, expect=None, differs=NOBODY, type_only=False):
        return check_same(lt, native, call, expect, differs, type_only)

    return _same


def differs_id(differs):
    """Parameter-id suffix naming the hosts where the oracle differs from the Decision."""
    if not differs:
        return ""
    return "~decision-on:" + "+".join(sorted(differs))


def host_differs(hosts):
    """Decorator: the host _thread differs from the Decision on these hosts.

    Gives the test a ``differs`` argument (pass it to ``same``) and a parameter id
    ``~decision-on:<hosts>``, so that a run in oracle mode shows at a glance which
    failures are host differences (on those hosts lowthread is checked against
    the Decision only, and must pass).
    """
    hosts = frozenset(hosts)
    return pytest.mark.parametrize("differs", [hosts], ids=[differs_id(hosts)[1:]])


# ---------------------------------------------------------------------------
# Waiting helpers (everything bounded)


def wait_until(predicate, timeout=10.0, interval=0.005):
    """Poll predicate until true or timeout; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@pytest.fixture
def no_lt_thread_leak(lt):
    """Wait (bounded) after the test until lowthread's _count() is back to its start value."""
    before = lt._count()
    yield
    assert wait_until(lambda: lt._count() <= before, timeout=10.0), (
        "lowthread threads still running after the test: _count()=%d, before=%d"
        % (lt._count(), before))


def get_unraisable_hook_args_type():
    """The interpreter's genuine UnraisableHookArgs type (not exported: capture it with __del__)."""
    import gc

    captured = []
    old = sys.unraisablehook
    sys.unraisablehook = lambda args: captured.append(type(args))
    try:
        class _RaisesInDel:
            def __del__(self):
                raise ValueError("capture UnraisableHookArgs")

        _RaisesInDel()
        for _ in range(3):
            if captured:
                break
            gc.collect()
    finally:
        sys.unraisablehook = old
    assert captured, "could not capture UnraisableHookArgs"
    return captured[0]


# ---------------------------------------------------------------------------
# Subprocesses


class Proc:
    def __init__(self, rc, out, err, elapsed):
        self.rc, self.out, self.err, self.elapsed = rc, out, err, elapsed

    def __repr__(self):
        return "Proc(rc=%r, elapsed=%.2fs)\n--- stdout:\n%s\n--- stderr:\n%s" % (
            self.rc, self.elapsed, self.out, self.err)


def _lt_pythonpath():
    mod = load_lt()
    path = getattr(mod, "__file__", None)
    if not path:
        return None
    return os.path.dirname(os.path.dirname(os.path.abspath(path)))


PRELUDE = "import {name} as lt\n"


# For children whose memory a test measures: PyPy sizes its GC nursery from
# the cache size /proc/cpuinfo reports (half of it, at least 1 MB), which is
# 240 MB on a host that reports 480 MB; no major collection then runs while
# such a test makes its objects, and the C locks that ffi.gc frees pile up
# until the test's own gc.collect(), as PyPy's own locks' memory does.  A
# nursery of 1 MB (that of a host with a 2 MB cache) makes the peak what
# the test means to measure, whatever the host.  CPython ignores it.
STEADY_GC_ENV = {"PYPY_GC_NURSERY": "1MB"}


# Child source that defines heap(): the bytes in use in malloc's heap proper
# (glibc's mallinfo2), or None where there is no such call.  Every allocation
# of the C core goes there (all far below the mmap threshold).  Large blocks
# that malloc maps one by one (hblkhd) are left out: PyPy keeps per-thread
# blocks of ~1.3 MB there, pooled up to a high-water mark that moves by whole
# blocks from run to run.
HEAP_PROBE = """
try:
    import ctypes

    class _MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
            "fsmblks", "uordblks", "fordblks", "keepcost")]

    _mallinfo2 = ctypes.CDLL(None).mallinfo2
    _mallinfo2.restype = _MallInfo2
    _mallinfo2.argtypes = []

    def heap():
        return _mallinfo2().uordblks
    heap()
except (AttributeError, OSError, ImportError):
    def heap():
        return None
"""


def run_py(code, timeout=30.0, args=(), env=None, prelude=True, prefix=()):
    """Run a Python snippet with sys.executable in a fresh process.

    The snippet gets ``lt`` (the module under test) imported unless prelude is
    False.  prefix is a command that runs the interpreter (e.g. ``("taskset",
    "-c", "0")``).  Returns a Proc with rc, out, err (text) and elapsed; a
    snippet that runs past ``timeout`` is killed and the test fails with its
    output.
    """
    src = textwrap.dedent(code)
    if prelude:
        src = PRELUDE.format(name=LT_NAME) + src
    full_env = dict(os.environ)
    full_env["PYTHONFAULTHANDLER"] = "1"
    full_env.pop("PYTHONWARNINGS", None)
    extra = _lt_pythonpath()
    if extra:
        full_env["PYTHONPATH"] = os.pathsep.join(
            p for p in (extra, full_env.get("PYTHONPATH")) if p)
    if env:
        full_env.update(env)
    t0 = time.monotonic()
    try:
        cp = subprocess.run([*prefix, sys.executable, "-c", src, *args], capture_output=True,
                            text=True, timeout=timeout, env=full_env)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else exc.stderr
        pytest.fail("subprocess timed out after %.0fs\n--- stdout:\n%s\n--- stderr:\n%s"
                    % (timeout, out, err))
    return Proc(cp.returncode, cp.stdout, cp.stderr, time.monotonic() - t0)


def popen_py(code, prelude=True, **kwargs):
    """Start a Python snippet (like run_py) and return the Popen; the caller bounds every wait."""
    src = textwrap.dedent(code)
    if prelude:
        src = PRELUDE.format(name=LT_NAME) + src
    env = dict(os.environ)
    env["PYTHONFAULTHANDLER"] = "1"
    extra = _lt_pythonpath()
    if extra:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (extra, env.get("PYTHONPATH")) if p)
    return subprocess.Popen([sys.executable, "-c", src], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, **kwargs)


# Values used by several modules.
NAN = math.nan
INF = math.inf
