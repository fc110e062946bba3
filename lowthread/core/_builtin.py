"""Module functions that behave like the interpreter's builtins when stored
on a class: they do not bind as methods.

Code written for ``_thread`` does ``class T: locktype = _thread.allocate_lock``
and then calls ``self.locktype()`` (CPython's own test_thread does): that works
because a builtin function is no descriptor.  A Python function is one, and
would receive the instance as its first argument.
"""

import functools


class builtin:
    """Wraps a Python function so that it does not bind as a method."""

    __module__ = "lowthread"

    def __init__(self, function):
        functools.update_wrapper(self, function)
        self.__module__ = "lowthread"  # where it is found, as with a builtin
        self._function = function

    def __call__(self, *args, **kwargs):
        return self._function(*args, **kwargs)

    def __repr__(self):
        return f"<built-in function {self.__name__}>"  # type: ignore[attr-defined]

    def __reduce__(self):
        # Pickled by name, as builtins are.
        return self.__qualname__  # type: ignore[attr-defined]
