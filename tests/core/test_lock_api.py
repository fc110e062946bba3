"""Lock objects, their API: docs/behaviour.md §2, §3 and §4.

Rows of the acquire tables run on lowthread and on the host's _thread; the
expected outcome is CPython 3.13's (docs/behaviour.md §1-§12).  A parameter id ending in
``~decision-on:<hosts>`` marks hosts whose own _thread differs from the Decision
on that row: there lowthread is checked against the Decision only.
Waiting is in test_lock_waits.py, many threads and many locks in
test_lock_under_load.py.
"""

import copy
import gc
import pickle
import re
import sys
import threading
import warnings
import weakref

import pytest
from _core_support import ACQUIRE_CASES, DECISION_TIMEOUT_MAX, WATCHDOG, F, T, _rescue
from conftest import (
    HOST,
    IS_PYPY,
    LT_NAME,
    NOBODY,
    PRE313,
    PYPY,
    Raises,
    Returns,
    differs_id,
    host_differs,
    wait_until,
)

RELEASE_UNLOCKED = Raises(RuntimeError, "release unlocked lock")
CANNOT_PICKLE = Raises(TypeError, "cannot pickle 'MOD.lock' object")


def call_on_lock(state, method, args=(), kwargs=None):
    """A call for check_same: make a lock of the module in `state`, call `method`."""
    kwargs = kwargs or {}

    def call(m):
        lock = m.allocate_lock()
        timer = None
        if state == "locked":
            lock.acquire()
            timer = threading.Timer(WATCHDOG, _rescue, (lock,))
            timer.daemon = True
            timer.start()
        try:
            return getattr(lock, method)(*args, **kwargs)
        finally:
            if timer is not None:
                timer.cancel()
                timer.join(1.0)

    return call


ACQUIRE_METHODS = ["acquire", "acquire_lock", "__enter__"]


def _acquire_params():
    for method in ACQUIRE_METHODS:
        for case_id, state, args, kwargs, expect, differs in ACQUIRE_CASES:
            if method == "__enter__":
                # PyPy's __enter__ takes no arguments and returns the lock itself.
                differs = differs | PYPY
            yield pytest.param(method, state, args, kwargs, expect, differs,
                               id="%s-%s%s" % (method, case_id, differs_id(differs)))


@pytest.mark.parametrize("method,state,args,kwargs,expect,differs", list(_acquire_params()))
def test_acquire_arguments(same, method, state, args, kwargs, expect, differs):
    """docs/behaviour.md §2: each row on lowthread, and on the oracle where it conforms."""
    same(call_on_lock(state, method, args, kwargs), expect, differs,
         type_only=isinstance(expect, Raises) and expect.message is None)


# ---------------------------------------------------------------------------
# 2.1 type properties


@host_differs(PRE313)  # `lock` alias (3.13)
def test_locktype_is_lock_and_the_type_of_locks(lt, differs):
    assert lt.LockType is lt.lock
    assert type(lt.allocate_lock()) is lt.LockType
    assert type(lt.allocate()) is lt.LockType
    assert isinstance(lt.allocate_lock(), lt.LockType)


def test_lock_type_names(lt, native):
    assert lt.LockType.__name__ == native.LockType.__name__ == "lock"
    assert lt.LockType.__qualname__ == native.LockType.__qualname__ == "lock"
    assert lt.LockType.__module__ == LT_NAME
    assert repr(lt.LockType) == "<class '%s.lock'>" % LT_NAME


@host_differs(PRE313)
def test_locktype_call_makes_a_new_unlocked_lock(same, lt, differs):
    """docs/behaviour.md §4 (3.13): LockType() makes a new lock."""
    same(lambda m: type(m.LockType()) is m.LockType, T, differs)
    same(lambda m: m.LockType().locked(), F, differs)
    a, b = lt.LockType(), lt.LockType()
    assert a is not b
    assert a.acquire(False) is True
    assert b.acquire(False) is True  # independent


@pytest.mark.parametrize("args,kwargs", [((1,), {}), ((1, 2), {}), ((), {"x": 1})],
                         ids=["1", "1,2", "x=1"])
def test_locktype_call_with_arguments(same, args, kwargs):
    """3.13: `lock expected 0 arguments` / `lock() takes no keyword arguments` (TypeError everywhere)."""
    same(lambda m: m.LockType(*args, **kwargs), Raises(TypeError), NOBODY, type_only=True)


def test_lock_not_subclassable(same):
    same(lambda m: type("Sub", (m.LockType,), {}), Raises(TypeError), NOBODY, type_only=True)


def test_lock_not_subclassable_class_statement(lt):
    with pytest.raises(TypeError):
        class Sub(lt.LockType):  # noqa: F841
            pass


def test_allocate_lock_takes_no_arguments(same):
    same(lambda m: m.allocate_lock(1), Raises(TypeError), NOBODY, type_only=True)
    same(lambda m: m.allocate_lock(x=1), Raises(TypeError), NOBODY, type_only=True)
    same(lambda m: m.allocate(1), Raises(TypeError), NOBODY, type_only=True)


