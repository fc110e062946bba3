"""From interrupt_main() to the handler running in the blocked main thread.

    python bench/interrupt_latency.py [rounds]
    python bench/interrupt_latency.py --first [processes]

The main thread waits on a held lowthread lock (untimed, then with a 60 s
timeout); another lowthread thread reads the clock and calls
interrupt_main(SIGUSR1); the handler, in the main thread, reads the clock
and raises, which ends the wait.  Prints the median and the 90th percentile
in microseconds, with the C core's back-end.  --first measures the first
call of a fresh interpreter instead, one per process (default 21): it once
imported ctypes and cost 3-5 ms (issue 19).  Not a test: the target is a
median under 1 ms either way (issues 14 and 19).
"""

import signal
import statistics
import subprocess
import sys
import time

from lowthread._lowthread import ffi, lib

import lowthread


class _Arrived(Exception):
    pass


def _measure(rounds, timeout):
    lock = lowthread.allocate_lock()
    lock.acquire()
    go = lowthread.allocate_lock()
    go.acquire()
    sent = []
    latencies = []

    def handler(signum, frame):
        latencies.append(time.perf_counter() - sent[-1])
        raise _Arrived

    def interrupter():
        for _ in range(rounds):
            go.acquire()
            time.sleep(0.002)  # the main thread is in its wait by now
            sent.append(time.perf_counter())
            lowthread.interrupt_main(signal.SIGUSR1)

    old = signal.signal(signal.SIGUSR1, handler)
    try:
        lowthread.start_new_thread(interrupter, ())
        for _ in range(rounds):
            go.release()
            try:
                lock.acquire(timeout=timeout)
            except _Arrived:
                continue
            raise RuntimeError("the wait ended without the interrupt")
    finally:
        signal.signal(signal.SIGUSR1, old)
    return latencies


def _first_call_us(processes):
    """The first call's latency in each of that many fresh interpreters."""
    us = []
    for _ in range(processes):
        out = subprocess.run([sys.executable, __file__, "--one"], capture_output=True,
                             text=True, timeout=60, check=True).stdout
        us.append(float(out))
    return sorted(us)


def main():
    if sys.argv[1:2] == ["--one"]:
        print(_measure(1, 60)[0] * 1e6)
        return
    impl = "%s %d.%d" % (sys.implementation.name, *sys.version_info[:2])
    backend = ffi.string(lib.lt_backend()).decode()
    if sys.argv[1:2] == ["--first"]:
        us = _first_call_us(int(sys.argv[2]) if len(sys.argv) > 2 else 21)
        print("%-12s %-9s %-8s median %7.1f us   p90 %7.1f us   (%d processes)" % (
            impl, backend, "first", statistics.median(us), us[int(len(us) * 0.9)], len(us)))
        return
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    for name, timeout in (("untimed", -1), ("60 s", 60)):
        us = sorted(x * 1e6 for x in _measure(rounds, timeout))
        print("%-12s %-9s %-8s median %7.1f us   p90 %7.1f us   (%d rounds)" % (
            impl, backend, name, statistics.median(us), us[int(len(us) * 0.9)], len(us)))


if __name__ == "__main__":
    main()
