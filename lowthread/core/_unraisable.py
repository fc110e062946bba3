"""Hand an exception that ended a thread to sys.unraisablehook.

The hook's argument must be the interpreter's own UnraisableHookArgs (the
default hook rejects anything else on CPython), but no interpreter exports
that type: it is learnt once, from an unraisable exception raised on purpose
while a temporary hook listens.
"""

import gc
import sys

from ._lock import lock

ERR_MSG = "Exception ignored in thread started by"

_learn_lock = lock()
_hookargs_type: list = []


class _Probe(Exception):
    pass


class _RaiseInDel:
    def __del__(self):
        raise _Probe()


def _learn_type():
    with _learn_lock:
        if _hookargs_type:
            return _hookargs_type[0]
        seen: list = []
        previous = sys.unraisablehook
        sys.unraisablehook = seen.append
        try:
            _RaiseInDel()
            gc.collect()  # PyPy runs __del__ only when it collects
        finally:
            sys.unraisablehook = previous
        for args in seen:
            if args.exc_type is _Probe and not _hookargs_type:
                _hookargs_type.append(type(args))
            elif args.exc_type is not _Probe:
                previous(args)  # another thread's, caught in passing
        return _hookargs_type[0]


def report(exc, function):
    """Report exc, raised by a thread's function, as CPython's bootstrap does."""
    kind = _hookargs_type[0] if _hookargs_type else _learn_type()
    # Start the traceback at the function's own frame, not lowthread's.
    tb = exc.__traceback__.tb_next
    exc.__traceback__ = tb
    fields = (type(exc), exc, tb, ERR_MSG, function)
    if kind.n_fields > len(fields):
        # PyPy's type has a hidden extra_line field that its hook reads.
        args = kind(fields, {"extra_line": ""})
    else:
        args = kind(fields)
    sys.unraisablehook(args)
