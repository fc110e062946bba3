"""Instructions per operation of the threading workloads, lowthread vs native, by callgrind.

    python bench/instructions.py                  every threading workload of bench/run.py
    python bench/instructions.py t_lock t_rlock   some of them
    python bench/instructions.py --top 15 t_lock  and where lowthread's go (callgrind_annotate)
    python bench/instructions.py --modes t_lock   lowthread with diagnostics off vs on

Timings on a busy 2-core machine wander; instruction counts do not.  Each
workload runs under ``valgrind --tool=callgrind`` twice per backend, with a
small and a large loop count, in a fresh process that puts threading on
lowthread (or not) before importing it; the difference of the two totals,
divided by the difference of the counts, is the cost of one operation
without the interpreter's start and exit.  Workloads of two threads run
serialized under valgrind: their figures count the work, not the waiting.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
# Loop counts (small, large) per workload: the large one well above the noise
# of startup, the small one to subtract it.
COUNTS = {"t_pool": (1, 3), "t_thread": (50, 250)}
DEFAULT_COUNTS = (2_000, 12_000)


# --modes: lowthread with each opt-in diagnostic on.  The deadlock watchdog
# looks once an hour here: what is measured is what an acquire costs.
MODES = {
    "lowthread": lambda lowthread: None,
    "deadlocks": lambda lowthread: lowthread.detect_deadlocks(interval=3600),
    "no-sites": lambda lowthread: lowthread.detect_deadlocks(interval=3600, sites=False),
    "lock-order": lambda lowthread: lowthread.check_lock_order(),
    "contention": lambda lowthread: lowthread.record_contention(),
}


def child(backend, key, loops):
    if backend in MODES:
        import lowthread

        lowthread.install()
        MODES[backend](lowthread)
    import threading

    sys.path.insert(0, HERE)
    import workloads

    fn = {k: f for k, _title, f in workloads.THREADING}[key]
    if workloads.threading_backend(threading) != ("native" if backend == "native" else "lowthread"):
        sys.exit(f"instructions: threading is not on {backend}")
    fn(threading, loops)


def total_instructions(out_file):
    with open(out_file) as f:
        for line in f:
            m = re.match(r"(summary|totals):\s+(\d+)", line)
            if m:
                return int(m.group(2))
    raise RuntimeError(f"no totals in {out_file}")


def measure(backend, key, loops, tmpdir):
    out = os.path.join(tmpdir, f"{key}.{backend}.{loops}.out")
    cmd = ["valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}",
           sys.executable, os.path.abspath(__file__), "--child", backend, key, str(loops)]
    subprocess.run(cmd, check=True)
    return total_instructions(out), out


def self_costs(out_file):
    """{function: self instructions} of one callgrind run (callgrind_annotate's table)."""
    text = subprocess.run(["callgrind_annotate", "--threshold=100", out_file],
                          capture_output=True, text=True, check=True).stdout
    costs = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([\s\d.]+%\)\s+(.*)", line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            name = re.sub(r"'\d+", "", m.group(2).split(" [")[0])
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def per_op_functions(small_out, large_out, span):
    """[(instructions per operation, function)]: what one more operation costs, by function."""
    a, b = self_costs(small_out), self_costs(large_out)
    diff = [((b.get(f, 0) - a.get(f, 0)) / span, f) for f in set(a) | set(b)]
    return sorted(diff, reverse=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("keys", nargs="*", help="workload keys of bench/run.py's THREADING")
    p.add_argument("--top", type=int, default=0,
                   help="also show, per operation, the N functions (self cost) that cost most")
    p.add_argument("--modes", action="store_true",
                   help="compare lowthread with its deadlock detection and lock-order "
                        "checking on, instead of native with lowthread")
    p.add_argument("--child", nargs=3, metavar=("BACKEND", "KEY", "LOOPS"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        backend, key, loops = args.child
        child(backend, key, int(loops))
        return
    sys.path.insert(0, HERE)
    from workloads import THREADING

    titles = {k: t for k, t, _fn in THREADING}
    keys = args.keys or list(titles)
    tmpdir = tempfile.mkdtemp(prefix="lt_callgrind_")
    print(f"{sys.implementation.name} {sys.version.split()[0]}: instructions per operation "
          f"(callgrind; files in {tmpdir})")
    backends = list(MODES) if args.modes else ["native", "lowthread"]
    print(f"{'workload':<46} " + " ".join(f"{b:>12} {'ratio':>7}" if i else f"{b:>12}"
                                          for i, b in enumerate(backends)))
    for key in keys:
        small, large = COUNTS.get(key, DEFAULT_COUNTS)
        per = {}
        for backend in backends:
            a, small_out = measure(backend, key, small, tmpdir)
            b, large_out = measure(backend, key, large, tmpdir)
            per[backend] = ((b - a) / (large - small), small_out, large_out)
        base = per[backends[0]][0]
        print(f"{titles[key]:<46} {base:>12,.0f} " + " ".join(
            f"{per[b][0]:>12,.0f} {per[b][0] / base:>6.2f}x" for b in backends[1:]), flush=True)
        if args.top:
            for backend in backends:
                print(f"  {backend}: per operation, the {args.top} costliest functions (self)")
                rows = per_op_functions(per[backend][1], per[backend][2], large - small)
                for cost, name in rows[:args.top]:
                    print(f"    {cost:>9,.1f}  {name[-110:]}")


if __name__ == "__main__":
    main()
