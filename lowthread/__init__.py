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

from . import _threads
from ._core import TIMEOUT_MAX
from ._interrupt import interrupt_main
from ._joinable import _make_thread_handle as _make_thread_handle
from ._joinable import _shutdown as _shutdown
from ._joinable import _ThreadHandle as _ThreadHandle
from ._joinable import start_joinable_thread as start_joinable_thread
from ._lock import allocate_lock, lock
from ._rlock import RLock
from ._threads import _count as _count
from ._threads import _get_name as _get_name
from ._threads import exit, get_ident, stack_size, start_new_thread
from ._version import __version__ as __version__

error = RuntimeError
LockType = lock
allocate = allocate_lock
start_new = start_new_thread
exit_thread = exit

__all__ = [
    "LockType",
    "RLock",
    "TIMEOUT_MAX",
    "allocate",
    "allocate_lock",
    "error",
    "exit",
    "exit_thread",
    "get_ident",
    "interrupt_main",
    "lock",
    "stack_size",
    "start_new",
    "start_new_thread",
]
if _threads.lib.lt_thread_name_max():
    set_name = _threads.set_name
    __all__.append("set_name")
if hasattr(_threads, "get_native_id"):
    get_native_id = _threads.get_native_id
    __all__.append("get_native_id")

atexit.register(_threads.at_exit)
