# Run by the site hook (lt_stdlib.pth) at the start of every Python process of
# a lowthread run, test subprocesses and multiprocessing children included:
# puts threading on lowthread before anything imports it.  With
# LOWTHREAD_STDLIB_REPORTS set (run.py --diagnostics), deadlock detection and
# lock-order checking are on too, their reports appended to that file.
import os

import lowthread

lowthread.install()
_reports = os.environ.get("LOWTHREAD_STDLIB_REPORTS")
if _reports:
    _file = open(_reports, "a", buffering=1)
    lowthread.detect_deadlocks(file=_file)
    lowthread.check_lock_order(file=_file)
