"""lowthread's diagnostics for a pytest run (docs/behaviour.md §23.4):

    pytest -p lowthread.pytest_plugin --lowthread-lock-order=strict
    pytest -p lowthread.pytest_plugin --lowthread-lock-order --lowthread-deadlocks

pytest imports threading before any test or conftest.py runs, so the
plugin puts threading on lowthread in place (install()) when pytest
configures itself, and switches the modes asked for on.  strict: an
inversion raises LockOrderError in the test that takes the lock, which
fails it.  Otherwise each inversion is reported once, at the end of the
run, in a section of pytest's summary.  Without these options the plugin
does nothing, lowthread not even imported.
"""

import io


def pytest_addoption(parser):
    group = parser.getgroup("lowthread")
    group.addoption("--lowthread-lock-order", nargs="?", const="report",
                    choices=("report", "strict"), default=None,
                    help="check the order in which locks are taken (lowthread); "
                         "strict: raise LockOrderError at an inversion")
    group.addoption("--lowthread-deadlocks", action="store_true",
                    help="report deadlocks and end them with DeadlockError (lowthread)")


class _Reports(io.StringIO):
    """Where the reports go during the run, for the summary."""


def pytest_configure(config):
    order = config.getoption("--lowthread-lock-order")
    deadlocks = config.getoption("--lowthread-deadlocks")
    if not order and not deadlocks:
        return
    import lowthread

    lowthread.install()
    reports = config._lowthread_reports = _Reports()
    if order:
        lowthread.check_lock_order(strict=order == "strict", file=reports)
    if deadlocks:
        lowthread.detect_deadlocks(file=reports)


def pytest_unconfigure(config):
    if getattr(config, "_lowthread_reports", None) is None:
        return
    import lowthread

    lowthread.stop_detecting_deadlocks()
    lowthread.stop_checking_lock_order()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reports = getattr(config, "_lowthread_reports", None)
    if reports is None or not reports.getvalue():
        return
    terminalreporter.section("lowthread lock-order and deadlock reports")
    terminalreporter.write(reports.getvalue())
