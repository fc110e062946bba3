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

from . import (
    _contention,
    _deadlock,
    _interp,
    _introspect,
    _joinable,
    _lockorder,
    _thread_excepthook,
    _threads,
)
from ._builtin import builtin as _builtin
from ._core import TIMEOUT_MAX
from ._install import install
from ._interrupt import interrupt_main
from ._joinable import _ThreadHandle as _ThreadHandle
from ._local import _local as _local
from ._lock import lock
from ._rlock import RLock
from ._thread_excepthook import _ExceptHookArgs as _ExceptHookArgs
from ._threads import get_ident
from ._version import __version__ as __version__

# Python functions, wrapped so that, stored on a class, they do not bind as
# methods: the interpreter's _thread has builtins there (see _builtin).  The
# lock type needs no wrapper: a class does not bind either, and calling it
# directly costs one call less than a function that calls it.
allocate_lock = lock
start_new_thread = _builtin(_threads.start_new_thread)
stack_size = _builtin(_threads.stack_size)
exit = _builtin(_threads.exit)
interrupt_main = _builtin(interrupt_main)
start_joinable_thread = _builtin(_joinable.start_joinable_thread)
_make_thread_handle = _builtin(_joinable._make_thread_handle)
_shutdown = _builtin(_joinable._shutdown)
_count = _builtin(_threads._count)
_get_name = _builtin(_threads._get_name)
# What threading takes from _thread on CPython 3.9-3.13 and PyPy (install()).
_set_sentinel = _builtin(_threads._set_sentinel)
_get_main_thread_ident = _builtin(_threads._get_main_thread_ident)
daemon_threads_allowed = _builtin(_interp.daemon_threads_allowed)
_is_main_interpreter = _builtin(_interp._is_main_interpreter)
_excepthook = _builtin(_thread_excepthook._excepthook)
# Diagnostics no interpreter's _thread has (docs/behaviour.md §21).
holder = _builtin(_introspect.holder)
waiters = _builtin(_introspect.waiters)
thread_states = _builtin(_introspect.thread_states)
dump = _builtin(_introspect.dump)
dump_on = _builtin(_introspect.dump_on)
DeadlockError = _deadlock.DeadlockError
detect_deadlocks = _builtin(_deadlock.detect_deadlocks)
stop_detecting_deadlocks = _builtin(_deadlock.stop_detecting_deadlocks)
record_contention = _builtin(_contention.record_contention)
stop_recording_contention = _builtin(_contention.stop_recording_contention)
contention = _builtin(_contention.contention)
reset_contention = _builtin(_contention.reset_contention)
write_contention = _builtin(_contention.write_contention)
LockOrderError = _lockorder.LockOrderError
check_lock_order = _builtin(_lockorder.check_lock_order)
stop_checking_lock_order = _builtin(_lockorder.stop_checking_lock_order)

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
if _threads.lib.lt_thread_name_max():
    set_name = _builtin(_threads.set_name)
    __all__.append("set_name")
if hasattr(_threads, "get_native_id"):
    get_native_id = _threads.get_native_id
    __all__.append("get_native_id")

atexit.register(_threads.at_exit)
