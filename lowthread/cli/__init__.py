"""The command line: ``lowthread`` (the console script) and ``python -m lowthread``.

demo, info and bench look at lowthread; run starts a program with threading
on lowthread and the diagnostics asked for (_run).  The pytest plugin, the
other way in from outside, is lowthread/pytest_plugin.py.

May import: anything of lowthread, the face included; nothing imports it
but lowthread/__main__.py.
"""

from ._main import main

__all__ = ["main"]