def test_new_lock_is_unlocked(same):
    same(lambda m: m.allocate_lock().locked(), F)
    same(lambda m: m.allocate().locked(), F)


def test_weakref(lt):
    lock = lt.allocate_lock()
    ref = weakref.ref(lock)
    assert ref() is lock
    del lock
    gc.collect()
    assert ref() is None


def test_weakref_callback_runs(lt):
    called = []
    lock = lt.allocate_lock()
    lock.acquire()
    refs = [weakref.ref(lock, called.append)]  # kept alive so the callback can run
    del lock
    gc.collect()
    assert wait_until(lambda: called, timeout=2.0)
    assert refs[0]() is None


def _pickle_params():
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        # Protocols 0/1: before 3.13 there is no _thread.lock to look up (PicklingError).
        differs = PYPY if proto >= 2 else PRE313
        yield pytest.param(proto, differs, id="%d%s" % (proto, differs_id(differs)))


@pytest.mark.parametrize("proto,differs", list(_pickle_params()))
def test_pickle_refused(same, proto, differs):
    # CPython names the type without its module for protocols 0 and 1 (copyreg's
    # text); the Decision's qualified name is accepted there too.
    expect = CANNOT_PICKLE if proto >= 2 else Raises(
        TypeError, ("cannot pickle 'lock' object", "cannot pickle 'MOD.lock' object"))
    same(lambda m: pickle.dumps(m.allocate_lock(), proto), expect, differs)


@host_differs(PYPY)
def test_pickle_default_protocol_refused(same, differs):
    same(lambda m: pickle.dumps(m.allocate_lock()), CANNOT_PICKLE, differs)


