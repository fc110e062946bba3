"""Lock-order checking's switches (docs/behaviour.md §23).

_lockgraph keeps the classes and the order graph and reports; _tracked
keeps what each thread holds and gives the lock classes the methods that
feed the graph.  This module, above both, turns checking on and off.
"""

from . import _lockgraph, _tracked
from ._lockgraph import LockOrderError

__all__ = ["LockOrderError", "check_lock_order", "stop_checking_lock_order"]


def check_lock_order(strict=False, file=None):
    """Check the order in which threads take lowthread's locks from now on
    (idempotent; a second call sets strict and file anew).  An inversion is
    written to file (default: sys.stderr as it is then), or raised as
    LockOrderError if strict."""
    _lockgraph.settings["strict"] = bool(strict)
    _lockgraph.settings["file"] = file
    _tracked.switch("order", True)


def stop_checking_lock_order():
    """Stop checking, and forget the order seen so far."""
    _tracked.switch("order", False)
    _lockgraph.forget()
