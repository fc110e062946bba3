"""RLock: docs/behaviour.md §11 (and §2, §9 for acquire).

Differential where the host's RLock is CPython 3.13's: rows run on lowthread
and on the host's ``_thread.RLock``.  Known host differences (parameter ids
``~decision-on:<hosts>``): PyPy's RLock rejects constructor arguments, returns
itself from ``__enter__``, pickles, and has other ``_acquire_restore`` errors;
``_recursion_count`` is absent on CPython 3.9/3.10 and PyPy; ``locked()`` is
absent everywhere before 3.14 (lowthread has it).
"""

import copy
import gc
import pickle
import re
import threading
import time
import weakref

import pytest
from _core_support import ACQUIRE_CASES
from conftest import (
    LT_NAME,
    NOBODY,
    ORACLE,
    PRE311,
    PYPY,
    Raises,
    Returns,
    differs_id,
    host_differs,
    run_py,
)

T = Returns(True)
F = Returns(False)
NONE = Returns(None)
NOT_ACQUIRED = Raises(RuntimeError, "cannot release un-acquired lock")
WATCHDOG = 5.0  # a lock held by a helper thread is released after this long
ULONG_MAX = 2 ** 64 - 1


class Holder:
    """A helper thread that holds an RLock until stop() (or the watchdog)."""

    def __init__(self, rlock):
        self.rlock = rlock
        self.acquired = threading.Event()
        self.done = threading.Event()
        self.ident = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.acquired.wait(WATCHDOG)

    def _run(self):
        self.rlock.acquire()
        self.ident = threading.get_ident()
        self.acquired.set()
        self.done.wait(WATCHDOG)
        self.rlock.release()

    def stop(self):
        self.done.set()
        self.thread.join(WATCHDOG)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.stop()


