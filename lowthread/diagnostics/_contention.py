"""The lock contention profile, opt-in (docs/behaviour.md §25).

Which lock do the threads wait for, from where, and whose hold made them
wait?  While it records, the C core tells the binding of every acquire that
slept and every release that woke a waiter (lowthread.h's contention hook);
the binding notes one in `every` of them, at random, and the lock call
returns LTPY_NOTED, so that this module takes the Python stack there and
then (_wait.noted_wait, _wait.released).  Uncontended calls never come here.

A wait is charged to the lock's class (the site that made it, as lock-order
checking groups locks) and to the waiting stack; the wake, with how long the
woken thread had waited, to the releasing stack: the hold that made it wait,
as Go's mutex profile charges it.  Waits for a notification (a lock acquired
by threading's Condition.wait: Event.wait, Queue.get, Semaphore, Barrier...)
are kept apart: an idle consumer is not contention.  Joins and lowthread's
own locks are not recorded.
"""

import sys

from ..core import _methods, _wait
from ..core._lock import lock
from ..core._rlock import RLock
from . import _lockgraph, _sites, _tracked

_getframe = sys._getframe
_PACKAGE = _sites.PACKAGE
# The files of the lock code the frames of a noted call pass through first.
_LOCK_CODE_FILES = frozenset(fn.__code__.co_filename for fn in (
    _wait.noted_wait, lock.__dict__["_at_fork_reinit"], RLock.__dict__["_release_save"],
    _tracked.switch))
_MAX_DEPTH = 64
_INTERNAL = _lockgraph.INTERNAL

settings: dict = {"every": 0}
# (kind, LockClass) -> _Record; kind is "lock" or "condition".
_records: dict = {}
_guard = lock()
_take_guard = _methods.PLAIN[lock]["acquire"]  # the plain methods, as _lockgraph's graph lock
_give_guard = _methods.PLAIN[lock]["release"]
# threading's functions whose lock waits are not contention: code -> kind.
_threading_codes: dict = {"module": None, "codes": {}}


class _Record:
    """What was recorded of one class of locks."""

    __slots__ = ("waits", "timeouts", "total_us", "max_us", "sites", "stacks", "holds",
                 "hold_stacks")

    def __init__(self):
        self.waits = self.timeouts = self.total_us = self.max_us = 0
        self.sites: dict = {}  # waiting site -> [waits, us]
        self.stacks: dict = {}  # waiting stack -> us
        self.holds: dict = {}  # releasing site -> [wakes, us]
        self.hold_stacks: dict = {}  # releasing stack -> us


def _codes():
    """{code: kind} for threading's waits and wakes that are not lock
    contention: "condition" (Condition.wait's wait on its waiter lock),
    "notify" (notify's release of one) and "join" (for a thread's end on
    3.9-3.12).  Condition.wait's release and re-acquire of the Condition's
    own lock are contention: the RLock's come through _release_save and
    _acquire_restore (restoring), a plain Lock's through Condition's own
    methods of those names."""
    threading = sys.modules.get("threading")
    if _threading_codes["module"] is not threading:
        codes = {}
        if threading is not None:
            for owner, name, kind in ((threading.Condition, "wait", "condition"),
                                      (threading.Condition, "notify", "notify"),
                                      (threading.Thread, "_wait_for_tstate_lock", "join"),
                                      (threading.Thread, "join", "join"),
                                      (threading, "_shutdown", "join")):
                code = getattr(getattr(owner, name, None), "__code__", None)
                if code is not None:
                    codes[code] = kind
        _threading_codes["module"], _threading_codes["codes"] = threading, codes
    return _threading_codes["codes"]


def _caller(frame):
    """The first frame outside the lock code, or None if it is lowthread's
    own (its internal locks, and this module's guard, are not recorded)."""
    while frame is not None and frame.f_code.co_filename in _LOCK_CODE_FILES:
        frame = frame.f_back
    if frame is None or frame.f_code.co_filename.startswith(_PACKAGE):
        return None
    return frame


def _site_and_stack(frame):
    """(site, stack) from frame: the site is the first frame outside
    lowthread and threading (the innermost outside lowthread if none),
    (file, line, function); the stack, outermost first, lowthread's frames
    left out."""
    site = inner = None
    stack: list = []
    skipped = _sites.skipped
    while frame is not None and len(stack) < _MAX_DEPTH:
        code = frame.f_code
        filename = code.co_filename
        if not filename.startswith(_PACKAGE):
            where = (filename, frame.f_lineno, code.co_name)
            stack.append(where)
            if site is None:
                skip = skipped.get(filename)
                if skip is None:
                    skip = _sites._is_skipped(filename)
                if not skip:
                    site = where
                elif inner is None:
                    inner = where
        frame = frame.f_back
    stack.reverse()
    return site or inner, tuple(stack)


