"""_excepthook and _ExceptHookArgs: threading.excepthook, as threading takes
it from _thread (CPython 3.9+), so that a threading patched in place by
install() reports on lowthread too, the same way as one imported on it.
"""

import sys

from ..core._threads import get_ident

_FIELDS = ("exc_type", "exc_value", "exc_traceback", "thread")


class _ExceptHookArgs(tuple):
    """ExceptHookArgs(iterable): the argument of threading.excepthook."""

    __slots__ = ()
    __module__ = "lowthread"
    n_fields = n_sequence_fields = len(_FIELDS)

    def __new__(cls, iterable):
        values = tuple(iterable)
        if len(values) != len(_FIELDS):
            raise TypeError(f"lowthread._ExceptHookArgs() takes a {len(_FIELDS)}-sequence "
                            f"({len(values)}-sequence given)")
        return super().__new__(cls, values)

    exc_type = property(lambda self: self[0], doc="Exception type")
    exc_value = property(lambda self: self[1], doc="Exception value")
    exc_traceback = property(lambda self: self[2], doc="Exception traceback")
    thread = property(lambda self: self[3], doc="Thread")

    def __repr__(self):
        fields = ", ".join(f"{name}={value!r}" for name, value in zip(_FIELDS, self))
        return f"lowthread._ExceptHookArgs({fields})"

    def __reduce__(self):
        return (type(self), (tuple(self),))


def _excepthook(args, /):
    """Report an exception that ended Thread.run(): "Exception in thread
    NAME:" and the traceback, on sys.stderr (or, if that is None, on the
    stderr the thread was started with).  SystemExit is silent."""
    if not isinstance(args, _ExceptHookArgs):
        raise TypeError("lowthread._excepthook argument type must be ExceptHookArgs")
    exc_type, exc_value, exc_tb, thread = args
    if exc_type is not None and issubclass(exc_type, SystemExit):
        return
    file = sys.stderr
    if file is None:
        file = getattr(thread, "_stderr", None) if thread is not None else None
        if file is None:
            return
    name = getattr(thread, "name", None) if thread is not None else None
    file.write(f"Exception in thread {get_ident() if name is None else name}:\n")
    file.flush()
    import traceback  # only now: a program whose threads never fail needs none of it

    traceback.print_exception(exc_type, exc_value, exc_tb, file=file)
    file.flush()
