"""Signals at random points, for test_stress.py (part 2): signal_fuzz and its scenarios.

A handler's exception strikes at a random point of `with lock:`, `with
rlock:`, RLock._release_save/_acquire_restore or Condition(RLock()).wait;
after each round the lock alone is checked.  No pytest here: _stress_work.py
runs signal_fuzz in fresh processes.
"""

import _thread as _native_thread
import collections
import os
import random
import signal
import sys
import threading
import time

from _stress_wakeups import now, wait_until

# ---------------------------------------------------------------------------
# 2. Signals at random points inside `with lock:` and RLock's save/restore


class Interrupted(Exception):
    """What the SIGALRM handler raises."""


_INTERRUPTS = (Interrupted, KeyboardInterrupt)
SCENARIOS = ("lock-with", "rlock-with", "rlock-nested-with", "rlock-save-restore",
             "condition-wait")
DELIVERIES = ("setitimer", "kill", "interrupt_main")
# Inner iterations between two looks at the clock and at the handler count.
# The loops below are `while True: ... if done: break`, never `while not
# done:`: on CPython 3.13.0 an exception a handler raises at the back edge of
# a `while <condition>:` loop that ends a try block escapes its except clause
# (python/cpython#130279; measured here: 31 of 200 escaped).
_CHUNK = 64
# How long one round may wait for its signal before it counts as empty.
_ROUND_LIMIT = 0.05


def _rlock_state(rl):
    """(levels this thread held, whether the lock was then free to take)."""
    held = 0
    while rl._is_owned() and held < 100:
        rl.release()
        held += 1
    free = rl.acquire(False)
    if free:
        rl.release()
    return held, free


class _Scenario:
    """One kind of round: a loop of lock operations that a signal interrupts.

    loop() runs until the signal's exception arrives (or a time limit) and
    returns (phase, outcome): phase is where the loop was, a small int the
    loop stores as it goes (stores are not places where handlers run);
    outcome is "hit" (the exception came out of the loop), "runtime-error"
    (RuntimeError came out), or "" (no exception).  check() then looks at
    the lock alone and returns a failure category or None, and leaves a
    usable lock behind.
    """

    def __init__(self, mod, fired):
        self.mod = mod
        self.fired = fired

    def setup_round(self):
        pass


def _with_loop(lk, fired, go):
    """The loop of LockWith and RLockWith: `with lk:` until the signal's exception."""
    f0 = fired[0]
    limit = now() + _ROUND_LIMIT
    ph = 0
    try:
        go()
        while True:
            for _ in range(_CHUNK):
                ph = 1
                with lk:
                    ph = 2
                ph = 0
            if fired[0] != f0 or now() >= limit:
                break
    except _INTERRUPTS:
        return ph, "hit"
    return ph, ""


class LockWith(_Scenario):
    """`with lock:` in a loop; left by an exception, the lock must be unlocked."""

    def __init__(self, mod, fired):
        super().__init__(mod, fired)
        self.lk = mod.allocate_lock()

    def loop(self, go):
        return _with_loop(self.lk, self.fired, go)

    def check(self):
        if not self.lk.locked():
            if self.lk.acquire(False):
                self.lk.release()
                return None
            self.lk = self.mod.allocate_lock()
            return "unlocked-but-unacquirable"
        try:
            self.lk.release()
        except RuntimeError:
            self.lk = self.mod.allocate_lock()
        return "held-after-with"


class _RLockScenario(_Scenario):
    def __init__(self, mod, fired):
        super().__init__(mod, fired)
        self.rl = mod.RLock()

    def _renew(self):
        self.rl = self.mod.RLock()

    def check(self):
        held, free = _rlock_state(self.rl)
        if not free:
            self._renew()
            return "free-but-unacquirable" if not held else "held-%d-then-unacquirable" % held
        if held not in self.allowed_levels:
            return "held-%d-after" % held
        return None

    allowed_levels = (0,)


class RLockWith(_RLockScenario):
    """`with rlock:`; left by an exception, this thread must not own the lock."""

    def loop(self, go):
        return _with_loop(self.rl, self.fired, go)


