"""Where in the program a lock was made or taken: a site, for the reports of
deadlock detection and lock-order checking (docs/behaviour.md §22-23).

A site is the first frame outside lowthread and threading (Condition,
Event, Semaphore take their locks for the caller), kept as (code object,
offset of its last instruction): cheap to take on every acquire, turned
into file:line only when a report is written.
"""

import dis
import os
import sys

# The package folder (this room is one level down): its frames are lowthread's own.
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# co_filename -> whether its frames are skipped; the files are few.
skipped: dict = {}
_getframe = sys._getframe


def _is_skipped(filename):
    skip = skipped.get(filename)
    if skip is None:
        path = os.path.abspath(filename)
        threading = sys.modules.get("threading")
        skip = skipped[filename] = path.startswith(PACKAGE) or (
            threading is not None and path == os.path.abspath(getattr(threading, "__file__", "")))
    return skip


def site(frame, skipped=skipped, _is_skipped=_is_skipped):
    """The site of frame, or of its first caller outside lowthread and
    threading; in a thread that runs nothing else (threading's own
    threads: Timer, the thread start), the innermost frame outside
    lowthread."""
    inner = None
    while frame is not None:
        code = frame.f_code
        skip = skipped.get(code.co_filename)
        if skip is None:
            skip = _is_skipped(code.co_filename)
        if not skip:
            return (code, frame.f_lasti)
        if inner is None and not code.co_filename.startswith(PACKAGE):
            inner = (code, frame.f_lasti)
        frame = frame.f_back
    return inner


def made_site(frame):
    """The site where a lock whose constructor frame called was made; None
    for the locks lowthread makes for itself."""
    if frame.f_code.co_filename.startswith(PACKAGE):
        return None
    return site(frame)


_lines: dict = {}  # code -> [(offset, line)], for the few codes reported


def text(s, column=False):
    """"file:line" of a site (or "an unknown place"); with column, and
    where the interpreter keeps columns (3.11+), "file:line:column", which
    tells two calls on one line apart."""
    if s is None:
        return "an unknown place"
    code, lasti = s
    if column and hasattr(code, "co_positions"):
        positions = list(code.co_positions())
        if 0 <= lasti // 2 < len(positions):
            line, _, col, _ = positions[lasti // 2]
            if line is not None and col is not None:
                return f"{code.co_filename}:{line}:{col + 1}"
    starts = _lines.get(code)
    if starts is None:
        starts = _lines[code] = [(o, n) for o, n in dis.findlinestarts(code) if n is not None]
    line = code.co_firstlineno
    for offset, n in starts:
        if offset > lasti:
            break
        line = n
    return f"{code.co_filename}:{line}"
