"""Helpers that more than one file of the core room (tests/core/) uses.

The acquire table of test_lock_api.py, which test_rlock.py runs on RLocks
too, with the argument types and expected outcomes it names; the thread
helper of the lock tests; and what the three thread files share: WAIT, the
autouse fixture that each of them imports (every thread it started has
ended, stack_size is back to 0), _run_in_thread and _thread_facts.
Nothing here is a test.
"""

import operator
import threading
from decimal import Decimal
from fractions import Fraction

import pytest
from conftest import (
    CPY39_310,
    INF,
    NAN,
    NOBODY,
    PRE310,
    PRE312,
    PRE313,
    PYPY,
    Raises,
    Returns,
)

T = Returns(True)
F = Returns(False)
NONE = Returns(None)
VE_NONBLOCKING = Raises(ValueError, "can't specify a timeout for a non-blocking call")
VE_NEGATIVE = Raises(ValueError, "timeout value must be a non-negative number")
VE_NAN = Raises(ValueError, "Invalid value NaN (not a number)")
# docs/behaviour.md §2.1: ±inf or out of range -> OverflowError (type fixed).  The texts
# CPython 3.13 uses for these conditions (float, int, µs limit).
OVERFLOW = Raises(OverflowError, (
    "timestamp out of range for platform time_t",
    "timestamp too large to convert to C PyTime_t",
    "timeout value is too large",
))

DECISION_TIMEOUT_MAX = 9223372036.0
WATCHDOG = 5.0  # a "locked" lock is released after this long, so a wrong blocking wait cannot hang


def _index_error(value):
    """The TypeError text operator.index gives for value (docs/behaviour.md §2.1 refers to it)."""
    try:
        operator.index(value)
    except TypeError as exc:
        return str(exc)
    raise AssertionError("%r has __index__" % (value,))


class Idx:
    """Only __index__."""

    def __init__(self, n):
        self.n = n

    def __index__(self):
        return self.n

    def __repr__(self):
        return "Idx(%d)" % self.n


class Flt:
    """Only __float__ (not accepted: timeouts take float or __index__)."""

    def __float__(self):
        return 0.5

    def __repr__(self):
        return "Flt()"


class BadBool:
    def __bool__(self):
        raise ZeroDivisionError("bool failed")

    def __repr__(self):
        return "BadBool()"


class FalseObj:
    def __bool__(self):
        return False

    def __repr__(self):
        return "FalseObj()"


class FloatSub(float):
    pass


def _rescue(lock):
    try:
        lock.release()
    except RuntimeError:
        pass


