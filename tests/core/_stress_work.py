"""Workloads for test_stress.py, importable in a fresh process (no pytest here).

Every workload takes the module under test (lowthread, or the interpreter's
own _thread as a baseline) and a time budget, and returns a dict of plain
counts; the test decides what they must be.  Every wait is bounded, so a lost
wakeup or a deadlock shows up as a count ("stuck", "unacquirable"), never as
a hang.

Run in a fresh process as ``python -c 'import _stress_work as w; w.main()' ARGS``
(see main()); it prints one JSON object per line.
"""

import _thread as _native_thread
import collections
import importlib
import json
import os
import random
import signal
import sys
import threading
import time
import traceback

now = time.monotonic


def wait_until(predicate, timeout, interval=0.002):
    """Poll predicate until it is true or timeout seconds have passed; return its value."""
    deadline = now() + timeout
    while True:
        value = predicate()
        if value or now() >= deadline:
            return value
        time.sleep(interval)


def _pause(rnd):
    """A random short pause: none, a GIL switch, or a sleep of up to 0.2 ms."""
    x = rnd.random()
    if x < 0.5:
        return
    if x < 0.8:
        time.sleep(0)
    else:
        time.sleep(rnd.uniform(0, 2e-4))


class _Workers:
    """Threads started with mod.start_new_thread; each one's exception is kept."""

    def __init__(self, mod, seed):
        self.mod = mod
        self.seed = seed
        self.done = []
        self.errors = []

    def start(self, fn, *args):
        i = len(self.done)
        self.done.append(False)
        rnd = random.Random(self.seed * 1000 + i)

        def body():
            try:
                fn(rnd, *args)
            except BaseException:  # noqa: BLE001 - reported by the test
                self.errors.append(traceback.format_exc())
            finally:
                self.done[i] = True

        self.mod.start_new_thread(body, ())
        return i

    def all_done(self, which=None):
        idx = range(len(self.done)) if which is None else which
        return all(self.done[i] for i in idx)


# ---------------------------------------------------------------------------
# 1. No lost wakeup: a Lock as a binary semaphore (handoff)


