"""The core: Python's _thread API on lowthread's C core.

Locks, RLock, threads and joinable threads, thread idents and names,
interrupt_main, and the waits under them, each call turning into C through
the one border of _calls (over the cffi extension lowthread._lowthread) and
each C status into an exception in _status.  _methods is the one place that
changes the lock classes: a diagnostic hands it its methods.

May import: the standard library and the C extension; nothing else of
lowthread (the diagnostics, the stdlib room and the face sit above it).
"""

from ._builtin import builtin
from ._interp import _is_main_interpreter, daemon_threads_allowed
from ._interrupt import interrupt_main
from ._joinable import _make_thread_handle, _shutdown, _ThreadHandle, start_joinable_thread
from ._lock import lock
from ._rlock import RLock
from ._status import TIMEOUT_MAX
from ._threads import (
    _count,
    _get_main_thread_ident,
    _get_name,
    _set_sentinel,
    at_exit,
    exit,
    get_ident,
    set_name,
    stack_size,
    start_new_thread,
)

__all__ = [
    "RLock", "TIMEOUT_MAX", "_ThreadHandle", "_count", "_get_main_thread_ident", "_get_name",
    "_is_main_interpreter", "_make_thread_handle", "_set_sentinel", "_shutdown", "at_exit",
    "builtin", "daemon_threads_allowed", "exit", "get_ident", "interrupt_main", "lock",
    "set_name", "stack_size", "start_joinable_thread", "start_new_thread",
]
try:
    from ._threads import get_native_id as get_native_id
except ImportError:  # no native thread ids on this platform
    pass
else:
    __all__.append("get_native_id")
