"""Starting threads, the thread bootstrap, identity and stack size."""

import operator
import os
import sys
import weakref

from .._lowthread import ffi, lib
from . import _calls, _interp, _status, _unraisable
from ._lock import lock

get_ident = _calls.get_ident
if lib.lt_have_native_id():
    get_native_id = _calls.get_native_id

# Started threads whose bootstrap has not yet taken its handle back: the
# handle must stay alive until then (cffi's rule for ffi.new_handle).
_handles = set()
# Threads running their function: what _count() counts.
_running = set()
# The lowthread threads that are alive, by ident, until they end.
_jobs: dict = {}
# For threads lowthread did not start: what thread_token() gives them.
_foreign: dict = {}
# The ltpy_end_t of threads that have ended or are ending, with the two locks
# in it, kept alive until the C entry is done with them (see _sweep).
_ending: dict = {}
# Weak references to the live sentinel locks, whose callbacks take their C
# locks out of the binding's list (binding/lt_py.c).
_sentinel_refs: set = set()
_NO_KWARGS: dict = {}
# Where every thread starts: ltpy_thread_main (binding/lt_py_entry.h) runs the
# extern "Python" bootstrap() inside a thread state that ends with the thread.
_ENTRY = ffi.addressof(lib, "ltpy_thread_main")
# C types parsed once: ffi.new() of a parsed type costs half as much.
_START_T = ffi.typeof("ltpy_start_t *")
_IDENT_T = ffi.typeof("uint64_t *")
_END_T = ffi.typeof("ltpy_end_t *")
# Set once the interpreter has begun to exit (see at_exit).
_exiting = False
# How long, in microseconds, the exit guard waits for threads to enter Python.
_ENTER_WAIT_US = 1_000_000


class _Start:
    __slots__ = ("function", "args", "kwargs", "handle", "start", "ident", "hold", "at_end",
                 "sentinel", "locals")

    def __init__(self, function, args, kwargs, hold, at_end):
        self.function = function
        self.args = args
        self.kwargs = kwargs
        self.handle = ffi.new_handle(self)
        # What ltpy_thread_main gets: the handle and the interpreter to run in.
        self.start = ffi.new(_START_T, (_interp.INTERP, self.handle))
        self.ident = 0
        self.hold = hold
        self.at_end = at_end
        self.sentinel = None  # the _set_sentinel() lock the C entry releases
        self.locals = None  # the thread's _local values (see _local)


class _Foreign:
    """thread_token() of a thread that lowthread did not start."""

    __slots__ = ("locals",)

    def __init__(self):
        self.locals = None


def _drop_locals(token):
    """Free the thread-local values of the thread token stands for."""
    while token.locals:  # a __del__ among the values may make new ones
        impls, token.locals = token.locals, None
        for impl in impls:
            impl.forget(token)


@ffi.def_extern(name="ltpy_state_cleared")
def _state_cleared(ident):
    """The interpreter has cleared the thread state of lowthread's thread
    ident (CPython; binding/lt_py_entry.h): at exit, for a thread still
    running, its local values die now, as native ones do, while the modules
    they may use are still whole.  A thread that has ended is not in _jobs."""
    job = _jobs.get(ident)
    if job is not None and job.locals:
        _drop_locals(job)


def thread_token():
    """An object that belongs to the calling thread: its lowthread start record
    while the thread lives, else one kept for it (by ident) for good."""
    ident = get_ident()
    token = _jobs.get(ident)
    if token is None:
        token = _foreign.get(ident)
        if token is None:
            token = _foreign[ident] = _Foreign()
    return token


def start_new_thread(*args, **kwargs):
    """start_new_thread(function, args, kwargs={}, /)

    Start a new thread running function(*args, **kwargs) and return its
    identifier.  The thread ends silently when the function returns or raises
    SystemExit; any other exception goes to sys.unraisablehook.
    """
    if kwargs:
        raise TypeError("start_new_thread() takes no keyword arguments")
    if len(args) < 2:
        raise TypeError(f"start_new_thread expected at least 2 arguments, got {len(args)}")
    if len(args) > 3:
        raise TypeError(f"start_new_thread expected at most 3 arguments, got {len(args)}")
    function, fargs = args[0], args[1]
    fkwargs = args[2] if len(args) == 3 else None
    if not callable(function):
        raise TypeError("first arg must be callable")
    if not isinstance(fargs, tuple):
        raise TypeError("2nd arg must be a tuple")
    if len(args) == 3 and not isinstance(fkwargs, dict):
        raise TypeError("optional 3rd arg must be a dictionary")
    sys.audit("_thread.start_new_thread", function, fargs, fkwargs)
    return start(function, fargs, _NO_KWARGS if fkwargs is None else fkwargs)