def lock_handoff(mod, seconds, untimed=3, timed=3, releasers=2, seed=0):
    """Waiters and releasers race on one lock used as a binary semaphore.

    The lock starts locked: "unlocked" means one token is available.  A
    release() that succeeds adds the token, a release() that raises
    RuntimeError found the token already there and added nothing; an acquire
    that returns True took the token, one that returns False took nothing.
    So at the end, with every thread stopped:

        successful releases - successful acquires == (0 if locked() else 1)

    A token that a timed acquire took but reported as False (or that a
    wakeup lost) makes the left side too big; an acquire that returned True
    without a token (two waiters woken by one release) makes it too small.
    Untimed waiters run until told to stop and must all come back: the
    releasers go on releasing until they have, so a waiter still asleep on
    an unlocked lock after the grace period lost its wakeup.
    """
    lk = mod.allocate_lock()
    lk.acquire()
    stop = [False]
    got = [0] * untimed
    tgot = [0] * timed
    tmiss = [0] * timed
    rel = [0] * releasers
    full = [0] * releasers
    early = []
    bad = []
    w = _Workers(mod, seed)

    def untimed_waiter(rnd, i):
        forms = (lk.acquire, lambda: lk.acquire(True), lambda: lk.acquire(timeout=-1),
                 lambda: lk.acquire(True, -1), lk.acquire_lock)
        while True:
            ok = forms[rnd.randrange(len(forms))]()
            if ok is not True:
                bad.append("untimed acquire returned %r" % (ok,))
                return
            got[i] += 1
            if stop[0]:
                return
            _pause(rnd)

    def timed_waiter(rnd, j):
        while not stop[0]:
            t = rnd.choice((0, 0, 1e-5, 1e-4, 5e-4, 2e-3))
            t0 = now()
            if t == 0:
                ok = lk.acquire(False) if rnd.random() < 0.5 else lk.acquire(blocking=False)
            else:
                ok = lk.acquire(timeout=t) if rnd.random() < 0.5 else lk.acquire(True, t)
            dt = now() - t0
            if ok is True:
                tgot[j] += 1
            elif ok is False:
                tmiss[j] += 1
                if dt < t:
                    early.append((t, dt))
            else:
                bad.append("timed acquire returned %r" % (ok,))
                return
            _pause(rnd)

    first_untimed = len(w.done)
    for i in range(untimed):
        w.start(untimed_waiter, i)
    untimed_ids = range(first_untimed, first_untimed + untimed)

    def releaser(rnd, k):
        while not (stop[0] and w.all_done(untimed_ids)):
            try:
                lk.release()
            except RuntimeError:
                full[k] += 1
            else:
                rel[k] += 1
            _pause(rnd)

    for j in range(timed):
        w.start(timed_waiter, j)
    for k in range(releasers):
        w.start(releaser, k)

    time.sleep(seconds)
    stop[0] = True
    grace = max(10.0, seconds)
    finished = wait_until(w.all_done, grace)
    stuck = []
    if not finished:
        stuck = [i for i in range(len(w.done)) if not w.done[i]]
        stuck_locked = lk.locked()
        # Rescue the stragglers (in-process runs must not leave threads
        # behind): keep releasing for a while; whether they then wake is
        # part of the report.
        deadline = now() + 5.0
        while not w.all_done() and now() < deadline:
            try:
                lk.release()
            except RuntimeError:
                pass
            time.sleep(0.001)
        stuck = {"threads": stuck, "lock_was_locked": stuck_locked,
                 "woke_after_rescue": w.all_done()}
    releases = sum(rel)
    acquires = sum(got) + sum(tgot)
    locked = lk.locked()
    # The end state must also behave as it claims.
    if locked:
        probe = lk.acquire(False) is False
        try:
            lk.release()
        except RuntimeError:
            probe = False
        probe = probe and lk.acquire(timeout=1.0) is True
    else:
        probe = lk.acquire(timeout=1.0) is True
    return {
        "workload": "lock_handoff", "seconds": seconds,
        "releases": releases, "acquires": acquires,
        "untimed_acquires": sum(got), "timed_acquires": sum(tgot),
        "timed_false": sum(tmiss), "release_found_unlocked": sum(full),
        "locked_at_end": locked, "balance": releases - acquires,
        "expected_balance": 0 if locked else 1, "probe_ok": probe,
        "early": early[:5], "n_early": len(early), "bad": bad[:5],
        "errors": w.errors[:3], "stuck": stuck,
    }


# ---------------------------------------------------------------------------
# 1b. RLock: mutual exclusion, recursion and liveness under timed and untimed waiters


def rlock_exclusion(mod, seconds, untimed=3, timed=3, seed=0):
    """Threads take an RLock (1-3 levels deep), check they are alone, release.

    A meddler keeps trying to release the lock it never owns: that must raise
    every time.  At the end every thread is back and the lock is free.
    """
    rl = mod.RLock()
    stop = [False]
    owner = [None]
    count = [0] * (untimed + timed)
    tmiss = [0] * timed
    violations = []
    early = []
    meddled = [0]
    w = _Workers(mod, seed)

    def worker(rnd, i, is_timed):
        while not stop[0]:
            if is_timed:
                t = rnd.choice((0, 1e-5, 1e-4, 1e-3))
                t0 = now()
                ok = rl.acquire(False) if t == 0 else rl.acquire(timeout=t)
                dt = now() - t0
                if ok is False:
                    tmiss[i - untimed] += 1
                    if dt < t:
                        early.append((t, dt))
                    _pause(rnd)
                    continue
                if ok is not True:
                    violations.append("timed acquire returned %r" % (ok,))
                    return
            elif rnd.random() < 0.5:
                rl.acquire()
            else:
                rl.__enter__()
            depth = 1 + rnd.randrange(3)
            for _ in range(depth - 1):
                again = rl.acquire(timeout=0.001) if rnd.random() < 0.5 else rl.acquire()
                if again is not True:
                    violations.append("recursive acquire returned %r" % (again,))
            if owner[0] is not None:
                violations.append("%d entered while %r was inside" % (i, owner[0]))
            owner[0] = i
            if rnd.random() < 0.3:
                time.sleep(0)
            if owner[0] != i:
                violations.append("%d was not alone inside" % i)
            owner[0] = None
            for _ in range(depth):
                rl.release()
            count[i] += 1
            _pause(rnd)

    def meddler(rnd):
        while not stop[0]:
            try:
                rl.release()
            except RuntimeError:
                meddled[0] += 1
            else:
                violations.append("a thread that does not own the RLock released it")
            time.sleep(rnd.uniform(0, 5e-4))

    for i in range(untimed + timed):
        w.start(worker, i, i >= untimed)
    w.start(meddler)
    time.sleep(seconds)
    stop[0] = True
    finished = wait_until(w.all_done, max(10.0, seconds))
    free = rl.acquire(timeout=1.0)
    if free:
        rl.release()
    return {
        "workload": "rlock_exclusion", "seconds": seconds,
        "acquisitions": sum(count), "timed_false": sum(tmiss), "meddled": meddled[0],
        "violations": violations[:5], "n_violations": len(violations),
        "early": early[:5], "n_early": len(early), "errors": w.errors[:3],
        "stuck": [] if finished else [i for i in range(len(w.done)) if not w.done[i]],
        "free_at_end": free,
    }


