"""Two lowthreads side by side in one pyperf run: before and after a change.

    python bench/compare.py BASE [pyperf options, e.g. --fast]

BASE is the lowthread package folder of the version to compare with (for
example an older commit installed into a venv of the same interpreter:
``.../site-packages/lowthread``).  It is copied and imported as
``lowthread_base`` beside the lowthread this interpreter imports, and every
timed benchmark of bench/run.py runs for both in the same run, in pyperf's
worker processes, interleaved.  The table gives base, new and new / base.
"""

import os
import shutil
import sys
import tempfile

import pyperf
import run as suite

BASE_NAME = "lowthread_base"


def add_cmdline_args(cmd, args):
    cmd.extend(("--copy-dir", args.copy_dir, args.base))


def load_base(copy_dir):
    sys.path.insert(0, copy_dir)
    import lowthread_base
    return lowthread_base


def main():
    runner = pyperf.Runner(add_cmdline_args=add_cmdline_args)
    runner.argparser.add_argument("base", help="the lowthread package folder to compare with")
    runner.argparser.add_argument("--copy-dir", default="", help="(main process -> workers)")
    args = runner.parse_args()
    tmpdir = None
    if not args.copy_dir:
        tmpdir = tempfile.mkdtemp(prefix="lt_base_")
        shutil.copytree(args.base, os.path.join(tmpdir, BASE_NAME),
                        ignore=shutil.ignore_patterns("__pycache__"))
        args.copy_dir = tmpdir
    try:
        mods = {"base": load_base(args.copy_dir), "new": suite.lowthread}
        results = {}
        for key, title, fn, _mods in suite.TIMED:
            for name, mod in mods.items():
                bench = runner.bench_time_func(f"{key}[{name}]", suite._call, fn, mod)
                if not args.worker:
                    results[key, name] = (title, bench.median())
        if not args.worker:
            print()
            print(f"{sys.implementation.name} {sys.version.split()[0]}: medians, "
                  "ns per operation (lower is better)")
            print(f"{'benchmark':<46} {'base':>10} {'new':>10} {'new/base':>9}")
            for key, _title, _fn, _m in suite.TIMED:
                title, base = results[key, "base"]
                _, new = results[key, "new"]
                print(f"{title:<46} {suite.fmt(base):>10} {suite.fmt(new):>10} "
                      f"{new / base:>8.2f}x")
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    main()