def _class(obj, frame):
    """obj's class; one made before recording began gets the class of the
    site that first waits for it (or releases it to a waiter)."""
    return _lockgraph.class_of(obj, _sites.site(frame))


def _record(kind, c):
    r = _records.get((kind, c))
    if r is None:
        r = _records[(kind, c)] = _Record()
    return r


def _charge(sites, stacks, site, stack, us):
    """One more event of us microseconds at site (sites: site -> [events,
    us]) and stack (stacks: stack -> us); the guard held."""
    entry = sites.get(site)
    if entry is None:
        sites[site] = [1, us]
    else:
        entry[0] += 1
        entry[1] += us
    stacks[stack] = stacks.get(stack, 0) + us


class _Recorder:
    """What _wait calls on a noted wait or release (see _wait.profile)."""

    @staticmethod
    def waited(obj, status, us, restoring):
        frame = _caller(_getframe(2))
        if frame is None:
            return
        kind = "lock" if restoring else _codes().get(frame.f_code, "lock")
        if kind == "join":
            return
        c = _class(obj, frame)
        if c is _INTERNAL:
            return
        site, stack = _site_and_stack(frame)
        _take_guard(_guard)
        try:
            r = _record(kind, c)
            r.waits += 1
            r.timeouts += status == _wait.TIMEDOUT
            r.total_us += us
            if us > r.max_us:
                r.max_us = us
            _charge(r.sites, r.stacks, site, stack, us)
        finally:
            _give_guard(_guard)

    @staticmethod
    def woke(obj, us, handed):
        frame = _caller(_getframe(2))
        if frame is None or _codes().get(frame.f_code) in ("notify", "join"):
            return
        c = _class(obj, frame)
        if c is _INTERNAL:
            return
        site, stack = _site_and_stack(frame)
        _take_guard(_guard)
        try:
            r = _record("lock", c)
            _charge(r.holds, r.hold_stacks, site, stack, us)
        finally:
            _give_guard(_guard)


def record_contention(every=1):
    """Record lock contention from now on (idempotent; a second call sets
    every anew): each acquire that has to wait, and each release that wakes
    a waiter, one in every of them at random.  Read with contention() or
    write_contention()."""
    if isinstance(every, bool) or not isinstance(every, int):
        raise TypeError(f"every must be an int, not {type(every).__name__}")
    if not 1 <= every <= 2**31 - 1:
        raise ValueError("every must be at least 1 (record one in every contended events)")
    from .._lowthread import lib

    if not settings["every"]:
        _tracked.switch("made", True)
    settings["every"] = every
    _wait.profile[0] = _Recorder
    lib.ltpy_record_contention(every)


def stop_recording_contention():
    """Stop recording; what was recorded stays until reset_contention()."""
    from .._lowthread import lib

    if not settings["every"]:
        return
    lib.ltpy_record_contention(0)
    _wait.profile[0] = None
    settings["every"] = 0
    _tracked.switch("made", False)


def reset_contention():
    """Forget what was recorded."""
    _take_guard(_guard)
    try:
        _records.clear()
    finally:
        _give_guard(_guard)


def _site_text(site):
    if site is None:
        return "an unknown place"
    filename, line, name = site
    return f"{filename}:{line} in {name}"


def _top(table, n):
    return sorted(table.items(), key=lambda item: (-item[1][1], -item[1][0]))[:n]


def contention(top=5):
    """The profile as data: a list of dicts, one per lock class and kind,
    the most waited-for first.  Each has kind ("lock", or "condition": waits
    for a notification), lock (what the class is), made_at (its site, or
    None for a lock made before recording began), waits, timeouts, total_s,
    mean_s, max_s, waiting (the top waiting sites: dicts of site, waits,
    total_s), holding (the top releasing sites whose holds made others wait:
    site, wakes, total_s), and every (the sampling: one event in every)."""
    _take_guard(_guard)
    try:
        items = [(kind, c, r, list(r.sites.items()), list(r.holds.items()))
                 for (kind, c), r in _records.items()]
    finally:
        _give_guard(_guard)
    out = []
    for kind, c, r, sites, holds in items:
        if not r.waits and not holds:
            continue
        made = None if c.before_checking else _sites.text(c.made, True)
        out.append({
            "kind": kind,
            "lock": (f"a lock made at {made}" if made is not None else
                     f"a lock first waited for at {_sites.text(c.made, True)} "
                     "(made before recording began)"),
            "made_at": made,
            "waits": r.waits,
            "timeouts": r.timeouts,
            "total_s": r.total_us / 1e6,
            "mean_s": r.total_us / r.waits / 1e6 if r.waits else 0.0,
            "max_s": r.max_us / 1e6,
            "waiting": [{"site": _site_text(s), "waits": n, "total_s": us / 1e6}
                        for s, (n, us) in _top(dict(sites), top)],
            "holding": [{"site": _site_text(s), "wakes": n, "total_s": us / 1e6}
                        for s, (n, us) in _top(dict(holds), top)],
            "every": settings["every"] or None,
        })
    out.sort(key=lambda d: (d["kind"] != "lock", -d["total_s"], -d["waits"]))
    return out