class RLockNestedWith(_RLockScenario):
    """`with rlock: with rlock:`; left by an exception, nothing is owned."""

    def loop(self, go):
        rl, fired = self.rl, self.fired
        f0 = fired[0]
        limit = now() + _ROUND_LIMIT
        ph = 0
        try:
            go()
            while True:
                for _ in range(_CHUNK):
                    ph = 1
                    with rl:
                        ph = 2
                        with rl:
                            ph = 3
                        ph = 4
                    ph = 0
                if fired[0] != f0 or now() >= limit:
                    break
        except _INTERRUPTS:
            return ph, "hit"
        return ph, ""


class RLockSaveRestore(_RLockScenario):
    """_release_save() / _acquire_restore() of a lock held twice, in a loop.

    Each call must happen entirely or not at all: after the exception the
    thread owns the lock exactly twice (restored, or the release never
    happened) or not at all (released, the state perhaps lost with the
    exception), and the lock can be taken.  Anything else (a count of 0
    with the C lock still held, an owner with no count, ...) is a failure.
    """

    allowed_levels = (0, 2)

    def setup_round(self):
        self.rl.acquire()
        self.rl.acquire()

    def loop(self, go):
        rl, fired = self.rl, self.fired
        f0 = fired[0]
        limit = now() + _ROUND_LIMIT
        ph = 0
        try:
            go()
            while True:
                for _ in range(_CHUNK):
                    ph = 1
                    state = rl._release_save()
                    ph = 2
                    rl._acquire_restore(state)
                    ph = 0
                if fired[0] != f0 or now() >= limit:
                    break
        except _INTERRUPTS:
            return ph, "hit"
        return ph, ""


class ConditionWait(_RLockScenario):
    """`with cond: cond.wait(0)` over threading.Condition(RLock()).

    threading.Condition is Python code with windows of its own, which the
    interpreter's own RLock shows as well: its __enter__ and __exit__ are
    Python functions around the lock's, so an exception can leave the lock
    owned once after `with cond:`; and an exception between _release_save()
    returning and wait()'s try: block leaves it released, so that `with`
    then raises RuntimeError("cannot release un-acquired lock") (counted as
    "runtime-error", not failed).  What must hold is the lock's own
    consistency: this thread owns it once or not at all, and once released
    it can be taken.
    """

    allowed_levels = (0, 1)

    def __init__(self, mod, fired):
        super().__init__(mod, fired)
        self.cond = threading.Condition(self.rl)

    def _renew(self):
        super()._renew()
        self.cond = threading.Condition(self.rl)

    def loop(self, go):
        cond, fired = self.cond, self.fired
        f0 = fired[0]
        limit = now() + _ROUND_LIMIT
        ph = 0
        try:
            go()
            while True:
                for _ in range(_CHUNK):
                    ph = 1
                    with cond:
                        ph = 2
                        cond.wait(0)
                        ph = 3
                    ph = 0
                if fired[0] != f0 or now() >= limit:
                    break
        except _INTERRUPTS:
            return ph, "hit"
        except RuntimeError as exc:
            if "un-acquired" not in str(exc) and "unlocked" not in str(exc):
                raise
            return ph, "runtime-error"
        return ph, ""


SCENARIO_CLASSES = {"lock-with": LockWith, "rlock-with": RLockWith,
                    "rlock-nested-with": RLockNestedWith,
                    "rlock-save-restore": RLockSaveRestore, "condition-wait": ConditionWait}


