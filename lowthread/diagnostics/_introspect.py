"""Who holds which lock and who waits for what (docs/behaviour.md §21).

Always on, and free: the C core keeps a lock's holder (lt_lock_holder,
lt_rlock_owner) and lists the waits that block (lt_waits), so an acquire
runs no Python code for it.  What the C core names by address is matched to
the Python objects at report time, by looking at every lowthread lock and
thread handle alive (gc.get_objects()), and so is what each thread holds: a
report costs time in proportion to the heap.
"""

import gc
import os
import signal
import sys
import time
import traceback
from typing import Any, NamedTuple, Optional

from .._lowthread import ffi
from ..core import _calls, _joinable, _threads
from ..core._lock import lock
from ..core._rlock import RLock
from . import _sites, _tracked

# lowthread's own frames (the thread entry's, dump()'s) are left out of the
# stacks.
_PACKAGE = _sites.PACKAGE
_WAITS_T = ffi.typeof("lt_wait_info_t[]")
_KINDS = (lock, RLock, _joinable._ThreadHandle)
# lowthread's own threads (the deadlock watchdog), left out of the reports,
# with the locks they hold.
hidden: set = set()


class Wait(NamedTuple):
    """What a thread is blocked in: the lock (or thread handle) it waits for
    (None for a lock lowthread keeps to itself), for how many seconds it has
    waited, and its timeout (None: untimed)."""

    on: Any
    seconds: float
    timeout: Optional[float]


class ThreadState(NamedTuple):
    """One thread, as thread_states() saw it."""

    name: Optional[str]        # threading's name for it, if threading knows it
    ident: int
    native_id: Optional[int]   # threading's native_id, if threading knows it
    lowthread: bool            # started by lowthread, or the main thread
    held: list             # the lowthread locks it holds
    waiting: Optional[Wait]    # what it is blocked in, if anything
    stack: traceback.StackSummary  # its Python stack, innermost last


def holder(lk):
    """The ident of the thread holding lk, or None if it is free.

    For a lock: the thread whose acquire took it (a lock has no owner: another
    thread may release it).  For an RLock: its owner.
    """
    if isinstance(lk, lock):
        ident = _calls.lock_holder(lk._lk)
    elif isinstance(lk, RLock):
        ident = _calls.rlock_owner(lk._lk)
    else:
        raise TypeError(f"holder() takes a lowthread lock or RLock, not {type(lk).__name__}")
    return ident or None


def waiters(obj):
    """The idents of the threads blocked waiting for obj (a lowthread lock,
    RLock or _ThreadHandle), oldest wait first."""
    if not isinstance(obj, _KINDS):
        raise TypeError("waiters() takes a lowthread lock, RLock or _ThreadHandle, "
                        f"not {type(obj).__name__}")
    return [w.ident for w in _c_waits() if w.on in _addresses(obj)]


def _address(cdata):
    return int(ffi.cast("uintptr_t", cdata))


def _addresses(obj):
    """The C objects whose waits are waits for obj."""
    if isinstance(obj, _joinable._ThreadHandle):
        # getattr: a handle another thread has made but not yet initialized
        # is in gc.get_objects() too.
        thread, event = getattr(obj, "_thread", None), getattr(obj, "_event", None)
        if thread is not None:
            return {_address(thread)}
        return {_address(event._lk)} if event is not None else set()
    return {_address(obj._lk)}


class _CWait(NamedTuple):
    ident: int
    on: int          # the address of what it waits for
    since_us: int
    timeout_us: int


def _c_waits():
    """The waits the C core lists (lt_waits), oldest first."""
    size = _calls.waits(None, 0) + 8
    while True:
        buf = ffi.new(_WAITS_T, size)
        n = _calls.waits(buf, size)
        if n <= size:
            return [_CWait(w.ident, _address(w.on), w.since_us, w.timeout_us)
                    for w in buf[0:n]]
        size = n + 8


def _snapshot(d):
    """A copy of a dict other threads change (a copy can meet a resize)."""
    while True:
        try:
            return dict(d)
        except RuntimeError:
            continue


def _scan(holders=True):
    """Over every lowthread lock and thread handle alive: {ident: [locks it
    holds]} (empty unless holders) and {address of a C object: its Python
    object}.  Asking for holders makes a C call per lock, each of which
    lets go of the GIL: slow while another thread keeps it busy."""
    held: dict = {}
    objects: dict = {}
    for obj in gc.get_objects():
        if isinstance(obj, _joinable._ThreadHandle):
            # Over the lock of a handle's event (_make_thread_handle).
            for address in _addresses(obj):
                objects[address] = obj
        elif isinstance(obj, (lock, RLock)):
            c = getattr(obj, "_lk", None)
            if c is None:
                # Another thread is inside its constructor (the C lock is
                # being made without the GIL): nobody can hold or wait for it.
                continue
            objects.setdefault(_address(c), obj)
            if not holders:
                continue
            ident = holder(obj)
            if ident is not None and ident not in hidden:
                held.setdefault(ident, []).append(obj)
    return held, objects


def _threading_threads():
    threading = sys.modules.get("threading")
    active = getattr(threading, "_active", None)
    return _snapshot(active) if isinstance(active, dict) else {}


def thread_states():
    """The state of every Python thread: the main thread, lowthread's threads
    and any other thread that runs Python code, main thread first."""
    return _states(*_scan())


