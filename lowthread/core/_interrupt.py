"""interrupt_main(): a signal's Python handler in the main thread, and its wait woken.

Two things happen, in this order: the handler is made pending for the main
thread, as a signal's arrival would make it, and the C core interrupts the
main thread's lowthread wait, which then returns to Python to let it run
(lt_interrupt_main).  No real signal is sent.  How the handler is made
pending depends on the interpreter:

  CPython 3.10+  PyErr_SetInterruptEx(signum), the interpreter's own call,
                 which the binding's C finds in the running interpreter
                 (ltpy_set_interrupt: no ctypes, so the first call costs
                 what the later ones do);
  CPython 3.9    a pending call of the binding that runs the handler, since
                 3.9's PyErr_SetInterrupt() knows only SIGINT;
  PyPy           SIGINT: PyPy's own interrupt_main(), which marks it pending
                 without a signal.  Taken from PyPy's built-in _thread, never
                 through sys.modules, where install() puts lowthread.  Any
                 other signal's handler runs at once when the main thread
                 itself calls, and is otherwise left to the main thread's
                 waits (_wait.left_to_waits), which run it when
                 interrupt_main() ends them, or at the next one that blocks:
                 a PyPy main thread busy elsewhere sees it late.
"""

import operator
import signal
import sys

from .._lowthread import lib
from . import _wait
from ._status import c_int

_NSIG = getattr(signal, "NSIG", 65)


def _pypy_interrupt_main():
    # The built-in module itself, whatever sys.modules["_thread"] is now.
    import _imp
    from importlib.machinery import ModuleSpec
    return _imp.create_builtin(ModuleSpec("_thread", None, origin="built-in")).interrupt_main


_native_interrupt_main = (_pypy_interrupt_main() if sys.implementation.name == "pypy"
                          else None)


def _leave_to_main(signum):
    # Called in the main thread, the handler runs at once, as it would there
    # for a signal, in the frame of interrupt_main's caller (past
    # interrupt_main and its builtin wrapper); from another thread, the main
    # thread's waits run it.
    if _wait.runs_signal_handlers():
        _wait.run_handler(signum, sys._getframe(3))
    else:
        _wait.left_to_waits.add(signum)


def interrupt_main(signum=signal.SIGINT, /):
    """Simulate the arrival of signal signum (default SIGINT) in the main thread.

    The signal's Python handler runs in the main thread, and a lowthread wait
    there ends to let it run; if the handler is SIG_DFL or SIG_IGN nothing
    happens.  No real signal is sent.
    """
    signum = c_int(int(operator.index(signum)))  # int(): 3.9 and PyPy keep an IntEnum
    if not 1 <= signum < _NSIG:
        raise ValueError("signal number out of range")
    if signal.getsignal(signum) in (signal.SIG_DFL, signal.SIG_IGN, None):
        return
    if _native_interrupt_main is not None and signum == signal.SIGINT:
        _native_interrupt_main()
    elif lib.ltpy_set_interrupt(signum) != 0:
        # PyPy, or CPython's queue of pending calls is full.
        _leave_to_main(signum)
    # LT_ESRCH: lowthread was first imported in another thread, so the core
    # has no main thread to wake; the handler still runs when it can.
    lib.lt_interrupt_main()


# The C core interrupts the thread that says it is the main thread (and, in
# a child forked from another thread, the forking one, as the interpreters
# do); the thread that runs the signal handlers is the one to say so.
if _wait.runs_signal_handlers():
    lib.lt_set_main_thread()
