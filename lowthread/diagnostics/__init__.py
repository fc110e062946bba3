"""The diagnostics no interpreter's _thread has (docs/behaviour.md §21-25).

Introspection (holder, waiters, thread_states, dump), deadlock detection,
lock-order checking and the contention profile.  Each is off until asked
for, and switches itself on without the core knowing of it: it hands the
core the lock methods its mode needs (_tracked -> core/_methods), or a hook
object the core calls only on a noted C status (_wait.profile,
_wait.raise_in_wait).  _sites says where a frame is; _lockgraph keeps lock
classes and the order graph.

May import: the standard library and lowthread.core; never the stdlib room,
the command line or the face.
"""

from ._contention import (
                          contention,
                          record_contention,
                          reset_contention,
                          stop_recording_contention,
                          write_contention,
)
from ._deadlock import DeadlockError, detect_deadlocks, stop_detecting_deadlocks
from ._introspect import dump, dump_on, holder, thread_states, waiters
from ._lockorder import LockOrderError, check_lock_order, stop_checking_lock_order

__all__ = [
    "DeadlockError", "LockOrderError", "check_lock_order", "contention", "detect_deadlocks",
    "dump", "dump_on", "holder", "record_contention", "reset_contention", "stop_checking_lock_order",
    "stop_detecting_deadlocks", "stop_recording_contention", "thread_states", "waiters",
    "write_contention",
]