# (id, lock state, args, kwargs, Decision outcome, hosts whose own _thread differs).
# Raises(T) without a message compares the exception type only (docs/behaviour.md §1).
ACQUIRE_CASES = [
    # --- plain calls
    ("no-args", "unlocked", (), {}, T, NOBODY),
    ("True", "unlocked", (True,), {}, T, NOBODY),
    ("blocking=True", "unlocked", (), {"blocking": True}, T, NOBODY),
    ("1", "unlocked", (1,), {}, T, NOBODY),
    ("False-locked", "locked", (False,), {}, F, NOBODY),
    ("False-unlocked", "unlocked", (False,), {}, T, NOBODY),
    ("0-locked", "locked", (0,), {}, F, NOBODY),
    ("blocking=False-locked", "locked", (), {"blocking": False}, F, NOBODY),
    ("True,0-locked", "locked", (True, 0), {}, F, NOBODY),
    ("timeout=0-locked", "locked", (), {"timeout": 0}, F, NOBODY),
    ("timeout=0.0-locked", "locked", (), {"timeout": 0.0}, F, NOBODY),
    ("timeout=-0.0-locked", "locked", (), {"timeout": -0.0}, F, NOBODY),
    ("timeout=1e-10-locked", "locked", (), {"timeout": 1e-10}, F, NOBODY),
    ("timeout=0.001-locked", "locked", (), {"timeout": 0.001}, F, NOBODY),
    ("timeout=0.5-unlocked", "unlocked", (), {"timeout": 0.5}, T, NOBODY),
    ("timeout=float-subclass", "unlocked", (), {"timeout": FloatSub(0.5)}, T, NOBODY),
    ("kw-both", "locked", (), {"blocking": True, "timeout": 0.001}, F, NOBODY),
    # --- non-blocking with a timeout
    ("False,1", "locked", (False, 1), {}, VE_NONBLOCKING, NOBODY),
    ("False,0", "locked", (False, 0), {}, VE_NONBLOCKING, NOBODY),
    ("False,0.5", "locked", (False, 0.5), {}, VE_NONBLOCKING, NOBODY),
    ("False,-2", "locked", (False, -2), {}, VE_NONBLOCKING, PYPY),
    ("False,-1.0000000001", "locked", (False, -1.0000000001), {}, VE_NONBLOCKING, PYPY),
    ("False,-0.0", "locked", (False, -0.0), {}, VE_NONBLOCKING, NOBODY),
    ("False,1-unlocked", "unlocked", (False, 1), {}, VE_NONBLOCKING, NOBODY),
    ("kw-False,timeout=0", "locked", (), {"blocking": False, "timeout": 0}, VE_NONBLOCKING, NOBODY),
    # --- non-blocking with the unset value
    ("False,-1", "locked", (False, -1), {}, F, NOBODY),
    ("False,-1.0", "locked", (False, -1.0), {}, F, NOBODY),
    ("False,-0.9999999999", "locked", (False, -0.9999999999), {}, F, PYPY),
    ("False,Idx(-1)", "locked", (False, Idx(-1)), {}, F, PYPY),
    ("kw-False,timeout=-1", "locked", (), {"blocking": False, "timeout": -1}, F, NOBODY),
    # --- unbounded waits (on an unlocked lock)
    ("timeout=-1", "unlocked", (), {"timeout": -1}, T, NOBODY),
    ("timeout=-1.0", "unlocked", (), {"timeout": -1.0}, T, NOBODY),
    ("timeout=-0.9999999999", "unlocked", (), {"timeout": -0.9999999999}, T, PYPY),
    # --- negative timeouts
    ("timeout=-2", "unlocked", (), {"timeout": -2}, VE_NEGATIVE, PRE313),
    ("timeout=-1.5", "unlocked", (), {"timeout": -1.5}, VE_NEGATIVE, PRE313),
    ("timeout=-1.0000000001", "unlocked", (), {"timeout": -1.0000000001}, VE_NEGATIVE, PRE313),
    ("timeout=-1e-9", "unlocked", (), {"timeout": -1e-9}, VE_NEGATIVE, PRE313),
    ("timeout=-1e-10", "unlocked", (), {"timeout": -1e-10}, VE_NEGATIVE, PRE313),
    ("timeout=-100", "unlocked", (), {"timeout": -100}, VE_NEGATIVE, PRE313),
    ("timeout=Idx(-2)", "unlocked", (), {"timeout": Idx(-2)}, VE_NEGATIVE, PRE313),
    ("True,-2", "locked", (True, -2), {}, VE_NEGATIVE, PRE313),
    # --- TIMEOUT_MAX and overflow (unlocked, so a wrongly accepted value cannot block)
    ("timeout=TIMEOUT_MAX", "unlocked", (), {"timeout": DECISION_TIMEOUT_MAX}, T, NOBODY),
    ("timeout=9223372036.854774", "unlocked", (), {"timeout": 9223372036.854774}, T, CPY39_310),
    ("timeout=int-TIMEOUT_MAX", "unlocked", (), {"timeout": 9223372036}, T, NOBODY),
    ("timeout=TIMEOUT_MAX+1", "unlocked", (), {"timeout": DECISION_TIMEOUT_MAX + 1}, OVERFLOW,
     CPY39_310 | PYPY),
    ("timeout=TIMEOUT_MAX*2", "unlocked", (), {"timeout": DECISION_TIMEOUT_MAX * 2}, OVERFLOW,
     CPY39_310 | PYPY),
    ("timeout=1e100", "unlocked", (), {"timeout": 1e100}, OVERFLOW, CPY39_310),
    ("timeout=inf", "unlocked", (), {"timeout": INF}, OVERFLOW, CPY39_310),
    ("timeout=-inf", "unlocked", (), {"timeout": -INF}, OVERFLOW, CPY39_310 | PYPY),
    ("timeout=-1e100", "unlocked", (), {"timeout": -1e100}, OVERFLOW, CPY39_310 | PYPY),
    ("timeout=10**30", "unlocked", (), {"timeout": 10 ** 30}, OVERFLOW, PRE313),
    ("timeout=2**63", "unlocked", (), {"timeout": 2 ** 63}, OVERFLOW, PRE313),
    ("timeout=-2**63", "unlocked", (), {"timeout": -2 ** 63}, OVERFLOW, PRE313),
    ("timeout=9223372037", "unlocked", (), {"timeout": 9223372037}, OVERFLOW, PRE313),
    ("timeout=Idx(2**63)", "unlocked", (), {"timeout": Idx(2 ** 63)}, OVERFLOW, PRE313),
    ("False,inf", "locked", (False, INF), {}, OVERFLOW, CPY39_310 | PYPY),
    # --- NaN
    ("timeout=nan", "unlocked", (), {"timeout": NAN}, VE_NAN, PYPY),
    ("timeout=-nan", "unlocked", (), {"timeout": -NAN}, VE_NAN, PYPY),
    ("False,nan", "locked", (False, NAN), {}, VE_NAN, PYPY),
    # --- timeout types: float or __index__ (as operator.index says otherwise)
    ("timeout='1'", "unlocked", (), {"timeout": "1"}, Raises(TypeError, _index_error("1")), PRE310),
    ("timeout=None", "unlocked", (), {"timeout": None}, Raises(TypeError, _index_error(None)), PRE310),
    ("timeout=1j", "unlocked", (), {"timeout": 1j}, Raises(TypeError, _index_error(1j)), PRE310),
    ("timeout=Fraction", "unlocked", (), {"timeout": Fraction(1, 2)},
     Raises(TypeError, _index_error(Fraction(1, 2))), PRE310),
    ("timeout=Decimal", "unlocked", (), {"timeout": Decimal("0.5")},
     Raises(TypeError, _index_error(Decimal("0.5"))), PRE310),
    ("timeout=__float__-only", "unlocked", (), {"timeout": Flt()}, Raises(TypeError, _index_error(Flt())),
     PRE310),
    ("timeout=[]", "unlocked", (), {"timeout": []}, Raises(TypeError, _index_error([])), PRE310),
    ("False,'1'", "locked", (False, "1"), {}, Raises(TypeError, _index_error("1")), PRE310),
    ("timeout=True", "unlocked", (), {"timeout": True}, T, NOBODY),
    ("timeout=False-locked", "locked", (), {"timeout": False}, F, NOBODY),
    ("timeout=Idx(1)", "unlocked", (), {"timeout": Idx(1)}, T, PYPY),
    ("timeout=Idx(0)-locked", "locked", (), {"timeout": Idx(0)}, F, PYPY),
    # --- blocking by truth value (3.12+)
    ("blocking=None-locked", "locked", (None,), {}, F, PRE312),
    ("blocking=None,1", "locked", (None, 1), {}, VE_NONBLOCKING, PRE312),
    ("blocking=0.0-locked", "locked", (0.0,), {}, F, PRE312),
    ("blocking=0.0,1", "locked", (0.0, 1), {}, VE_NONBLOCKING, PRE312),
    ("blocking=''-locked", "locked", ("",), {}, F, PRE312),
    ("blocking=[],1", "locked", ([], 1), {}, VE_NONBLOCKING, PRE312),
    ("blocking=FalseObj,1", "locked", (FalseObj(), 1), {}, VE_NONBLOCKING, PRE312),
    ("blocking='x'", "unlocked", ("x",), {}, T, PRE312),
    ("blocking='x',0-locked", "locked", ("x", 0), {}, F, PRE312),
    ("blocking=1.5,0-locked", "locked", (1.5, 0), {}, F, PRE312),
    ("blocking=[0]", "unlocked", ([0],), {}, T, PRE312),
    ("blocking=2**31", "unlocked", (2 ** 31,), {}, T, PRE312),
    ("blocking=2**40,0-locked", "locked", (2 ** 40, 0), {}, F, PRE312),
    ("blocking=-2**40", "unlocked", (-2 ** 40,), {}, T, PRE312),
    ("blocking=2**64", "unlocked", (2 ** 64,), {}, T, PRE312),
    ("blocking=BadBool", "unlocked", (BadBool(),), {}, Raises(ZeroDivisionError, "bool failed"), PRE312),
    ("blocking=BadBool,nan", "unlocked", (BadBool(), NAN), {},
     Raises(ZeroDivisionError, "bool failed"), PRE312),
    # --- argument machinery (docs/behaviour.md §1: the type must match)
    ("3-args", "unlocked", (1, 2, 3), {}, Raises(TypeError), NOBODY),
    ("unknown-keyword", "unlocked", (), {"foo": 1}, Raises(TypeError), NOBODY),
    ("keyword-and-unknown", "unlocked", (), {"timeout": 1, "foo": 2}, Raises(TypeError), NOBODY),
    ("blocking-by-name-and-position", "unlocked", (True,), {"blocking": True}, Raises(TypeError), NOBODY),
]


