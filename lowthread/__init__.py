"""This module provides primitive operations to write multi-threaded programs.

lowthread is Python's low-level threading API (the ``_thread`` module) on a
small portable C core, with CPython 3.13's documented behaviour on every
interpreter it supports.
"""

import atexit

try:
    # The cffi extension, which pip install builds.
    from ._lowthread import ffi as _ffi  # noqa: F401
except ModuleNotFoundError as _exc:
    if _exc.name != f"{__name__}._lowthread":
        raise
    from ._unbuilt import explain as _explain
    raise _explain(__path__[0]) from None

# The public face: every public name, from the rooms (core: the _thread API
# on the C core; stdlib: threading on lowthread; diagnostics), with no code
# of its own but the wrapping below.  docs/design.md, "The Python package".
from . import core, diagnostics, stdlib
from ._lowthread import lib as _lib
from ._version import __version__ as __version__
from .core import TIMEOUT_MAX, RLock, get_ident, lock
from .core import _ThreadHandle as _ThreadHandle
from .core import builtin as _builtin
from .stdlib import _ExceptHookArgs as _ExceptHookArgs
from .stdlib import _local as _local
from .stdlib import install

# Python functions, wrapped so that, stored on a class, they do not bind as
# methods: the interpreter's _thread has builtins there (see _builtin).  The
# lock type needs no wrapper: a class does not bind either, and calling it
# directly costs one call less than a function that calls it.
allocate_lock = lock
start_new_thread = _builtin(core.start_new_thread)
stack_size = _builtin(core.stack_size)
exit = _builtin(core.exit)
interrupt_main = _builtin(core.interrupt_main)
start_joinable_thread = _builtin(core.start_joinable_thread)
_make_thread_handle = _builtin(core._make_thread_handle)
_shutdown = _builtin(core._shutdown)
_count = _builtin(core._count)
_get_name = _builtin(core._get_name)
# What threading takes from _thread on CPython 3.9-3.13 and PyPy (install()).
_set_sentinel = _builtin(core._set_sentinel)
_get_main_thread_ident = _builtin(core._get_main_thread_ident)
daemon_threads_allowed = _builtin(core.daemon_threads_allowed)
_is_main_interpreter = _builtin(core._is_main_interpreter)
_excepthook = _builtin(stdlib._excepthook)
# Diagnostics no interpreter's _thread has (docs/behaviour.md §21).
holder = _builtin(diagnostics.holder)
waiters = _builtin(diagnostics.waiters)
thread_states = _builtin(diagnostics.thread_states)
dump = _builtin(diagnostics.dump)
dump_on = _builtin(diagnostics.dump_on)
DeadlockError = diagnostics.DeadlockError
detect_deadlocks = _builtin(diagnostics.detect_deadlocks)
stop_detecting_deadlocks = _builtin(diagnostics.stop_detecting_deadlocks)
record_contention = _builtin(diagnostics.record_contention)
stop_recording_contention = _builtin(diagnostics.stop_recording_contention)
contention = _builtin(diagnostics.contention)
reset_contention = _builtin(diagnostics.reset_contention)
write_contention = _builtin(diagnostics.write_contention)
LockOrderError = diagnostics.LockOrderError
check_lock_order = _builtin(diagnostics.check_lock_order)
stop_checking_lock_order = _builtin(diagnostics.stop_checking_lock_order)

error = RuntimeError
LockType = lock
allocate = allocate_lock
start_new = start_new_thread
exit_thread = exit

__all__ = [
    "DeadlockError",
    "LockOrderError",
    "LockType",
    "RLock",
    "TIMEOUT_MAX",
    "allocate",
    "allocate_lock",
    "check_lock_order",
    "contention",
    "detect_deadlocks",
    "dump",
    "dump_on",
    "error",
    "exit",
    "exit_thread",
    "get_ident",
    "holder",
    "install",
    "interrupt_main",
    "lock",
    "record_contention",
    "reset_contention",
    "stack_size",
    "start_new",
    "start_new_thread",
    "stop_checking_lock_order",
    "stop_recording_contention",
    "stop_detecting_deadlocks",
    "thread_states",
    "waiters",
    "write_contention",
]
if _lib.lt_thread_name_max():
    set_name = _builtin(core.set_name)
    __all__.append("set_name")
if hasattr(core, "get_native_id"):
    get_native_id = core.get_native_id
    __all__.append("get_native_id")

atexit.register(core.at_exit)
