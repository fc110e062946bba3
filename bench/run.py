"""lowthread's benchmark suite: pyperf, lowthread side by side with _thread.

    python bench/run.py                    full run (pyperf defaults)
    python bench/run.py --fast             quick run
    python bench/run.py --json-table F     also write the final table as JSON
    tox -e bench -- --fast                 the same through tox
    python bench/run.py --markdown F...    print JSON tables (one per interpreter,
                                           from --json-table) as the Markdown
                                           tables of docs/benchmarks.md; runs
                                           nothing, needs neither pyperf nor a
                                           built lowthread

Every timed benchmark runs for lowthread and for the interpreter's own _thread
in the same run (pyperf worker processes); the timed-acquire overshoot and the
memory figures are measured directly in the main process.  The workloads are
those of lowthread/cli/_bench.py (also used by ``python -m lowthread bench``)
and bench/workloads.py.
The "floor" is two empty calls into a tiny cffi API-mode module built here at
run time: the least a lock made of two C calls can cost.
"""

import json
import sys

# --markdown: formatting only, before anything below imports pyperf or lowthread.


def _md_time(seconds):
    """A median in seconds as docs/benchmarks.md writes it: 73 ns, 2.6 us, 34 us, 87 ms."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:,.0f} ns"
    if seconds < 1e-5:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:,.0f} ms"
    return f"{seconds:,.2f} s"


def _md_cell(row):
    """native / lowthread (ratio[; floor ratio]), or '-' when a figure is missing."""
    nat, ours, ratio = row.get("native"), row.get("lowthread"), row.get("ratio")
    if nat is None or ours is None:
        return "-"
    if row.get("native_per_s") and row.get("lowthread_per_s") and row["key"] == "handoff":
        n, o = row["native_per_s"], row["lowthread_per_s"]
        return f"{n / 1e3:,.1f} k/s / {o / 1e3:,.1f} k/s ({o / n:.2f}x handoffs/s)"
    if row["unit"] == "bytes":
        text = f"{nat:,.0f} B / {ours:,.0f} B"
    else:
        text = f"{_md_time(nat)} / {_md_time(ours)}"
    notes = [] if ratio is None else [f"{ratio:.2f}x"]
    if row.get("floor_ratio") is not None:
        notes.append(f"{row['floor_ratio']:.2f}x floor")
    return f"{text} ({'; '.join(notes)})" if notes else text


def _md_header(meta):
    if meta.get("implementation") == "pypy":
        pypy = meta.get("pypy_version")
        return f"PyPy {pypy} ({meta['python']})" if pypy else f"PyPy ({meta['python']})"
    return f"CPython {meta.get('python', '?')}"


def markdown_tables(tables):
    """Two Markdown tables, the module's benchmarks and threading's, one column
    per table of --json-table (rows matched by key, in the first table's order)."""
    keys, titles, threading_keys = [], {}, set()
    for table in tables:
        for row in table["rows"]:
            if row["key"] == "floor":  # shown as the lock pair's "x floor"
                continue
            if row["key"] not in titles:
                keys.append(row["key"])
                titles[row["key"]] = row["benchmark"]
            if row.get("threading"):
                threading_keys.add(row["key"])
    by_key = [{row["key"]: row for row in table["rows"]} for table in tables]
    head = "| benchmark | " + " | ".join(_md_header(t["meta"]) for t in tables) + " |"
    rule = "|---|" + "---|" * len(tables)
    out = []
    for part in ([k for k in keys if k not in threading_keys],
                 [k for k in keys if k in threading_keys]):
        if not part:
            continue
        if out:
            out.append("")
        out += [head, rule]
        for key in part:
            cells = [_md_cell(rows[key]) if key in rows else "-" for rows in by_key]
            out.append(f"| {titles[key]} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__" and sys.argv[1:2] == ["--markdown"]:
    if not sys.argv[2:]:
        sys.exit("usage: python bench/run.py --markdown TABLE.json [TABLE.json ...]")
    _tables = []
    for _path in sys.argv[2:]:
        with open(_path) as _f:
            _tables.append(json.load(_f))
    print(markdown_tables(_tables))
    sys.exit(0)

import workloads  # noqa: E402

# threading's objects on lowthread vs native (workloads.THREADING).  pyperf
# runs each benchmark in worker processes of their own: the Nth
# bench_time_func() call of this script, named by --worker-task=N.  These
# come first, native then lowthread for each, so that a worker whose task is
# odd and within them puts threading on lowthread before anything imports
# threading (pyperf does, through subprocess).
THREADING = workloads.THREADING
BACKENDS = ("native", "lowthread")


def _worker_task(argv):
    for i, arg in enumerate(argv):
        if arg.startswith("--worker-task="):
            return int(arg.split("=", 1)[1])
        if arg == "--worker-task" and i + 1 < len(argv):
            return int(argv[i + 1])
    return None


_TASK = _worker_task(sys.argv)
if _TASK is not None and _TASK < 2 * len(THREADING) and BACKENDS[_TASK % 2] == "lowthread":
    import lowthread as _lowthread_first

    _lowthread_first.install()

import _thread  # noqa: E402
import argparse  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import types  # noqa: E402

import pyperf  # noqa: E402
from lowthread._lowthread import ffi as _lt_ffi  # noqa: E402
from lowthread._lowthread import lib as _lt_lib  # noqa: E402

import lowthread  # noqa: E402
from lowthread.cli import _bench  # noqa: E402

PYPY = sys.implementation.name == "pypy"
NATIVE, OURS, PYRLOCK = "_thread", "lowthread", "_PyRLock"
MODULES = {
    NATIVE: _thread,
    OURS: lowthread,
    PYRLOCK: types.SimpleNamespace(RLock=threading._PyRLock),
}

# (key, title, workload, modules, unit label)
TIMED = [
    ("lock", "lock acquire()+release()", _bench.lock_pair, (NATIVE, OURS)),
    ("with", "with lock:", _bench.lock_with, (NATIVE, OURS)),
    ("rlock", "RLock acquire()+release()", workloads.rlock_pair, (NATIVE, OURS, PYRLOCK)),
    ("rlock3", "RLock nested 3 deep", workloads.rlock_nested3, (NATIVE, OURS, PYRLOCK)),
    ("trylock", "acquire(False) on a held lock", _bench.try_acquire_held, (NATIVE, OURS)),
    ("lock_make", "allocate_lock() made and dropped", workloads.lock_make, (NATIVE, OURS)),
    ("rlock_make", "RLock() made and dropped", workloads.rlock_make, (NATIVE, OURS)),
    ("contended", "2 threads on 1 lock, per acquisition", workloads.contended, (NATIVE, OURS)),
    ("handoff", "ping-pong handoff (2 locks)", _bench.handoff, (NATIVE, OURS)),
    ("start", "start_new_thread until it runs", _bench.thread_start, (NATIVE, OURS)),
    ("threads", "thread start-to-finish, per thread", workloads.thread_throughput, (NATIVE, OURS)),
]

FLOOR_SRC = r"""
static int nop(void) { return 0; }
"""
FLOOR_CDEF = """
int nop(void);
"""


def _call(loops, fn, mod):
    """pyperf calls time_func(loops, *args); the workloads take (mod, loops)."""
    return fn(mod, loops)


def _call_threading(loops, fn, backend):
    """A threading workload, in a worker whose threading must be on backend."""
    if workloads.threading_backend(threading) != backend:
        raise RuntimeError(f"bench: this worker's threading is not on {backend}: "
                           "the benchmark order and THREADING disagree")
    return fn(threading, loops)


def build_floor(tmpdir):
    """Compile the floor module _lt_floor into tmpdir; None if that fails."""
    try:
        import cffi

        ffi = cffi.FFI()
        ffi.cdef(FLOOR_CDEF)
        ffi.set_source("_lt_floor", FLOOR_SRC)
        ffi.compile(tmpdir=tmpdir, verbose=False)
        return tmpdir
    except Exception as exc:  # no compiler, no setuptools on 3.12+, ...
        print(f"bench: no floor, cannot build the cffi module: {exc!r}", file=sys.stderr)
        return None


def import_floor(floor_dir):
    sys.path.insert(0, floor_dir)
    try:
        import _lt_floor
    finally:
        sys.path.remove(floor_dir)
    return _lt_floor.lib


def add_cmdline_args(cmd, args):
    # What pyperf's worker processes need of our own options.
    if args.floor_dir:
        cmd.extend(("--floor-dir", args.floor_dir))


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument(
        "--json-table", metavar="FILE", help="write the final table as JSON to FILE")
    runner.argparser.add_argument(
        "--floor-dir", default="", help=argparse.SUPPRESS)  # main process -> workers
    runner.argparser.add_argument(
        "--overshoot-samples", type=int, default=50,
        help="timed acquire(timeout=0.01) samples per module (default 50)")
    args = runner.parse_args()
    master = not args.worker

    tmpdir = None
    if master and not args.floor_dir:
        tmpdir = tempfile.mkdtemp(prefix="lt_floor_")
        args.floor_dir = build_floor(tmpdir) or ""
    floor_lib = import_floor(args.floor_dir) if args.floor_dir else None
    try:
        results = run_timed(runner, floor_lib, master)
        if master:
            report(args, results)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


def run_timed(runner, floor_lib, master):
    """{(key, module): median seconds per op}, filled in the main process only."""
    results = {}
    for key, _title, fn in THREADING:  # first: see THREADING
        for backend in BACKENDS:
            bench = runner.bench_time_func(f"{key}[threading on {backend}]", _call_threading,
                                           fn, backend)
            if master:
                results[key, backend] = bench.median()
    for key, _title, fn, mods in TIMED:
        for m in mods:
            bench = runner.bench_time_func(f"{key}[{m}]", _call, fn, MODULES[m])
            if master:
                results[key, m] = bench.median()
    if floor_lib is not None:
        bench = runner.bench_time_func("floor[2 empty cffi calls]", _call,
                                       workloads.two_empty_calls, floor_lib)
        if master:
            results["floor", "cffi"] = bench.median()
    return results


def fmt(x, unit="ns"):
    if x is None:
        return "-"
    if unit == "ns":
        return f"{x * 1e9:.1f}" if x < 1e-6 else f"{x * 1e9:,.0f}"
    return f"{x:,.0f}"


def report(args, res):
    rows = []

    def ratio(a, b):
        return a / b if a is not None and b else None

    for key, title, _fn in THREADING:
        nat, ours = res.get((key, "native")), res.get((key, "lowthread"))
        rows.append({"key": key, "benchmark": title, "unit": "ns", "threading": True,
                     "native": nat, "lowthread": ours, "ratio": ratio(ours, nat)})
    floor = res.get(("floor", "cffi"))
    for key, title, _fn, mods in TIMED:
        nat, ours = res.get((key, NATIVE)), res.get((key, OURS))
        row = {"key": key, "benchmark": title, "unit": "ns",
               "native": nat, "lowthread": ours, "ratio": ratio(ours, nat)}
        if PYRLOCK in mods:
            row["_PyRLock"] = res.get((key, PYRLOCK))
        if key == "lock" and floor:
            row["floor"] = floor
            row["floor_ratio"] = ratio(ours, floor)
        if key in ("handoff", "contended"):
            row["native_per_s"] = 1 / nat if nat else None
            row["lowthread_per_s"] = 1 / ours if ours else None
        rows.append(row)
    if floor:
        rows.append({"key": "floor", "benchmark": "floor: 2 empty cffi calls", "unit": "ns",
                     "native": None, "lowthread": floor, "ratio": None})

    # 8. timed acquire overshoot, samples interleaved.
    over = workloads.timed_acquire_overshoot([_thread, lowthread], args.overshoot_samples)
    for which, label in ((statistics.median, "median"), (p90, "p90")):
        nat, ours = which(over[_thread]), which(over[lowthread])
        rows.append({"key": f"overshoot_{label}", "unit": "ns",
                     "benchmark": f"acquire(timeout=0.01) overshoot, {label}",
                     "native": nat, "lowthread": ours, "ratio": ratio(ours, nat),
                     "diff": ours - nat, "samples": args.overshoot_samples})

    # 9. memory.  A lock's C state is in its cdata's own allocation
    # (ffi.new), which the interpreter's figure already holds.
    c_size = _lt_ffi.sizeof("lt_lock_t")
    backend = _lt_ffi.string(_lt_lib.lt_backend()).decode()
    nat = workloads.lock_memory(_thread)
    ours = workloads.lock_memory(lowthread)
    rows.append({"key": "lock_memory", "unit": "bytes",
                 "benchmark": f"memory per lock (its C lock {c_size} B included)",
                 "native": nat, "lowthread": ours, "ratio": ratio(ours, nat),
                 "c_lock_bytes": c_size})
    nat, ours = workloads.thread_memory(_thread), workloads.thread_memory(lowthread)
    rows.append({"key": "thread_memory", "unit": "bytes",
                 "benchmark": "memory per started thread (interpreter heap)",
                 "native": nat, "lowthread": ours, "ratio": ratio(ours, nat)})

    targets = check_targets(rows)
    print_table(rows, targets)
    if args.json_table:
        meta = {"implementation": sys.implementation.name,
                "python": sys.version.split()[0],
                "pypy_version": ".".join(map(str, sys.pypy_version_info[:3])) if PYPY else None,
                "lowthread": lowthread.__version__,
                "backend": backend,
                "fast": bool(args.fast), "rigorous": bool(args.rigorous),
                "cpus": os.cpu_count()}
        with open(args.json_table, "w") as f:
            json.dump({"meta": meta, "rows": rows, "targets": targets}, f, indent=1)
            f.write("\n")


def p90(xs):
    return statistics.quantiles(xs, n=10, method="inclusive")[-1]


# CPython: the most threading's objects on lowthread may cost, times native.
_THREADING_LIMITS = {"t_lock": 1.6, "t_rlock": 1.6, "t_cond": 1.6, "t_event": 1.4,
                     "t_queue": 1.2, "t_pool": 1.3, "t_thread": 1.3}


def check_targets(rows):
    """The targets of docs/testing.md §T8: [{target, value, met}]."""
    r = {row["key"]: row for row in rows}
    out = []

    def add(text, value, met, shown):
        out.append({"target": text, "value": value, "shown": shown,
                    "met": None if value is None else bool(met)})

    def rat(key, limit, text):
        v = r[key]["ratio"]
        add(text, v, v is not None and v <= limit, "-" if v is None else f"{v:.2f}x")

    if PYPY:
        rat("lock", 1.0, "lock pair <= 1.0x native")
        rat("with", 1.0, "with lock <= 1.0x native")
    else:
        v = r["lock"].get("floor_ratio")
        add("lock pair <= 1.3x floor (2 empty cffi calls)", v,
            v is not None and v <= 1.3, "-" if v is None else f"{v:.2f}x")
        rat("lock", 1.8, "lock pair <= 1.8x native")
        rat("with", 1.6, "with lock <= 1.6x native")
    v = ratio_of(r["rlock"]["lowthread"], r["lock"]["lowthread"])
    add("RLock pair <= 1.5x lowthread lock pair", v, v is not None and v <= 1.5,
        "-" if v is None else f"{v:.2f}x")
    v = ratio_of(r["rlock"]["lowthread"], r["rlock"].get("_PyRLock"))
    add("RLock pair faster than _PyRLock", v, v is not None and v < 1.0,
        "-" if v is None else f"{v:.2f}x")
    v = ratio_of(r["handoff"]["native"], r["handoff"]["lowthread"])  # handoffs/s ratio
    need = 5.0 if PYPY else 1.0
    add(f"handoffs/s >= {need:g}x native", v, v is not None and v >= need,
        "-" if v is None else f"{v:.2f}x")
    rat("start", 1.0 if PYPY else 1.3,
        f"thread start <= {1.0 if PYPY else 1.3:g}x native")
    for key, title, _fn in THREADING:
        if PYPY:
            rat(key, 1.0, f"{title}: faster than native")
        else:
            limit = _THREADING_LIMITS[key]
            rat(key, limit, f"{title}: <= {limit:g}x native")
    d = r["overshoot_median"]["diff"]
    add("overshoot median within 20 us of native", d, abs(d) <= 20e-6, f"{d * 1e6:+.0f} us")
    # Issue 21: making a lock, and its memory.
    limit = 2.0 if PYPY else 5.0
    rat("lock_make", limit, f"allocate_lock() made and dropped <= {limit:g}x native")
    rat("rlock_make", limit, f"RLock() made and dropped <= {limit:g}x native")
    rat("lock_memory", 1.5, "memory per lock <= 1.5x native")
    return out


def ratio_of(a, b):
    return a / b if a is not None and b else None


def print_table(rows, targets):
    impl = f"{sys.implementation.name} {sys.version.split()[0]}"
    print()
    print(f"lowthread {lowthread.__version__} on {impl}: medians "
          "(ns per operation unless bytes; lower is better)")
    head = (f"{'benchmark':<46} {'_thread':>9} {'lowthread':>10} {'ratio':>7} "
            f"{'_PyRLock':>9} {'floor':>7} {'lt/floor':>8}")
    print(head)
    print("-" * len(head))
    for i, row in enumerate(rows):
        if i and rows[i - 1].get("threading") and not row.get("threading"):
            print(f"{'(above: threading on lowthread vs native; below: the modules)':<46}")
        unit = row["unit"]
        fr = row.get("floor_ratio")
        print(f"{row['benchmark']:<46} {fmt(row['native'], unit):>9} "
              f"{fmt(row['lowthread'], unit):>10} "
              f"{'-' if row['ratio'] is None else format(row['ratio'], '.2f') + 'x':>7} "
              f"{fmt(row.get('_PyRLock'), unit):>9} {fmt(row.get('floor'), unit):>7} "
              f"{'-' if fr is None else format(fr, '.2f') + 'x':>8}")
    for key in ("contended", "handoff"):
        row = next(x for x in rows if x["key"] == key)
        if row.get("native_per_s") and row.get("lowthread_per_s"):
            print(f"  {key}: {row['native_per_s'] / 1e3:,.1f} k/s native, "
                  f"{row['lowthread_per_s'] / 1e3:,.1f} k/s lowthread")
    print()
    print("targets:")
    for t in targets:
        mark = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        print(f"  {mark:<6} {t['target']:<46} {t['shown']}")


if __name__ == "__main__":
    main()
