"""lowthread's diagnostics for a pytest run (docs/behaviour.md §23.4):

    pytest -p lowthread.pytest_plugin --lowthread-lock-order=strict
    pytest -p lowthread.pytest_plugin --lowthread-lock-order --lowthread-deadlocks
    pytest -p lowthread.pytest_plugin --lowthread-contention=contention.txt

pytest imports threading before any test or conftest.py runs, so the
plugin puts threading on lowthread in place (install()) when pytest
configures itself, and switches the modes asked for on.  strict: an
inversion raises LockOrderError in the test that takes the lock, which
fails it.  Otherwise each inversion is reported once, at the end of the
run, in a section of pytest's summary.  --lowthread-contention=FILE
records lock contention over the whole run and writes the profile to FILE
at its end (*.folded / *.collapsed: the waiting stacks; otherwise the
table), with the top 10 lock classes in the summary.  Without these options
the plugin does nothing, lowthread not even imported.
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
    group.addoption("--lowthread-contention", metavar="FILE", default=None,
                    help="record lock contention and write the profile to FILE (lowthread; "
                         "FILE.folded or FILE.collapsed: the waiting stacks)")


class _Reports(io.StringIO):
    """Where the reports go during the run, for the summary."""


def pytest_configure(config):
    order = config.getoption("--lowthread-lock-order")
    deadlocks = config.getoption("--lowthread-deadlocks")
    contention = config.getoption("--lowthread-contention")
    if not order and not deadlocks and not contention:
        return
    import lowthread

    lowthread.install()
    reports = config._lowthread_reports = _Reports()
    if order:
        lowthread.check_lock_order(strict=order == "strict", file=reports)
    if deadlocks:
        lowthread.detect_deadlocks(file=reports)
    if contention:
        lowthread.record_contention()


def pytest_unconfigure(config):
    if getattr(config, "_lowthread_reports", None) is None:
        return
    import lowthread

    lowthread.stop_detecting_deadlocks()
    lowthread.stop_checking_lock_order()
    path = config.getoption("--lowthread-contention")
    if path:
        from lowthread.diagnostics import _contention

        _contention.write_at_exit(path)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    reports = getattr(config, "_lowthread_reports", None)
    if reports is None:
        return
    if reports.getvalue():
        terminalreporter.section("lowthread lock-order and deadlock reports")
        terminalreporter.write(reports.getvalue())
    if config.getoption("--lowthread-contention"):
        import lowthread

        table = io.StringIO()
        lowthread.write_contention(table)
        terminalreporter.section("lowthread lock contention")
        terminalreporter.write(table.getvalue())