def start(function, args, kwargs, starter=lib.lt_thread_start, hold=None, at_end=None):
    """Run function(*args, **kwargs) on a thread made by starter; return its ident.

    starter is lt_thread_start or a function with its arguments.  hold, if
    given, is a held lock that the new thread acquires before it calls
    function: the caller releases it once it has recorded the thread.
    at_end, if given, is called in the thread after function.
    """
    if not _interp.THREADS_ALLOWED:
        _status.threads_not_allowed()
    if sys.is_finalizing():
        _status.finalizing()
    job = _Start(function, args, kwargs, hold, at_end)
    ident = ffi.new(_IDENT_T)
    _handles.add(job.handle)
    rc = starter(_ENTRY, job.start, ident)
    if rc:
        _handles.discard(job.handle)
        # job and its handle refer to each other: let go of the caller's
        # objects now, not when the cycle collector comes by.
        job.function = job.args = job.kwargs = job.handle = job.hold = job.at_end = None
        _status.start_failed(rc)
    if _exiting:
        lib.lt_threads_wait_started(_ENTER_WAIT_US)
    return ident[0]


@ffi.def_extern(name="ltpy_bootstrap")
def bootstrap(arg):
    """The body of every thread lowthread starts, called by the C core (an
    extern "Python" function) in the new thread.  Returns the ltpy_end_t
    that the C entry releases after the thread's state is gone, or NULL."""
    job = ffi.from_handle(arg)
    _handles.discard(job.handle)
    # In Python now: what lt_threads_wait_started() waits for (see at_exit).
    lib.lt_thread_started()
    job.handle = job.start = None  # the cycle job <-> handle ends here
    job.ident = get_ident()
    _jobs[job.ident] = job
    _running.add(job)
    try:
        if job.hold is not None:
            job.hold.acquire()
        job.function(*job.args, **job.kwargs)
    except SystemExit:
        pass
    except BaseException as exc:
        _unraisable.report(exc, job.function)
    finally:
        # Leave the count before the function can die, as CPython does: a
        # weakref callback on the function may already look at _count().
        _running.discard(job)
        job.function = job.args = job.kwargs = job.hold = None
        # The thread's local values die here, while it is still itself: a
        # __del__ they run may use thread-locals too.
        if job.locals:
            _drop_locals(job)
        if job.at_end is not None:
            job.at_end()
        _jobs.pop(job.ident, None)
    return ffi.NULL if job.sentinel is None else _end(job.sentinel)


def _end(sentinel):
    """The ltpy_end_t for a thread's sentinel, or NULL if nobody waits on it."""
    if not sentinel.locked():
        return ffi.NULL
    finished = lock()
    finished.acquire()
    end = ffi.new(_END_T, (sentinel._lk, finished._lk))
    _ending[end] = (sentinel, finished)
    return end


def _sweep():
    """Let go of the ltpy_end_t whose C entry has released both locks."""
    for end in list(_ending):
        entry = _ending.get(end)
        if entry is not None and entry[1].acquire(False):
            _ending.pop(end, None)


def _count():
    """The number of threads started by lowthread that are still running."""
    return len(_running)


def _sentinel_dropped(lk, forget=lib.ltpy_sentinel_drop, drop=_sentinel_refs.discard):
    """The weak reference callback that takes a dead sentinel's C lock out
    of the binding's list (bound here: it may run as the interpreter ends,
    once module globals are gone)."""
    return lambda ref: (forget(lk), drop(ref))


def _set_sentinel():
    """A lock that is released, if locked, when the calling thread has ended.

    What threading acquires and then waits on to join a thread on CPython
    3.9-3.12 and PyPy (its _tstate_lock).  Released by the C entry once the
    thread's state is gone (binding/lt_py_entry.h), so after its
    thread-local values too; never, for a thread lowthread did not start
    (threading releases the main thread's itself).
    """
    sentinel = lock()
    # Held by its thread for as long as it runs: never part of a lock order
    # nor of the contention profile.  No class (None) marks lowthread's own
    # locks to the diagnostics (lowthread/diagnostics/_lockgraph.py).
    sentinel._class = None
    # Its joiners take it only with the GIL held, where the binding's waits
    # keep the GIL (binding/lt_py.c, sentinel locks); a failed registration
    # only leaves it to the plain wait.
    lk = sentinel._lk
    lib.ltpy_sentinel_add(lk)
    _sentinel_refs.add(weakref.ref(sentinel, _sentinel_dropped(lk)))
    job = _jobs.get(get_ident())
    if job is not None:
        job.sentinel = sentinel  # a later call (after fork) replaces it
    if _ending:
        _sweep()
    return sentinel


