"""CPython's own test classes, from the running interpreter's stdlib, run against lowthread.

The recipe of docs/behaviour.md §18: ``test.lock_tests.LockTests`` with lowthread's
allocate_lock, ``RLockTests`` with lowthread's RLock, and ``test.test_thread``'s
ThreadRunningTests, BarrierTest and TestForkInThread with the module global
``thread`` pointed at lowthread.  On PyPy the ``test`` package is
/usr/lib/pypy3.9/test (pypy3-lib-testsuite).

The module globals that the stdlib tests bind at import time are patched by a
module-scoped fixture while these tests run and restored afterwards, so nothing
leaks into other test modules.
"""

import sys
import unittest

import pytest
from conftest import IS_PYPY, ORACLE, load_lt

lt = load_lt()

try:
    from test import lock_tests, support, test_thread
except ImportError as exc:  # pragma: no cover - the brief guarantees the package
    raise ImportError("the stdlib 'test' package is needed (on PyPy: Debian's "
                      "pypy3-lib-testsuite)") from exc

try:
    from test.support import threading_helper
except ImportError:  # 3.9 and PyPy 3.9: the helpers live in test.support itself
    threading_helper = support


# ---------------------------------------------------------------------------
# The one expected difference (run, and asserted to fail).

# docs/behaviour.md §5.3: lowthread reports object=function and the documented err_msg
# "Exception ignored in thread started by" everywhere.  3.13's test asserts
# object=None with the function's repr in err_msg; PyPy's matches
# "Exception ignored in thread <ident> started by".
UNRAISABLE_DIFFERS = (sys.version_info >= (3, 13) or IS_PYPY) and not ORACLE

class _CombinedCount:
    """Stands in for _thread in threading_helper/support: counts both modules' threads."""

    def __init__(self, host):
        self._host = host

    def _count(self):
        return self._host._count() + lt._count()

    def __getattr__(self, name):
        return getattr(self._host, name)


@pytest.fixture(scope="module", autouse=True)
def _stdlib_tests_use_lowthread():
    patches = [
        (lock_tests, "start_new_thread", lt.start_new_thread),  # bound at import time
        (lock_tests, "TIMEOUT_MAX", lt.TIMEOUT_MAX),
        (test_thread, "thread", lt),  # ThreadRunningTests/BarrierTest/TestForkInThread
        (support, "verbose", 0),
    ]
    if not ORACLE:
        # wait_threads_exit()/threading_cleanup() must see lowthread's threads too.
        patches.append((threading_helper, "_thread", _CombinedCount(threading_helper._thread)))
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, value in reversed(saved):
            setattr(obj, name, value)


class LowthreadLockTests(lock_tests.LockTests):
    # staticmethod is required: a Python function would bind as a method.
    locktype = staticmethod(lt.allocate_lock)


class LowthreadRLockTests(lock_tests.RLockTests):
    # Includes test_recursion_count on 3.11+ stdlibs (lowthread has it everywhere).
    locktype = staticmethod(lt.RLock)


class LowthreadThreadRunningTests(test_thread.ThreadRunningTests):
    if UNRAISABLE_DIFFERS:
        test_unraisable_exception = unittest.expectedFailure(
            test_thread.ThreadRunningTests.test_unraisable_exception)


class LowthreadBarrierTest(test_thread.BarrierTest):
    pass


class LowthreadForkInThread(test_thread.TestForkInThread):
    pass


def test_expected_difference_is_a_real_test():
    assert hasattr(test_thread.ThreadRunningTests, "test_unraisable_exception")


def test_patches_are_active_here():
    assert test_thread.thread is lt
    assert lock_tests.start_new_thread is lt.start_new_thread
    assert lock_tests.TIMEOUT_MAX == lt.TIMEOUT_MAX
    assert LowthreadLockTests.locktype is lt.allocate_lock
    assert LowthreadRLockTests.locktype is lt.RLock
