"""threading, and the rest of the standard library, on lowthread.

install() puts lowthread in the place of _thread and threading on it; the
other modules are the pieces threading takes from _thread that are not
locks or threads: _local (threading.local) and _excepthook with
_ExceptHookArgs (threading.excepthook).

May import: the standard library and lowthread.core.  install() needs the
whole public face (it becomes _thread), and the face imports this room, so
install() looks the face up in sys.modules when it runs.
"""

from ._excepthook import _excepthook, _ExceptHookArgs
from ._install import install
from ._local import _local

__all__ = ["_ExceptHookArgs", "_excepthook", "_local", "install"]