def _thread(target, *args):
    t = threading.Thread(target=target, args=args, daemon=True)
    t.start()
    return t


# ---------------------------------------------------------------------------
# Threads: the helpers of test_thread_start.py, test_thread_exceptions.py and
# test_module_functions.py

WAIT = 10.0


@pytest.fixture(autouse=True)
def _threads_end_and_stack_size_reset(lt, native, no_lt_thread_leak):
    yield
    lt.stack_size(0)
    native.stack_size(0)


def _run_in_thread(lt, func, args=(), kwargs=None, start=None):
    """Start func in a lowthread thread and wait until it has run; return (ident, result)."""
    done = threading.Event()
    result = {}

    def wrapper(*a, **k):
        try:
            result["value"] = func(*a, **k)
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            result["error"] = exc
        finally:
            done.set()

    start = start or lt.start_new_thread
    ident = start(wrapper, args) if kwargs is None else start(wrapper, args, kwargs)
    assert done.wait(WAIT), "thread did not run within %ss" % WAIT
    if "error" in result:
        raise result["error"]
    return ident, result.get("value")


def _thread_facts(lt):
    cur = threading.current_thread()
    return {
        "lt_ident": lt.get_ident(),
        "threading_ident": threading.get_ident(),
        "lt_native_id": lt.get_native_id(),
        "threading_native_id": threading.get_native_id(),
        "current_thread_ident": cur.ident,
    }
