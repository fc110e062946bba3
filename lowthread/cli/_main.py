"""python -m lowthread [demo|info|bench|run]: look at lowthread from the command line,
or run a program with threading on lowthread."""

import argparse
import os
import sys

# The console script is named lowthread; `python -m lowthread` runs this file.
_PROG = ("lowthread" if os.path.basename(sys.argv[0]) in ("lowthread", "lowthread.exe")
         else "python -m lowthread")


def _load():
    try:
        import lowthread
        from lowthread._lowthread import ffi, lib
    except ImportError as exc:
        sys.exit(f"lowthread: the C extension is not available ({exc}); "
                 "install the package with `pip install .` from a source tree")
    return lowthread, ffi, lib


def info(args):
    lowthread, ffi, lib = _load()
    try:
        import cffi
        cffi_version = cffi.__version__
    except ImportError:
        cffi_version = "unknown"
    default_stack = lib.lt_stack_size_default()
    rows = [
        ("lowthread", lowthread.__version__),
        ("interpreter", f"{sys.implementation.name} {sys.version.split()[0]}"),
        ("cffi", cffi_version),
        ("C back-end", ffi.string(lib.lt_backend()).decode()),
        ("TIMEOUT_MAX", repr(lowthread.TIMEOUT_MAX)),
        ("default stack size",
         f"{default_stack} bytes" if default_stack else "the operating system's"),
        ("main thread ident", str(lowthread.get_ident())),
        ("main thread native id",
         str(lowthread.get_native_id()) if hasattr(lowthread, "get_native_id")
         else "not available on this platform"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def demo(args):
    lowthread, _, _ = _load()
    import signal
    import time

    print(f"lowthread {lowthread.__version__}: a short tour of the API")
    printed = lowthread.allocate_lock()
    done = lowthread.allocate_lock()
    finished = []

    def worker(n):
        with printed:
            print(f"  worker {n}: ident {lowthread.get_ident()}")
        finished.append(n)
        if len(finished) == 3:
            done.release()

    done.acquire()
    for n in range(3):
        lowthread.start_new_thread(worker, (n,))
    done.acquire(timeout=10)
    deadline = time.monotonic() + 5
    while lowthread._count() and time.monotonic() < deadline:
        time.sleep(0.001)
    print(f"3 threads ran and ended; _count() = {lowthread._count()}")

    baton = lowthread.allocate_lock()
    baton.acquire()
    lowthread.start_new_thread(baton.release, ())
    print(f"a lock released by another thread: acquired again = {baton.acquire(timeout=5)}")

    t0 = time.monotonic()
    got = baton.acquire(timeout=0.2)
    print(f"a timed acquire of a held lock: {got} after {time.monotonic() - t0:.3f} s")
    baton.release()

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        # Started in the background by a shell without job control, say:
        # SIGINT is ignored, and interrupt_main() then does nothing.
        print("interrupt_main: skipped, SIGINT is not handled by Python in this process")
        return 0
    baton.acquire()

    def interrupter():
        time.sleep(0.1)
        lowthread.interrupt_main()

    lowthread.start_new_thread(interrupter, ())
    t0 = time.monotonic()
    try:
        baton.acquire(timeout=5)  # held: only the interrupt can end it early
        print("interrupt_main did not arrive")
        return 1
    except KeyboardInterrupt:
        print("interrupt_main from a worker: KeyboardInterrupt in the main thread, "
              f"blocked in acquire(), after {time.monotonic() - t0:.3f} s")
    return 0


def bench(args):
    lowthread, _, _ = _load()
    import _thread

    from . import _bench

    print(f"{sys.implementation.name} {sys.version.split()[0]}: best of 5, "
          "ns per operation (lower is better)")
    header = f"{'benchmark':<32} {'_thread':>10} {'lowthread':>10} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for name, (fn, loops) in _bench.QUICK.items():
        loops = max(1, int(loops * args.scale))
        print(f"{name:<32} ...", end="\r", flush=True, file=sys.stderr)
        native = _bench.best_ns(fn, _thread, loops)
        ours = _bench.best_ns(fn, lowthread, loops)
        print(f"{name:<32} {native:>10.0f} {ours:>10.0f} {ours / native:>6.2f}x")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "run":
        # Everything after "run" is the program's: argparse must not see it.
        from . import _run
        return _run.main(_PROG, argv[1:])
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="lowthread: Python's _thread API on a portable C core.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="a short live demonstration of the API (the default)")
    sub.add_parser("info", help="interpreter, cffi, C back-end and limits")
    b = sub.add_parser("bench", help="a quick benchmark against the interpreter's _thread")
    b.add_argument("--scale", type=float, default=1.0,
                   help="multiply every loop count (default 1.0)")
    sub.add_parser("run", help="run a program with threading on lowthread: "
                   "run [--deadlocks] [--lock-order[=strict]] [--contention[=FILE]] "
                   "script.py [args] | ... -m module [args]")
    args = parser.parse_args(argv)
    command = {"info": info, "bench": bench}.get(args.command, demo)
    return command(args) or 0


if __name__ == "__main__":
    sys.exit(main())