# ---------------------------------------------------------------------------
# 1c. threading.Condition over the RLock: _release_save/_acquire_restore under contention


def condition_tokens(mod, seconds, producers=2, consumers=4, seed=0):
    """Producers hand numbered tokens to consumers through a Condition(RLock).

    Half the consumers wait with timeouts, half without, some of them one
    recursion level deeper (so _release_save saves a count of 2).  Every
    token produced must be consumed exactly once, and everyone must return
    after the final notify_all().
    """
    rl = mod.RLock()
    cond = threading.Condition(rl)
    items = collections.deque()
    stop = [False]
    produced = [[] for _ in range(producers)]
    consumed = [[] for _ in range(consumers)]
    waits = [0]
    w = _Workers(mod, seed)

    def consumer(rnd, i):
        is_timed = i % 2 == 1
        while True:
            nested = rnd.random() < 0.3
            with cond:
                if nested:
                    cond.acquire()
                try:
                    while not items and not stop[0]:
                        waits[0] += 1
                        cond.wait(rnd.choice((1e-4, 1e-3, 5e-3)) if is_timed else None)
                    if items:
                        consumed[i].append(items.popleft())
                    elif stop[0]:
                        return
                finally:
                    if nested:
                        cond.release()
            _pause(rnd)

    def producer(rnd, k):
        n = 0
        while True:
            with cond:
                if stop[0]:  # looked at under the lock: no token after the last consumer left
                    return
                token = (k, n)
                n += 1
                items.append(token)
                produced[k].append(token)
                cond.notify()
            _pause(rnd)

    for i in range(consumers):
        w.start(consumer, i)
    for k in range(producers):
        w.start(producer, k)
    time.sleep(seconds)
    with cond:
        stop[0] = True
        cond.notify_all()
    finished = wait_until(w.all_done, max(10.0, seconds))
    all_produced = [t for p in produced for t in p]
    all_consumed = [t for c in consumed for t in c]
    free = rl.acquire(timeout=1.0)
    if free:
        rl.release()
    return {
        "workload": "condition_tokens", "seconds": seconds,
        "produced": len(all_produced), "consumed": len(all_consumed), "waits": waits[0],
        "duplicates": len(all_consumed) - len(set(all_consumed)),
        "lost": len(set(all_produced) - set(all_consumed)) if finished else None,
        "left_in_queue": len(items),
        "invented": len(set(all_consumed) - set(all_produced)),
        "errors": w.errors[:3],
        "stuck": [] if finished else [i for i in range(len(w.done)) if not w.done[i]],
        "free_at_end": free,
    }


WORKLOADS = {"lock_handoff": lock_handoff, "rlock_exclusion": rlock_exclusion,
             "condition_tokens": condition_tokens}


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


# ---------------------------------------------------------------------------
# 3. threading.local values die with the thread


