"""This module provides primitive operations to write multi-threaded programs.

lowthread is Python's low-level threading API (the ``_thread`` module) on a
small portable C core, with CPython 3.13's documented behaviour on every
interpreter it supports.
"""

import atexit

from . import (
    _callbacks,  # noqa: F401  (registers the thread entry point)
    _threads,
)
from ._interrupt import interrupt_main
from ._lock import allocate_lock, lock
from ._threads import _count as _count
from ._threads import exit, get_ident, stack_size, start_new_thread
from ._timeout import TIMEOUT_MAX
from ._version import __version__ as __version__

error = RuntimeError
LockType = lock
allocate = allocate_lock
start_new = start_new_thread
exit_thread = exit

__all__ = [
    "LockType",
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
if hasattr(_threads, "get_native_id"):
    get_native_id = _threads.get_native_id
    __all__.append("get_native_id")

atexit.register(_threads.at_exit)
