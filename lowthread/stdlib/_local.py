"""_local: thread-local data whose values die with their thread.

threading takes its ``local`` from ``_thread._local``; CPython 3.13's
threading cannot do without it (it makes a local() while it is imported, so
the pure-Python _threading_local, which imports threading, cannot stand in).

Each local object keeps one dictionary per thread, keyed by the thread's
token (_threads.thread_token()); the token lists, weakly, the locals it has
values in, and a lowthread thread drops its dictionaries from them as it
ends: so its values are freed as soon as it ends, on PyPy as on CPython.
The values hang from the local object only, so that a cycle through them is
garbage the collector can find.  A thread lowthread did not start keeps its
values for the life of the process (the main thread's are what matter).

The common access, to a name that the class does not define, once the
thread has its dictionary, is that dictionary's item: no other thread ever
touches it.  Any other access runs with the instance's __dict__ set to the
calling thread's dictionary, under a reentrant lock per local object, so
that the whole of Python's attribute lookup (descriptors, __getattr__,
subclasses, the first access's __init__) applies unchanged.  Afterwards
__dict__ is set back to what it was (an empty dictionary outside any
access), so that no thread's values stay reachable from the object once the
thread has ended.
"""

import weakref

from ..core import _threads
from ..core._rlock import RLock

_get = object.__getattribute__
_set = object.__setattr__
_NOT_IN_CLASS = object()


class _Impl:
    """The per-object part of a local: its __init__ arguments and lock."""

    __slots__ = ("args", "kwargs", "lock", "idle", "dicts", "__weakref__")

    def __init__(self, args, kwargs):
        self.args = args
        self.kwargs = kwargs
        self.lock = RLock()
        self.idle = {}  # __dict__ between accesses
        self.dicts = {}  # id(token) -> that thread's values

    def values(self, token):
        """The thread's dictionary, made if it has none yet (then True too)."""
        values = self.dicts.get(id(token))
        if values is not None:
            return values, False
        if token.locals is None:
            token.locals = weakref.WeakSet()
        token.locals.add(self)
        values = self.dicts[id(token)] = {}
        return values, True

    def forget(self, token):
        """Drop the values of the thread that token stands for (it has ended)."""
        self.dicts.pop(id(token), None)


def _enter(self, impl):
    """Point self.__dict__ at the calling thread's dictionary (impl.lock held)
    and return what it was."""
    before = _get(self, "__dict__")
    values, new = impl.values(_threads.thread_token())
    if new:
        _set(self, "__dict__", values)
        init = type(self).__init__
        if init is not object.__init__:
            try:
                init(self, *impl.args, **impl.kwargs)
            except BaseException:
                _set(self, "__dict__", before)
                raise
            _set(self, "__dict__", values)  # init may have accessed and restored
    else:
        _set(self, "__dict__", values)
    return before


def _with_values(self, operation, *args):
    """operation(self, *args) with self.__dict__ the calling thread's."""
    impl = _get(self, "_lt_impl")
    with impl.lock:
        before = _enter(self, impl)
        try:
            return operation(self, *args)
        finally:
            _set(self, "__dict__", before)


def _writable(self, name):
    if name == "__dict__":
        raise AttributeError(f"{type(self).__name__!r} object attribute '__dict__' is read-only")


class _local:
    """Thread-local data: each thread sees its own attributes."""

    __slots__ = ("_lt_impl", "__dict__", "__weakref__")
    __module__ = "lowthread"

    def __new__(cls, /, *args, **kwargs):
        if (args or kwargs) and cls.__init__ is object.__init__:
            raise TypeError("Initialization arguments are not supported")
        self = object.__new__(cls)
        impl = _Impl(args, kwargs)
        _set(self, "_lt_impl", impl)
        # The creating thread's dictionary; type() calls __init__ for it.
        impl.values(_threads.thread_token())
        _set(self, "__dict__", impl.idle)
        return self

    def __getattribute__(self, name):
        if getattr(type(self), name, _NOT_IN_CLASS) is _NOT_IN_CLASS:
            values = _get(self, "_lt_impl").dicts.get(id(_threads.thread_token()))
            if values is not None and name in values:
                return values[name]
        return _with_values(self, _get, name)

    def __setattr__(self, name, value):
        if getattr(type(self), name, _NOT_IN_CLASS) is _NOT_IN_CLASS:
            values = _get(self, "_lt_impl").dicts.get(id(_threads.thread_token()))
            if values is not None:
                values[name] = value
                return
        _writable(self, name)
        _with_values(self, _set, name, value)

    def __delattr__(self, name):
        if getattr(type(self), name, _NOT_IN_CLASS) is _NOT_IN_CLASS:
            values = _get(self, "_lt_impl").dicts.get(id(_threads.thread_token()))
            if values is not None and name in values:
                del values[name]
                return
        _writable(self, name)
        _with_values(self, object.__delattr__, name)

    def __reduce_ex__(self, protocol):
        raise TypeError(f"cannot pickle {type(self).__name__!r} object")