@pytest.mark.parametrize("func", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
@host_differs(PYPY)
def test_copy_refused(same, func, differs):
    same(lambda m: func(m.allocate_lock()), CANNOT_PICKLE, differs)


@host_differs(PYPY)
def test_pickle_locked_lock_refused(same, differs):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        return pickle.dumps(lock)

    same(call, CANNOT_PICKLE, differs)


def test_no_new_attributes(same):
    def setattr_x(m):
        m.allocate_lock().x = 1

    same(setattr_x, Raises(AttributeError), NOBODY, type_only=True)


def test_methods_read_only(same):
    def set_acquire(m):
        m.allocate_lock().acquire = None

    same(set_acquire, Raises(AttributeError), NOBODY, type_only=True)


def test_hash_and_equality_are_identity(lt):
    a, b = lt.allocate_lock(), lt.allocate_lock()
    assert a == a and not (a != a)
    assert a != b and not (a == b)
    assert hash(a) == hash(a) == object.__hash__(a)
    a.acquire()
    assert hash(a) == object.__hash__(a)  # the state does not enter the hash
    assert {a: 1, b: 2}[a] == 1
    a.release()


# ---------------------------------------------------------------------------
# 2.4 other methods


@host_differs(PYPY)
def test_release_unlocked(same, differs):
    same(lambda m: m.allocate_lock().release(), RELEASE_UNLOCKED, differs)
    same(lambda m: m.allocate_lock().release_lock(), RELEASE_UNLOCKED, differs)


@host_differs(PYPY)
def test_release_twice(same, differs):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        lock.release()
        return lock.release()

    same(call, RELEASE_UNLOCKED, differs)


def test_release_returns_none_and_unlocks(same):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        r = lock.release()
        return (r, lock.locked(), lock.acquire(False))

    same(call, Returns((None, False, True)))


@pytest.mark.parametrize("method", ["release", "release_lock", "locked", "locked_lock"])
def test_no_arg_methods_reject_arguments(same, method):
    def positional(m):
        lock = m.allocate_lock()
        lock.acquire()
        return getattr(lock, method)(1)

    def keyword(m):
        lock = m.allocate_lock()
        lock.acquire()
        return getattr(lock, method)(x=1)

    same(positional, Raises(TypeError), NOBODY, type_only=True)
    same(keyword, Raises(TypeError), NOBODY, type_only=True)


def test_locked_states(same):
    def call(m):
        lock = m.allocate_lock()
        states = [lock.locked(), lock.locked_lock()]
        lock.acquire()
        states += [lock.locked(), lock.locked_lock()]
        lock.release()
        states += [lock.locked(), lock.locked_lock()]
        return tuple(states)

    same(call, Returns((False, False, True, True, False, False)))


def test_failed_try_leaves_lock_locked(same):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        return (lock.acquire(False), lock.acquire(timeout=0.01), lock.locked())

    same(call, Returns((False, False, True)))


@host_differs(PYPY)
def test_with_binds_true(same, differs):
    """docs/behaviour.md §4: __enter__ returns True (PyPy: the lock)."""

    def call(m):
        lock = m.allocate_lock()
        with lock as value:
            inside = lock.locked()
        return (value, inside, lock.locked())

    same(call, Returns((True, True, False)), differs)


@host_differs(PYPY)
def test_enter_exit_direct(same, differs):
    def call(m):
        lock = m.allocate_lock()
        entered = lock.__enter__()
        exited = lock.__exit__(None, None, None)
        return (entered, exited, lock.locked())

    same(call, Returns((True, None, False)), differs)


def test_exit_takes_any_positional_args(same):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        results = [lock.__exit__()]
        lock.acquire()
        results.append(lock.__exit__(1, 2, 3, 4, 5))
        return (tuple(results), lock.locked())

    same(call, Returns(((None, None), False)))


@host_differs(PYPY)
def test_exit_rejects_keywords(same, differs):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        try:
            return lock.__exit__(x=1)
        finally:
            _rescue(lock)

    same(call, Raises(TypeError), differs, type_only=True)


@host_differs(PYPY)
def test_exit_unlocked(same, differs):
    same(lambda m: m.allocate_lock().__exit__(None, None, None), RELEASE_UNLOCKED, differs)


def test_with_propagates_and_releases(lt):
    lock = lt.allocate_lock()
    with pytest.raises(KeyError):
        with lock:
            assert lock.locked()
            raise KeyError("inside")
    assert not lock.locked()


@host_differs(PYPY)
def test_with_release_in_body_then_exit_raises(same, differs):
    def call(m):
        lock = m.allocate_lock()
        with lock:
            lock.release()

    same(call, RELEASE_UNLOCKED, differs)


@host_differs(PYPY)
def test_with_nonblocking_enter(same, differs):
    """docs/behaviour.md §4: __enter__ is acquire (accepts its arguments) - also exercised in the table."""

    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        return lock.__enter__(blocking=False)

    same(call, F, differs)


REPR_RE = re.compile(r"^<(unlocked|locked) (\w+)\.lock object at (0x[0-9a-f]+)>$")


@host_differs(PYPY)  # oracle mode only: PyPy pads the address
def test_repr(lt, native, differs):
    for mod, name in ((lt, LT_NAME), (native, "_thread")):
        lock = mod.allocate_lock()
        m = REPR_RE.match(repr(lock))
        assert m, repr(lock)
        assert m.group(1) == "unlocked" and m.group(2) == name
        # CPython's %p prints hex(id(obj)); lowthread does so on every interpreter
        # (PyPy's own _thread pads the address: a host difference, not checked).
        if mod is lt or not IS_PYPY:
            assert m.group(3) == hex(id(lock)), (repr(lock), hex(id(lock)))
        lock.acquire()
        m = REPR_RE.match(repr(lock))
        assert m and m.group(1) == "locked", repr(lock)
        lock.release()
        assert repr(lock).startswith("<unlocked %s.lock object at 0x" % name)
        assert str(lock) == repr(lock)


def test_at_fork_reinit(same):
    def call(m):
        lock = m.allocate_lock()
        lock.acquire()
        r = lock._at_fork_reinit()
        state = lock.locked()
        got = lock.acquire(False)
        r2 = lock._at_fork_reinit()
        return (r, state, got, r2, lock.locked(), lock.acquire(False), lock.locked())

    same(call, Returns((None, False, True, None, False, True, True)))


def test_at_fork_reinit_unlocked(same):
    def call(m):
        lock = m.allocate_lock()
        return (lock._at_fork_reinit(), lock.locked())

    same(call, Returns((None, False)))


def test_at_fork_reinit_takes_no_arguments(same):
    same(lambda m: m.allocate_lock()._at_fork_reinit(1), Raises(TypeError), NOBODY, type_only=True)


def test_obsolete_aliases_do_not_warn(lt):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lock = lt.allocate()
        assert lock.acquire_lock() is True
        assert lock.locked_lock() is True
        assert lock.acquire_lock(False) is False
        assert lock.release_lock() is None
        assert lock.locked_lock() is False
        assert lock.acquire_lock(timeout=0.001) is True
        lock.release_lock()


@host_differs(PYPY)  # PyPy's own TIMEOUT_MAX is 1000x larger
def test_timeout_max(lt, differs):
    """docs/behaviour.md §3."""
    assert type(lt.TIMEOUT_MAX) is float
    if sys.platform == "win32":
        assert lt.TIMEOUT_MAX == 4294967.0
    else:
        assert lt.TIMEOUT_MAX == DECISION_TIMEOUT_MAX


def test_timeout_max_accepted_and_plus_one_refused(lt):
    lock = lt.allocate_lock()
    assert lock.acquire(timeout=lt.TIMEOUT_MAX) is True
    lock.release()
    with pytest.raises(OverflowError):
        lock.acquire(timeout=lt.TIMEOUT_MAX + 1)
    with pytest.raises(OverflowError):
        lock.acquire(timeout=1e100)
    assert not lock.locked()


def test_timeout_max_native(native):
    """The table above assumes the host values of docs/behaviour.md §3."""
    expected = 9223372036854.0 if IS_PYPY else DECISION_TIMEOUT_MAX
    assert native.TIMEOUT_MAX == expected


def test_host_is_known():
    assert HOST in {"pypy", "3.9", "3.10", "3.11", "3.12", "3.13"}