class _Delivery:
    """How a round's one signal is sent: arm() starts it, settle() makes sure it is over."""

    def __init__(self, kind, mod, rnd, fired):
        self.kind = kind
        self.rnd = rnd
        self.fired = fired
        self.requested = 0
        self.sent = [0]
        if kind == "setitimer":
            def on_alarm(signum, frame):
                fired[0] += 1
                raise Interrupted
            self.old = (signal.SIGALRM, signal.signal(signal.SIGALRM, on_alarm))
            return

        def on_int(signum, frame):
            fired[0] += 1
            signal.default_int_handler(signum, frame)

        self.old = (signal.SIGINT, signal.signal(signal.SIGINT, on_int))
        if kind == "kill":
            pid = os.getpid()

            def send():
                os.kill(pid, signal.SIGINT)
        else:
            send = mod.interrupt_main
        # The helper is a threading.Thread: the thread API is not what is tested here.
        self.go = threading.Lock()
        self.go.acquire()
        self.quit = False
        hrnd = random.Random(rnd.random())

        def helper():
            while True:
                self.go.acquire()
                if self.quit:
                    return
                if hrnd.random() < 0.7:
                    time.sleep(hrnd.uniform(0, 3e-4))
                send()
                self.sent[0] += 1

        self.helper = threading.Thread(target=helper, daemon=True)
        self.helper.start()
        # The helper runs only when the main thread lets go of the GIL: with
        # the interpreter's own lock that is at the switch interval, so make
        # it short, or a round would last 5 ms.
        self.old_switch = sys.getswitchinterval()
        sys.setswitchinterval(5e-5)

    def arm(self):
        self.requested += 1
        if self.kind == "setitimer":
            signal.setitimer(signal.ITIMER_REAL, self.rnd.uniform(5e-6, 3e-4))
        else:
            self.go.release()

    def settle(self):
        """Disarm, wait for the sent signal, and let a pending handler run now.

        Returns how many exceptions the handler raised in here (it may come
        out of any of these calls; each is safe to repeat).
        """
        late = 0
        for _ in range(100):
            try:
                if self.kind == "setitimer":
                    signal.setitimer(signal.ITIMER_REAL, 0)
                else:
                    wait_until(lambda: self.sent[0] >= self.requested, 5.0, 0.0002)
                # An empty mask change runs pending Python handlers at once.
                signal.pthread_sigmask(signal.SIG_BLOCK, ())
                return late
            except _INTERRUPTS:
                late += 1
        return late

    def close(self):
        if self.kind != "setitimer":
            sys.setswitchinterval(self.old_switch)
            self.quit = True
            self.go.release()
            self.helper.join(5.0)
        signal.signal(*self.old)


def signal_fuzz(mod, scenario, delivery, seconds, seed=0):
    """Rounds of: arm one signal, run the scenario's loop until it strikes, check the lock."""
    rnd = random.Random(seed)
    fired = [0]
    sc = SCENARIO_CLASSES[scenario](mod, fired)
    dl = _Delivery(delivery, mod, rnd, fired)
    counts = collections.Counter()
    failures = collections.Counter()
    try:
        end = now() + seconds
        while now() < end:
            counts["rounds"] += 1
            f0 = fired[0]
            sc.setup_round()
            phase, outcome = sc.loop(dl.arm)
            late = dl.settle()
            counts["late"] += late
            if outcome:
                counts[outcome] += 1
            elif fired[0] == f0:
                counts["empty"] += 1
            elif not late:
                counts["swallowed"] += 1  # raised inside a __del__ or callback
            category = sc.check()
            if category:
                failures["%s@phase%d" % (category, phase)] += 1
    finally:
        dl.close()
    counts["signals"] = fired[0]
    return {"scenario": scenario, "delivery": delivery, "module": mod.__name__,
            "seconds": seconds, "counts": dict(counts), "failures": dict(failures)}


# A lock broken on purpose (see _stress_work.broken_module): the signal fuzz
# must catch it.


class _PythonLevelLock:
    """__enter__/__exit__ as Python functions around a native lock.

    Between the native acquire returning and __enter__ returning, a signal
    handler can raise with the lock taken: the window signal_fuzz looks for.
    """

    def __init__(self):
        self._inner = _native_thread.allocate_lock()

    def acquire(self, blocking=True, timeout=-1):
        return self._inner.acquire(blocking, timeout)

    __enter__ = acquire

    def release(self):
        self._inner.release()

    def __exit__(self, *exc_info):
        self._inner.release()

    def locked(self):
        return self._inner.locked()
