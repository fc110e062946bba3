"""``lowthread run``: run a program with threading on lowthread.

``lowthread run script.py [args]`` and ``lowthread run -m module [args]`` run
the program as ``python script.py`` and ``python -m module`` would, after
install(): the same sys.argv, sys.path[0] and __main__ module, and the same
outcome; ``--deadlocks``, ``--lock-order[=strict]`` and
``--contention[=FILE]`` before the program switch those diagnostics on
first (the contention profile is written at exit: the top lock classes to
stderr, or to FILE; a FILE named *.folded or *.collapsed gets the waiting
stacks, for a flame graph).  An exception that ends the program goes, as the interpreter sends
it, to sys.excepthook (whatever hook the program left) and sets the exit
status, a KeyboardInterrupt included (the process then dies of SIGINT, as
CPython's does).  Its traceback is cut to what it is when the program runs
directly: without the runner's frames at the front, and without the frames
of lowthread's own Python code at the end (a KeyboardInterrupt that comes
while a lock or join waits), where the interpreter's _thread runs C code.
"""

import builtins
import os
import sys
import types

from ..diagnostics._sites import PACKAGE as _PACKAGE

USAGE = ("usage: {prog} run [--deadlocks] [--lock-order[=strict]] [--contention[=FILE]] "
         "(script.py | -m module) [args ...]")
# The diagnostics the runner can switch on before the program starts.
_MODES = {"--deadlocks": ("deadlocks", None), "--lock-order": ("lock-order", False),
          "--lock-order=strict": ("lock-order", True), "--contention": ("contention", None)}


def main(prog, argv):
    """Run the program that argv (what follows ``run``) names; usage errors exit 2."""
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE.format(prog=prog))
        print("\nRun a Python program with threading on lowthread (lowthread.install()),\n"
              "with sys.argv, __main__, tracebacks and exit status as when it runs directly.\n"
              "\n  --deadlocks           report deadlocks and end them with DeadlockError\n"
              "  --lock-order          report lock-order inversions (to stderr)\n"
              "  --lock-order=strict   raise LockOrderError at an inversion instead\n"
              "  --contention          record lock contention; the top 10 lock classes\n"
              "                        to stderr at exit\n"
              "  --contention=FILE     ... written to FILE instead (FILE.folded or\n"
              "                        FILE.collapsed: the waiting stacks, for a flame graph)")
        return 0
    modes = {}
    while argv and (argv[0] in _MODES or argv[0].startswith("--contention=")):
        if argv[0].startswith("--contention="):
            path = argv[0][len("--contention="):]
            if not path:
                return _usage_error(prog, "--contention=: the file name is missing")
            modes["contention"] = path
        else:
            name, value = _MODES[argv[0]]
            modes[name] = value
        argv = argv[1:]
    if not argv:
        return _usage_error(prog, "the script or -m module to run is missing")
    first = argv[0]
    if first.startswith("-m"):
        module = first[2:] or (argv[1] if len(argv) > 1 else "")
        if not module:
            return _usage_error(prog, "argument -m: expected a module name")
        args = argv[1:] if first[2:] else argv[2:]
        _launch(_run_module, module, args, modes)
    elif first.startswith("-") and first != "-":
        return _usage_error(prog, f"unknown option {first}")
    else:
        _launch(_run_script, first, argv[1:], modes)
    return 0


def _usage_error(prog, message):
    print(USAGE.format(prog=prog), file=sys.stderr)
    print(f"{prog} run: error: {message}", file=sys.stderr)
    return 2


def _launch(run, target, args, modes):
    """install() and the diagnostics modes asks for, then run(target, args);
    the frames up to this one are the runner's, cut from the traceback of
    an exception that ends the program."""
    import lowthread

    lowthread.install()
    if "deadlocks" in modes:
        lowthread.detect_deadlocks()
    if "lock-order" in modes:
        lowthread.check_lock_order(strict=modes["lock-order"])
    if "contention" in modes:
        import atexit

        from ..diagnostics import _contention

        lowthread.record_contention()
        # Registered first, so run last: after the program's own exit handlers.
        atexit.register(_contention.write_at_exit, modes["contention"])
    try:
        run(target, args)
    except SystemExit:
        raise
    except BaseException:
        sys.excepthook = _ReportFromProgram(sys.excepthook)
        raise