def _get_main_thread_ident():
    """The ident of the main thread: the one that runs signal handlers
    (after os.fork(), the thread that forked), which the C core knows
    (lt_set_main_thread, called by _interrupt at import); failing that, the
    thread that first imported lowthread."""
    return _calls.main_thread() or _FIRST_IMPORTER


def _after_fork_in_child():
    # Only the thread that forked exists in the child, and is its main one.
    me = get_ident()
    for job in list(_running):
        if job.ident != me:
            _running.discard(job)
    for ident, job in list(_jobs.items()):
        if ident != me:
            del _jobs[ident]
            _drop_locals(job)  # as the interpreter drops their thread states
    for ident, token in list(_foreign.items()):
        if ident != me:
            del _foreign[ident]
            _drop_locals(token)
    _handles.clear()
    _ending.clear()  # their threads are not in this process
    lib.ltpy_sentinels_at_fork_child()


# CPython before 3.13 can fork while a new thread makes its thread state:
# there the threads make it inside the C core's fork gate (lt_py_entry.h).
lib.ltpy_init(sys.implementation.name == "cpython" and sys.version_info < (3, 13))
_FIRST_IMPORTER = get_ident()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def at_exit():
    """Let no thread make its first call into Python while the interpreter ends.

    A thread created in C enters Python through cffi, which makes its thread
    state on that first call; if the call races interpreter finalization the
    process can crash (seen on CPython 3.13).  So at exit: wait for threads
    already started to enter, and from then on make every start wait for its
    thread to enter before it returns.  Starts stay allowed until the
    interpreter is finalizing, as with the native _thread.  The waits are the
    C core's (lt_threads_wait_started), for every thread that has not yet
    called lt_thread_started() in bootstrap; cffi lets go of the GIL for them,
    so that those threads can enter.
    """
    global _exiting
    _exiting = True
    lib.lt_threads_wait_started(_ENTER_WAIT_US)
    # A thread whose sentinel the C entry has just released (what let the
    # exit go on) is about to release its second lock: both must outlive it.
    for sentinel, finished in list(_ending.values()):
        if not sentinel.locked():
            finished.acquire(timeout=_ENTER_WAIT_US / 1e6)


def exit():
    """Raise SystemExit, which ends the current thread silently."""
    raise SystemExit


def stack_size(*args, **kwargs):
    """stack_size([size]) -> the previous size

    Set the stack size of threads started later to size bytes (0: the
    platform's default; else at least 32 KiB) and return the previous value.
    Without an argument the size is set back to 0.
    """
    if kwargs:
        raise TypeError("stack_size() takes no keyword arguments")
    if len(args) > 1:
        raise TypeError(f"stack_size() takes at most 1 argument ({len(args)} given)")
    size = _status.ssize_t(int(operator.index(args[0])) if args else 0)  # int(): index(True) is True on 3.9
    if size < 0:
        raise ValueError("size must be 0 or a positive value")
    old = lib.lt_stack_size_get()
    rc = lib.lt_stack_size_set(size)
    if rc:
        _status.check_stack_size(rc, size)
    return old


def set_name(name):
    """Set the calling thread's name as the operating system shows it.

    The name is cut to the system's limit (15 bytes of UTF-8 on Linux) on a
    character boundary.
    """
    if not isinstance(name, str):
        raise TypeError(f"set_name() argument 'name' must be str, not {type(name).__name__}")
    encoded = name.encode("utf-8", "replace")
    if b"\0" in encoded:
        raise ValueError("embedded null character")
    rc = lib.lt_thread_set_name(encoded)
    if rc:
        _status.check(rc)


def _get_name():
    """The calling thread's name as the operating system shows it."""
    buf = ffi.new("char[]", lib.lt_thread_name_max() + 1)
    rc = lib.lt_thread_get_name(buf, len(buf))
    if rc:
        _status.check(rc)
    return ffi.string(buf).decode("utf-8", "replace")