def in_thread(func):
    """Run func() in another thread; return its result or raise its exception."""
    box = {}

    def run():
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            box["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(WATCHDOG)
    assert not t.is_alive()
    if "exc" in box:
        raise box["exc"]
    return box["value"]


# ---------------------------------------------------------------------------
# acquire() arguments: docs/behaviour.md §2's table, on an RLock held by another thread
# ("locked"), free ("unlocked") or held by the caller ("owned": valid
# arguments recurse and return True, invalid ones still raise).


def call_on_rlock(state, method, args=(), kwargs=None):
    kwargs = kwargs or {}

    def call(m):
        r = m.RLock()
        if state == "locked":
            with Holder(r):
                return getattr(r, method)(*args, **kwargs)
        if state == "owned":
            r.acquire()
        try:
            return getattr(r, method)(*args, **kwargs)
        finally:
            while r._is_owned():
                r.release()

    return call


def _owned_expectation(expect):
    # Held by the caller: every accepted call recurses and returns True.
    return T if isinstance(expect, Returns) and expect.value is False else expect


def _acquire_params():
    for method in ("acquire", "__enter__"):
        for case_id, state, args, kwargs, expect, differs in ACQUIRE_CASES:
            if method == "__enter__":
                differs = differs | PYPY  # PyPy: no arguments, returns self
            yield pytest.param(method, state, args, kwargs, expect, differs,
                               id="%s-%s%s" % (method, case_id, differs_id(differs)))
            if state == "locked":
                yield pytest.param(method, "owned", args, kwargs, _owned_expectation(expect),
                                   differs, id="%s-owned-%s%s" % (method, case_id,
                                                                   differs_id(differs)))


@pytest.mark.parametrize("method,state,args,kwargs,expect,differs", list(_acquire_params()))
def test_acquire_arguments(same, method, state, args, kwargs, expect, differs):
    same(call_on_rlock(state, method, args, kwargs), expect, differs,
         type_only=isinstance(expect, Raises) and expect.message is None)


def test_owned_acquire_validates_before_recursing(lt):
    r = lt.RLock()
    r.acquire()
    with pytest.raises(ValueError, match="Invalid value NaN"):
        r.acquire(timeout=float("nan"))
    with pytest.raises(ValueError, match="non-blocking"):
        r.acquire(False, 1)
    assert r._recursion_count() == 1
    r.release()


# ---------------------------------------------------------------------------
# Type properties


def test_type_names(lt):
    assert lt.RLock.__name__ == lt.RLock.__qualname__ == "RLock"
    assert lt.RLock.__module__ == LT_NAME
    assert repr(lt.RLock) == "<class '%s.RLock'>" % LT_NAME
    assert ORACLE or "RLock" in lt.__all__


@pytest.mark.parametrize("args,kwargs", [((1,), {}), ((1, 2), {}), ((), {"x": 1})],
                         ids=["1", "1,2", "x=1"])
@host_differs(PYPY)
def test_constructor_ignores_arguments(same, args, kwargs, differs):
    same(lambda m: type(m.RLock(*args, **kwargs)) is m.RLock, T, differs)


@host_differs(PYPY)  # PyPy's RLock() takes no arguments
def test_subclass(same, differs):
    def call(m):
        class S(m.RLock):
            def __init__(self, value):  # does not call the base __init__
                self.value = value

        s = S(3)
        got = (s.value, s.acquire(), s.acquire(False), s._is_owned())
        s.release()
        s.release()
        return got + (s._is_owned(),)

    same(call, Returns((3, True, True, True, False)), differs)


@host_differs(PYPY)
def test_subclass_repr_and_pickle_use_the_bare_name(same, differs):
    def call(m):
        class S(m.RLock):
            pass

        text = re.sub(r" at 0x[0-9a-f]+>$", ">", repr(S()))
        try:
            pickle.dumps(S())
        except TypeError as exc:
            return (text, str(exc))
        return (text, "pickled")

    same(call, Returns(("<unlocked S object owner=0 count=0>", "cannot pickle 'S' object")),
         differs)


def test_no_new_attributes(same):
    def call(m):
        m.RLock().x = 1

    same(call, Raises(AttributeError), NOBODY, type_only=True)


def test_methods_read_only(same):
    def call(m):
        m.RLock().acquire = None

    same(call, Raises(AttributeError), NOBODY, type_only=True)


def test_weakref(lt):
    r = lt.RLock()
    ref = weakref.ref(r)
    assert ref() is r
    r.acquire()
    del r
    gc.collect()
    assert ref() is None


def _pickle_params():
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        yield pytest.param(proto, PYPY, id="%d%s" % (proto, differs_id(PYPY)))


@pytest.mark.parametrize("proto,differs", list(_pickle_params()))
def test_pickle_refused(same, proto, differs):
    # Protocols 0/1 go through copyreg, which names the class without its module.
    expect = Raises(TypeError, ("cannot pickle 'MOD.RLock' object", "cannot pickle 'RLock' object"))
    same(lambda m: pickle.dumps(m.RLock(), proto), expect, differs)


@pytest.mark.parametrize("func", [copy.copy, copy.deepcopy], ids=["copy", "deepcopy"])
@host_differs(PYPY)
def test_copy_refused(same, func, differs):
    same(lambda m: func(m.RLock()), Raises(TypeError, "cannot pickle 'MOD.RLock' object"), differs)


REPR_RE = re.compile(r"^<(unlocked|locked) (\w+)\.RLock object owner=(\d+) count=(\d+) at (0x[0-9a-f]+)>$")


@host_differs(PYPY)  # PyPy pads the address
def test_repr(lt, native, differs):
    for mod, name in ((lt, LT_NAME), (native, "_thread")):
        if mod is native and differs:
            continue
        r = mod.RLock()
        m = REPR_RE.match(repr(r))
        assert m, repr(r)
        assert m.groups() == ("unlocked", name, "0", "0", hex(id(r)))
        r.acquire()
        r.acquire()
        m = REPR_RE.match(repr(r))
        assert m, repr(r)
        assert m.groups()[:4] == ("locked", name, str(threading.get_ident()), "2")
        assert str(r) == repr(r)
        r.release()
        r.release()


# ---------------------------------------------------------------------------
# Reentrancy and ownership


def test_reentrancy(same):
    def call(m):
        r = m.RLock()
        got = [r.acquire(), r.acquire(), r.acquire(False), r.acquire(timeout=0.01), r._is_owned()]
        for _ in range(4):
            got.append(r.release())
        got.append(r._is_owned())
        try:
            r.release()
        except RuntimeError as exc:
            got.append(str(exc))
        return tuple(got)

    same(call, Returns((True, True, True, True, True, None, None, None, None, False,
                        "cannot release un-acquired lock")))


def test_release_unacquired(same):
    same(lambda m: m.RLock().release(), NOT_ACQUIRED)
    same(lambda m: m.RLock().__exit__(None, None, None), NOT_ACQUIRED)


def test_release_from_another_thread_raises(same):
    def call(m):
        r = m.RLock()
        r.acquire()
        try:
            return in_thread(r.release)
        finally:
            assert r._is_owned()
            r.release()

    same(call, NOT_ACQUIRED)


def test_held_by_another_thread(same):
    def call(m):
        r = m.RLock()
        with Holder(r):
            got = (r.acquire(False), r.acquire(timeout=0.02), r._is_owned())
        got += (r.acquire(timeout=WATCHDOG), r._is_owned())
        r.release()
        return got

    same(call, Returns((False, False, False, True, True)))


def test_blocking_acquire_waits_for_release(lt):
    r = lt.RLock()
    holder = Holder(r)
    threading.Timer(0.2, holder.stop).start()
    t0 = time.monotonic()
    assert r.acquire() is True
    assert time.monotonic() - t0 >= 0.15
    assert r._recursion_count() == 1
    r.release()


def test_timeout_waits(lt):
    r = lt.RLock()
    with Holder(r):
        t0 = time.monotonic()
        assert r.acquire(timeout=0.1) is False
        assert time.monotonic() - t0 >= 0.1


@host_differs(PYPY)
def test_with_binds_true(same, differs):
    def call(m):
        r = m.RLock()
        with r as v1:
            with r as v2:
                inner = r._is_owned()
        return (v1, v2, inner, r._is_owned(), r.__exit__ is not None)

    same(call, Returns((True, True, True, False, True)), differs)


def test_exit_returns_none_and_takes_positional_args(same):
    def call(m):
        r = m.RLock()
        r.acquire()
        r.acquire()
        return (r.__exit__(), r.__exit__(1, 2, 3, 4), r._is_owned())

    same(call, Returns((None, None, False)))


@host_differs(PYPY)
def test_exit_rejects_keywords(same, differs):
    def call(m):
        r = m.RLock()
        r.acquire()
        try:
            return r.__exit__(x=1)
        finally:
            if r._is_owned():
                r.release()

    same(call, Raises(TypeError), differs, type_only=True)


def test_with_propagates_and_releases(lt):
    r = lt.RLock()
    with pytest.raises(KeyError):
        with r:
            raise KeyError("x")
    assert not r._is_owned()
    assert in_thread(lambda: r.acquire(False)) is True


def test_is_owned(same):
    def call(m):
        r = m.RLock()
        got = [r._is_owned()]
        r.acquire()
        got += [r._is_owned(), in_thread(r._is_owned)]
        r.release()
        return tuple(got)

    same(call, Returns((False, True, False)))


@host_differs(PRE311 | PYPY)  # _recursion_count: 3.11+ (docs/behaviour.md §11: lowthread everywhere)
def test_recursion_count(same, differs):
    def call(m):
        r = m.RLock()
        got = [r._recursion_count()]
        r.acquire()
        r.acquire()
        got += [r._recursion_count(), in_thread(r._recursion_count)]
        r.release()
        got.append(r._recursion_count())
        r.release()
        got.append(r._recursion_count())
        with Holder(r):
            got.append(r._recursion_count())
        return tuple(got)

    same(call, Returns((0, 2, 0, 1, 0, 0)), differs)


def test_locked(lt):
    """locked() (CPython 3.14, asked for): True while any thread holds it."""
    r = lt.RLock()
    if ORACLE and not hasattr(r, "locked"):
        pytest.skip("the host RLock has no locked()")
    assert r.locked() is False
    r.acquire()
    r.acquire()
    assert r.locked() is True
    r.release()
    assert r.locked() is True
    r.release()
    assert r.locked() is False
    with Holder(r):
        assert r.locked() is True


@pytest.mark.parametrize("method", ["release", "_is_owned", "_release_save", "_at_fork_reinit"])
def test_no_arg_methods_reject_arguments(same, method):
    same(lambda m: getattr(m.RLock(), method)(1), Raises(TypeError), NOBODY, type_only=True)


def test_owner_is_get_ident(lt):
    r = lt.RLock()
    r.acquire()
    m = REPR_RE.match(repr(r))
    r.release()
    if m:  # (PyPy's own repr pads the address)
        assert int(m.group(3)) == lt.get_ident() == threading.get_ident()


# ---------------------------------------------------------------------------
# The private helpers that threading.Condition uses


def test_release_save_unacquired(same):
    same(lambda m: m.RLock()._release_save(), NOT_ACQUIRED)


def test_release_save_and_restore(same):
    def call(m):
        r = m.RLock()
        r.acquire()
        r.acquire()
        state = r._release_save()
        got = [state == (2, threading.get_ident()), r._is_owned(),
               in_thread(lambda: (r.acquire(False), r.release()))]
        got.append(r._acquire_restore(state))
        got += [r._is_owned(), in_thread(lambda: r.acquire(False))]
        r.release()
        got.append(r._is_owned())
        r.release()
        got.append(r._is_owned())
        return tuple(got)

    same(call, Returns((True, False, (True, None), None, True, False, True, False)))


def test_release_save_from_a_non_owner_thread(same):
    """docs/behaviour.md §11: no ownership check; the other thread gets (1, owner) and unlocks it."""

    def call(m):
        r = m.RLock()
        r.acquire()
        me = threading.get_ident()
        state = in_thread(r._release_save)
        return (state == (1, me), r._is_owned(), in_thread(lambda: r.acquire(False)))

    same(call, Returns((True, False, True)))


def test_release_save_twice(same):
    def call(m):
        r = m.RLock()
        r.acquire()
        r._release_save()
        return r._release_save()

    same(call, NOT_ACQUIRED)


class Seq:
    """A sequence that is not a tuple or list."""

    def __init__(self, *items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def _restore_error(text):
    return Raises(TypeError, "_acquire_restore() argument 1" + text)


# (id, state, Decision outcome: the repr after restoring, or the error)
RESTORE_CASES = [
    ("tuple", (3, 7), Returns("<locked MOD.RLock object owner=7 count=3>")),
    ("list", [1, 5], Returns("<locked MOD.RLock object owner=5 count=1>")),
    ("sequence", Seq(2, 9), Returns("<locked MOD.RLock object owner=9 count=2>")),
    ("bools", (True, False), Returns("<locked MOD.RLock object owner=0 count=1>")),
    ("count=0", (0, 4), Returns("<unlocked MOD.RLock object owner=4 count=0>")),
    ("count=-1", (-1, 7), Returns("<locked MOD.RLock object owner=7 count=%d>" % ULONG_MAX)),
    ("count=2**64", (2 ** 64, 3), Returns("<unlocked MOD.RLock object owner=3 count=0>")),
    ("length-1", (3,), _restore_error(" must be sequence of length 2, not 1")),
    ("length-3", (1, 2, 3), _restore_error(" must be sequence of length 2, not 3")),
    ("length-0", (), _restore_error(" must be sequence of length 2, not 0")),
    ("str-item0", ("x", 1), _restore_error(", item 0 must be int, not str")),
    ("str-item1", (1, "x"), _restore_error(", item 1 must be int, not str")),
    ("float-item", (1.0, 2), _restore_error(", item 0 must be int, not float")),
    ("None-item", (1, None), _restore_error(", item 1 must be int, not None")),
    ("int", 5, _restore_error(" must be 2-item sequence, not int")),
    ("None", None, _restore_error(" must be 2-item sequence, not None")),
    ("bytes", b"ab", _restore_error(" must be 2-item sequence, not bytes")),
    ("dict", {0: 1, 1: 2}, _restore_error(" must be 2-item sequence, not dict")),
    ("str", "ab", _restore_error(", item 0 must be int, not str")),
]


def _restore_params():
    for case_id, state, expect in RESTORE_CASES:
        # PyPy unpacks with its own texts and keeps a signed count.
        plain = case_id in ("tuple", "list", "sequence", "bools", "count=0")
        differs = NOBODY if plain else PYPY
        yield pytest.param(state, expect, differs, id=case_id + differs_id(differs))


@pytest.mark.parametrize("state,expect,differs", list(_restore_params()))
def test_acquire_restore_state(same, state, expect, differs):
    def call(m):
        r = m.RLock()
        r._acquire_restore(state)
        return re.sub(r" at 0x[0-9a-f]+>$", ">", repr(r)).replace("_thread.", "MOD.").replace(
            "lowthread.", "MOD.")

    same(call, expect, differs)


def test_acquire_restore_arity(same):
    same(lambda m: m.RLock()._acquire_restore(), Raises(TypeError), NOBODY, type_only=True)
    same(lambda m: m.RLock()._acquire_restore((1, 2), (1, 2)), Raises(TypeError), NOBODY,
         type_only=True)
    same(lambda m: m.RLock()._acquire_restore(state=(1, 2)), Raises(TypeError), NOBODY,
         type_only=True)


def test_acquire_restore_waits_for_the_lock(lt):
    r = lt.RLock()
    holder = Holder(r)
    threading.Timer(0.2, holder.stop).start()
    t0 = time.monotonic()
    assert r._acquire_restore((2, threading.get_ident())) is None
    assert time.monotonic() - t0 >= 0.15
    assert r._recursion_count() == 2
    r.release()
    r.release()
    assert in_thread(lambda: r.acquire(False) and not r.release())  # free


def test_condition_over_rlock(lt):
    """threading.Condition drives _release_save/_acquire_restore/_is_owned."""
    r = lt.RLock()
    cond = threading.Condition(r)
    ready = []

    def producer():
        time.sleep(0.05)
        with cond:
            ready.append(1)
            cond.notify()

    t = threading.Thread(target=producer, daemon=True)
    with cond:
        with cond:  # recursion level 2 is restored after wait()
            t.start()
            assert cond.wait_for(lambda: ready, timeout=WATCHDOG)
            assert r._recursion_count() == 2
    t.join(WATCHDOG)
    assert in_thread(lambda: r.acquire(False) and not r.release())  # free
    with pytest.raises(RuntimeError):
        cond.wait(0.01)  # not owned


def test_at_fork_reinit(same):
    def call(m):
        r = m.RLock()
        r.acquire()
        r.acquire()
        got = [r._at_fork_reinit(), r._is_owned(),
               re.sub(r" at 0x[0-9a-f]+>$", ">", repr(r)).split(" ", 1)[0],
               in_thread(lambda: (r.acquire(False), r.release()))]
        return tuple(got)

    same(call, Returns((None, False, "<unlocked", (True, None))))


# ---------------------------------------------------------------------------
# Threads and signals


def test_mutual_exclusion_stress(lt):
    r = lt.RLock()
    counter = [0]
    errors = []

    def work():
        try:
            for _ in range(2000):
                with r:
                    with r:
                        v = counter[0]
                        counter[0] = v + 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert counter[0] == 8000
    assert in_thread(lambda: r.acquire(False) and not r.release())  # free
    assert r._recursion_count() == 0


SIGNAL_SCRIPT = """
import signal, threading, time
{imp}
class Interrupted(Exception):
    pass
r = mod.RLock()
held = threading.Event()
stop = threading.Event()
def hold():
    r.acquire()
    held.set()
    stop.wait({hold})
    r.release()
t = threading.Thread(target=hold, daemon=True)
t.start()
held.wait(5)
def handler(signum, frame):
    raise Interrupted("alarm")
signal.signal(signal.SIGALRM, handler)
t0 = time.monotonic()
signal.setitimer(signal.ITIMER_REAL, 0.3)
try:
    {form}
    for _ in range(10):
        pass
    print("returned %.3f" % (time.monotonic() - t0))
except Interrupted:
    print("Interrupted %.3f" % (time.monotonic() - t0))
print("owned", r._is_owned())
stop.set()
t.join(5)
"""

IMPORTS = {"lowthread": "mod = lt", "native": "import _thread as mod"}


@pytest.mark.parametrize("which", ["lowthread", "native"])
@pytest.mark.parametrize("form", ["r.acquire()", "r.acquire(timeout=5)", "r.__enter__()"])
def test_raising_handler_interrupts_blocking_acquire(which, form):
    script = SIGNAL_SCRIPT.format(imp=IMPORTS[which], form=form, hold=10)
    proc = run_py(script, timeout=30)
    assert proc.rc == 0, proc
    lines = proc.out.split("\n")
    assert lines[0].startswith("Interrupted "), proc
    assert 0.28 <= float(lines[0].split()[1]) < 5.0, proc
    assert lines[1] == "owned False", proc


@pytest.mark.parametrize("which", ["lowthread", "native"])
def test_acquire_restore_is_not_interruptible(which):
    """The handler runs only after _acquire_restore got the lock (CPython waits uninterruptibly)."""
    script = SIGNAL_SCRIPT.format(imp=IMPORTS[which], hold=0.8,
                                  form="r._acquire_restore((1, threading.get_ident()))")
    proc = run_py(script, timeout=30)
    assert proc.rc == 0, proc
    lines = proc.out.split("\n")
    assert lines[0].startswith(("Interrupted ", "returned ")), proc
    assert float(lines[0].split()[1]) >= 0.75, proc
    assert lines[1] == "owned True", proc


def test_nonraising_handler_timed_wait_goes_on():
    proc = run_py("""
        import signal, threading, time
        r = lt.RLock()
        held = threading.Event()
        def hold():
            r.acquire()
            held.set()
            time.sleep(3)
            r.release()
        threading.Thread(target=hold, daemon=True).start()
        held.wait(5)
        calls = []
        signal.signal(signal.SIGALRM, lambda s, f: calls.append(time.monotonic() - t0))
        t0 = time.monotonic()
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        got = r.acquire(timeout=1.0)
        print(got, "%.3f" % (time.monotonic() - t0), len(calls))
    """, timeout=30)
    assert proc.rc == 0, proc
    got, elapsed, ncalls = proc.out.split()
    assert got == "False" and 0.95 <= float(elapsed) < 2.5 and ncalls == "1", proc