_LAUNCH_CODE = _launch.__code__


class _ReportFromProgram:
    """A one-shot sys.excepthook: the hook that was set, given the traceback
    from the program's first frame on."""

    def __init__(self, hook):
        self.hook = hook

    def __call__(self, kind, value, tb):
        sys.excepthook = self.hook
        tb = _from_program(tb)
        if value is not None:
            value = value.with_traceback(tb)
        self.hook(kind, value, tb)


def _from_program(tb):
    """tb without its entries up to _launch's and the runner's below it, and
    without those of lowthread's code that end it."""
    entry = tb
    while entry is not None and entry.tb_frame.f_code is not _LAUNCH_CODE:
        entry = entry.tb_next
    if entry is None:  # not raised through _launch: leave it whole
        return tb
    entry = entry.tb_next
    # The runner's frames below _launch (_RUNNER_CODES, at the end).
    while entry is not None and entry.tb_frame.f_code in _RUNNER_CODES:
        entry = entry.tb_next
    last = None  # the program's innermost entry
    walk = entry
    while walk is not None:
        if not _is_lowthread(walk.tb_frame.f_code.co_filename):
            last = walk
        walk = walk.tb_next
    if last is not None:
        last.tb_next = None
    return entry




def _is_lowthread(filename):
    return os.path.abspath(filename).startswith(_PACKAGE)


# The __main__ modules that the program's replaced (see _fresh_main).
_replaced: list = []


def _fresh_main():
    """A new __main__ module, as the interpreter makes it at startup."""
    main = types.ModuleType("__main__")
    main.__annotations__ = {}
    main.__builtins__ = builtins  # type: ignore[attr-defined]
    # The runner's own __main__ (lowthread's, or the console script) stays
    # referenced, so that its globals live on while its code runs.
    _replaced.append(sys.modules.get("__main__"))
    sys.modules["__main__"] = main
    return main


def _set_path0(directory):
    """sys.path[0] as the interpreter sets it, unless it adds none (-I, -P)."""
    if sys.flags.isolated or getattr(sys.flags, "safe_path", False):
        return
    if sys.path:
        sys.path[0] = directory
    else:
        sys.path.append(directory)


def _run_script(path, args):
    from importlib.machinery import SourceFileLoader

    full = os.path.abspath(path)
    if os.path.isdir(path) or _is_zip(path):
        # As python runs a directory or a zip file: its __main__ module,
        # found on sys.path[0], which is the path itself.
        import runpy

        sys.argv[:] = [path, *args]
        _set_path0(full)
        _fresh_main()
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
        return
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError as exc:
        # The interpreter's own words and status for a missing script.
        shown = full if sys.implementation.name == "pypy" else repr(full)
        print(f"{sys.executable}: can't open file {shown}: [Errno {exc.errno}] {exc.strerror}",
              file=sys.stderr)
        raise SystemExit(2) from None
    sys.argv[:] = [path, *args]
    _set_path0(os.path.dirname(os.path.realpath(path)))
    main = _fresh_main()
    main.__file__ = full
    main.__cached__ = None
    main.__loader__ = SourceFileLoader("__main__", full)
    main.__package__ = None
    main.__spec__ = None
    code = compile(source, full, "exec", dont_inherit=True)
    exec(code, vars(main))


def _is_zip(path):
    # As the interpreter tells a zip file: zipimport takes it.  zipimport is
    # loaded at startup; zipfile would import threading, which a program
    # that never uses it should not pay for (install() is lazy).
    import zipimport

    try:
        zipimport.zipimporter(path)
    except (zipimport.ZipImportError, OSError):
        return False
    return True


def _run_module(name, args):
    import runpy

    sys.argv[:] = ["-m", *args]  # runpy puts the module's path first
    _set_path0(os.getcwd())
    _fresh_main()
    # What python -m calls: it runs the module in sys.modules["__main__"].
    runpy._run_module_as_main(name, alter_argv=True)  # type: ignore[attr-defined]


# The frames of the runner itself that a traceback passes below _launch.
_RUNNER_CODES = frozenset({_run_script.__code__, _run_module.__code__})
