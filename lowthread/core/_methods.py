"""Which methods lock and RLock run: their own, or those of the diagnostics on.

The lock classes are written with their plain methods only (_lock, _rlock,
_wait.lock_methods): nothing in an acquire asks whether a diagnostic is on.
A diagnostic that has to see acquires and releases (lowthread.diagnostics:
deadlock sites, lock order, the contention profile's lock classes) hands
this module one method table for the modes now on, and use() puts it in the
two classes, once per mode change; use(None) puts the plain methods back.
This is the only code that changes the classes, and it takes only the
methods named in REPLACEABLE.  The core imports no diagnostic: the tables
come to it.

Why the methods are swapped at a mode change instead of chosen in each call:
an acquire and an __exit__ that ask on every call whether a table is in use
(one global read and one test each) cost every `with lock:` 173 more
instructions (4,094 -> 4,267 on CPython 3.13, callgrind), diagnostics on or
not; the swap costs nothing per call (docs/design.md, "The lock methods and
the diagnostics").
"""

from ._lock import lock
from ._rlock import RLock

# Both classes make their objects in __new__ (they have no __init__).
REPLACEABLE = {
    lock: ("__new__", "acquire", "__enter__", "acquire_lock", "release", "__exit__",
           "release_lock"),
    RLock: ("__new__", "acquire", "__enter__", "release", "__exit__", "_release_save",
            "_acquire_restore"),
}
# The methods the classes are defined with: what runs while no diagnostic is on.
PLAIN = {cls: {name: cls.__dict__[name] for name in names}
         for cls, names in REPLACEABLE.items()}


def use(tables=None):
    """Give lock and RLock the methods of tables ({class: {name: function}};
    a name a table leaves out keeps its plain method), or their plain ones
    (None)."""
    tables = tables or {}
    for cls, table in tables.items():
        if cls not in REPLACEABLE:
            raise TypeError(f"{cls!r} is not a lock class of lowthread's")
        unknown = set(table) - set(REPLACEABLE[cls])
        if unknown:
            raise ValueError(f"{cls.__name__} has no replaceable methods {sorted(unknown)}")
    for cls, names in REPLACEABLE.items():
        table = tables.get(cls, {})
        plain = PLAIN[cls]
        for name in names:
            setattr(cls, name, table.get(name, plain[name]))