def local_lifetime(mod, threads=1, limit=1.0):
    """Threads started by mod each store a value in a threading.local.

    Returns how long after the last thread's function returned its value was
    freed (its weakref callback and its __del__ both count), or None if not
    within limit seconds.  No other thread is started meanwhile (cffi frees
    a finished thread's state when another thread first calls back, which
    would hide the leak).
    """
    import gc
    import weakref

    class Value:
        def __del__(self):
            deleted.append(now())

    deleted = []
    callbacks = []
    refs = []
    local = threading.local()
    finished = []

    def body(i):
        value = Value()
        refs.append(weakref.ref(value, lambda _r: callbacks.append(now())))
        local.value = value
        del value
        finished.append(now())

    for i in range(threads):
        n = len(finished)
        mod.start_new_thread(body, (i,))
        if not wait_until(lambda n=n: len(finished) > n, 10.0, 0.0005):
            return {"error": "thread %d did not run" % i}
    t_end = finished[-1]
    deadline = t_end + limit
    while now() < deadline and (len(callbacks) < threads or len(deleted) < threads):
        time.sleep(0.002)
        gc.collect()
    alive = sum(r() is not None for r in refs)
    return {
        "threads": threads, "alive": alive, "callbacks": len(callbacks), "deleted": len(deleted),
        "freed_after": (max(callbacks) - t_end) if len(callbacks) == threads else None,
    }


# ---------------------------------------------------------------------------
# Deliberately broken locks: the tests run the workloads on these once, to show
# that the checks catch what they are meant to catch.


class _BrokenLock:
    """A native lock with one injected fault (kind), at the given rate."""

    def __init__(self, kind, rate=0.01):
        self._inner = _native_thread.allocate_lock()
        self._kind = kind
        self._rate = rate
        self._rnd = random.Random(1)

    def acquire(self, blocking=True, timeout=-1):
        if (self._kind == "phantom-grant" and not blocking
                and self._rnd.random() < self._rate):
            return True  # "acquired" without taking the token
        ok = self._inner.acquire(blocking, timeout)
        if (self._kind == "hidden-grant" and ok and timeout != -1
                and self._rnd.random() < self._rate):
            return False  # took the token, reports a timeout
        return ok

    acquire_lock = acquire

    def release(self):
        self._inner.release()

    def locked(self):
        return self._inner.locked()


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


def broken_module(kind):
    """A stand-in for the module under test whose allocate_lock() is broken as kind says."""
    import types

    factory = _PythonLevelLock if kind == "python-level" else (lambda: _BrokenLock(kind))
    return types.SimpleNamespace(__name__="broken:" + kind, allocate_lock=factory,
                                 start_new_thread=_native_thread.start_new_thread,
                                 interrupt_main=_native_thread.interrupt_main)


def _load(name):
    """A module by name, or "broken:KIND" for broken_module(KIND)."""
    if name.startswith("broken:"):
        return broken_module(name.partition(":")[2])
    return importlib.import_module(name)


# ---------------------------------------------------------------------------
# Command line (for subprocess runs)


def main(argv=None):
    """Command line for subprocess runs; prints one JSON object per line.

    workloads MODULE SECONDS SEED [NAME...]   the CPUs it may run on, then the
                                              workloads of part 1 (all by default)
    fuzz SCENARIO DELIVERY SEED MODULE=SECONDS...   signal_fuzz, once per module
    local MODULE THREADS                      local_lifetime
    """
    args = list(sys.argv[1:] if argv is None else argv)
    kind = args.pop(0)
    if kind == "workloads":
        mod = _load(args[0])
        seconds, seed = float(args[1]), int(args[2])
        cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        print(json.dumps({"cpus": cpus}), flush=True)
        for name in args[3:] or list(WORKLOADS):
            print(json.dumps(WORKLOADS[name](mod, seconds, seed=seed)), flush=True)
    elif kind == "fuzz":
        scenario, delivery, seed = args[0], args[1], int(args[2])
        for spec in args[3:]:
            name, _, seconds = spec.partition("=")
            result = signal_fuzz(_load(name), scenario, delivery,
                                 float(seconds), seed)
            print(json.dumps(result), flush=True)
    elif kind == "local":
        print(json.dumps(local_lifetime(importlib.import_module(args[0]), int(args[1]))),
              flush=True)
    else:
        raise SystemExit("unknown kind %r" % kind)