def _states(held, objects):
    frames = sys._current_frames()
    waits = {w.ident: w for w in _c_waits()}
    named = _threading_threads()
    main = _threads._get_main_thread_ident()
    ours = set(_snapshot(_threads._jobs)) | {main}
    now = _calls.monotonic_us()
    states = []
    for ident in sorted(set(frames) - hidden, key=lambda i: (i != main, i)):
        thread = named.get(ident)
        wait = waits.get(ident)
        states.append(ThreadState(
            name=getattr(thread, "name", None),
            ident=ident,
            native_id=getattr(thread, "native_id", None),
            lowthread=ident in ours,
            held=held.get(ident, []),
            waiting=None if wait is None else Wait(
                objects.get(wait.on), (now - wait.since_us) / 1e6,
                None if wait.timeout_us < 0 else wait.timeout_us / 1e6),
            stack=_stack(frames[ident]),
        ))
    return states


def _stack(frame):
    stack = traceback.extract_stack(frame)
    return traceback.StackSummary.from_list(
        [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE)])


def _waited_by(state):
    """The ident of the thread that state's wait depends on, or None."""
    on = state.waiting.on if state.waiting is not None else None
    if isinstance(on, (lock, RLock)):
        return holder(on)
    if isinstance(on, _joinable._ThreadHandle):
        return on.ident
    return None


def wait_chains(states):
    """The wait-for chains among states: lists of idents, each thread waiting
    for the next; a chain that ends where it began is a cycle (its first
    ident repeated at its end)."""
    by_ident = {s.ident: s for s in states}
    chains, seen = [], set()
    for s in states:
        if s.waiting is None or s.ident in seen:
            continue
        chain, here = [s.ident], s
        while True:
            nxt = _waited_by(here)
            if nxt is None:
                break
            chain.append(nxt)
            if nxt in chain[:-1] or nxt not in by_ident:
                break
            here = by_ident[nxt]
            if here.waiting is None:
                break
        seen.update(chain)
        if len(chain) > 1:
            chains.append(chain)
    return chains


def taken_at(lk):
    """"file:line" where lk was taken, while deadlock detection or
    lock-order checking notes it (§22-23); else None."""
    site = getattr(lk, "_site", None) if _tracked.modes else None
    return None if site is None else _sites.text(site)


def _label(state):
    name = f"{state.name!r} " if state.name is not None else ""
    return f"{name}(ident {state.ident})"


def _describe(obj):
    if obj is None:
        return "a lock of lowthread's own"
    if isinstance(obj, _joinable._ThreadHandle):
        return f"the end of thread {obj.ident}"
    return f"{type(obj).__name__} at {id(obj):#x}"


def dump(file=None):
    """Write who holds what, who waits for what, every thread's stack and the
    wait-for chains, for a person to read (file: default sys.stderr)."""
    if file is None:
        file = sys.stderr
    held, objects = _scan()
    states = _states(held, objects)
    by_ident = {s.ident: s for s in states}
    main = _threads._get_main_thread_ident()
    out = [f"lowthread: {len(states)} threads at {time.strftime('%H:%M:%S')}"]
    for s in states:
        kind = "main thread" if s.ident == main else (
            "lowthread thread" if s.lowthread else "not started by lowthread")
        native = f", native id {s.native_id}" if s.native_id is not None else ""
        out.append(f"\nThread {_label(s)}{native}, {kind}")
        for obj in s.held:
            site = taken_at(obj)
            out.append(f"  holds {_describe(obj)}" + (f", taken at {site}" if site else ""))
        if s.waiting is not None:
            w = s.waiting
            timed = "untimed" if w.timeout is None else f"timeout {w.timeout:g} s"
            by = _waited_by(s)
            verb = "" if isinstance(w.on, _joinable._ThreadHandle) else ", held by"
            whom = f"{verb} {_label(by_ident[by])}" if by in by_ident and verb else (
                f"{verb} thread {by}" if by is not None and verb else "")
            out.append(f"  waits for {_describe(w.on)}{whom}, for {w.seconds:.3f} s ({timed})")
        out.append("  stack (most recent call last):")
        out.extend("  " + line.rstrip("\n").replace("\n", "\n  ")
                   for line in traceback.format_list(s.stack))
    gone = [(ident, obj) for ident, objs in sorted(held.items())
             if ident not in by_ident for obj in objs]
    if gone:
        out.append("\nHeld by threads that no longer run Python code:")
        out.extend(f"  {_describe(obj)}, by thread {ident}" for ident, obj in gone)
    chains = wait_chains(states)
    if chains:
        out.append("\nWait-for chains (each thread waits for the next):")
        for chain in chains:
            names = " -> ".join(_label(by_ident[i]) if i in by_ident else f"thread {i}"
                                for i in chain)
            cycle = chain[0] == chain[-1]
            out.append(f"  {names}{'  (a cycle)' if cycle else ''}")
    file.write("\n".join(out) + "\n")
    file.flush()


def dump_on(signum, file=None):
    """From now on, write dump() to file (default: sys.stderr as it is then)
    whenever signal signum arrives, as faulthandler.register() does for
    stacks.  Must be called from the main thread (signal.signal's rule).
    Returns the signal's previous handler.

    The report is made by a Python signal handler, in the main thread: a
    wait of the main thread has ended (to let the handler run) by the time
    it looks, so the main thread shows its stack but no wait.
    """
    def handler(signum, frame):
        dump(file)

    return signal.signal(signum, handler)
