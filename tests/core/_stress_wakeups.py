"""Lost-wakeup workloads for test_stress.py (part 1), and the helpers every workload uses.

Waiters (timed and untimed) and releasers race on a lock used as a binary
semaphore, on an RLock, and on a threading.Condition over the RLock; each
workload keeps exact accounts (lock_handoff says how) and returns them as a
dict of plain counts.  No pytest here: _stress_work.py runs these in fresh
processes too.
"""

import _thread as _native_thread
import collections
import random
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


# A lock broken on purpose (see _stress_work.broken_module): the handoff
# accounting must catch it.


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