def _table(file, top):
    profile = contention(3)
    every = settings["every"]
    sampled = f"one in {every} recorded" if every and every > 1 else "all recorded"
    locks = [d for d in profile if d["kind"] == "lock"]
    conditions = [d for d in profile if d["kind"] == "condition"]
    total = sum(d["total_s"] for d in locks)
    lines = [f"lowthread: lock contention ({sampled}): {sum(d['waits'] for d in locks)} "
             f"waits, {total:.3f} s waited, over {len(locks)} lock classes"]
    if locks:
        lines.append("   waits  total s   mean ms    max ms  lock")
    for d in locks[:top]:
        lines.append(f"{d['waits']:8d} {d['total_s']:8.3f} {d['mean_s'] * 1e3:9.3f} "
                     f"{d['max_s'] * 1e3:9.3f}  {d['lock']}"
                     + (f" ({d['timeouts']} timed out)" if d["timeouts"] else ""))
        for s in d["waiting"]:
            lines.append(f"{'':19}waiting {s['waits']:6d} {s['total_s']:8.3f} s  {s['site']}")
        for s in d["holding"]:
            lines.append(f"{'':19}holding {s['wakes']:6d} {s['total_s']:8.3f} s  {s['site']}")
    if len(locks) > top:
        lines.append(f"  ... and {len(locks) - top} more lock classes")
    if conditions:
        lines.append("waits for a notification (Condition.wait: Event, Queue, Semaphore...), "
                     "not contention:")
        for d in conditions[:top]:
            lines.append(f"{d['waits']:8d} {d['total_s']:8.3f} {d['mean_s'] * 1e3:9.3f} "
                         f"{d['max_s'] * 1e3:9.3f}  {d['waiting'][0]['site']}")
    file.write("\n".join(lines) + "\n")


def _frame_text(where):
    filename, line, name = where
    return f"{name} ({filename}:{line})".replace(";", ":")


def _collapsed(file, holders):
    """One line per stack: frames outermost first, then the lock's class,
    and the microseconds waited (holders: that the hold made others wait)."""
    _take_guard(_guard)
    try:
        rows = [(kind, c, list((r.hold_stacks if holders else r.stacks).items()))
                for (kind, c), r in _records.items()]
    finally:
        _give_guard(_guard)
    lines = []
    for kind, c, stacks in rows:
        leaf = (("waiting for a notification on " if kind == "condition" else "")
                + c.describe().replace("(made before checking began)",
                                       "(made before recording began)")).replace(";", ":")
        for stack, us in stacks:
            if us > 0:
                lines.append(";".join([*map(_frame_text, stack), leaf]) + f" {us}")
    lines.sort()
    file.write("".join(line + "\n" for line in lines))


_FORMATS = ("table", "collapsed", "collapsed-holders")


def write_contention(file=None, format="table", top=10):
    """Write the profile to file (default: sys.stderr): format "table" (the
    top lock classes, for people), "collapsed" (the waiting stacks, one per
    line, "frame;frame;lock microseconds": what flamegraph.pl, speedscope
    and inferno read) or "collapsed-holders" (the same of the releasing
    stacks whose holds made others wait)."""
    if format not in _FORMATS:
        raise ValueError(f"format must be one of {', '.join(map(repr, _FORMATS))}, "
                         f"not {format!r}")
    out = file if file is not None else sys.stderr
    if format == "table":
        _table(out, top)
    else:
        _collapsed(out, format == "collapsed-holders")
    out.flush()


def format_for(path):
    """The format a file of the profile gets by its name: *.folded and
    *.collapsed the waiting stacks, anything else the table."""
    return "collapsed" if path.endswith((".folded", ".collapsed")) else "table"


def write_at_exit(path=None):
    """Stop recording and write the profile: the table to sys.stderr, or
    to path in the format its name says (format_for)."""
    stop_recording_contention()
    if path is None:
        write_contention(sys.stderr)
        return
    with open(path, "w") as f:
        write_contention(f, format_for(path))
