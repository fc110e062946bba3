"""Build lowthread's wheel once and smoke-test that same wheel on every CPython.

lowthread's extension is compiled against CPython's limited API, so one wheel
tagged cp39-abi3 must install and work on CPython 3.9 and every later one.
This script (run by ``tox -e abi3``; it needs only the standard library):

1. builds the wheel with the interpreter that runs it
   (``pip wheel . --no-deps``), which should be the oldest, CPython 3.9;
2. checks the wheel's tag is cp39-abi3 and its extension an abi3 one;
3. for each CPython 3.9-3.13 found as ``python3.X`` on PATH, makes a fresh
   venv, installs that wheel (and cffi from the index) and runs a smoke test
   (import, lock acquire/release, a thread and its ident) from outside the
   source tree.

A missing interpreter is skipped with a SKIP line, unless --strict, or CI is
set, or TOX_SKIP_MISSING_INTERPRETERS is false: then it is a failure.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
WANT_TAG = ("cp39", "abi3")

SMOKE = r"""
import os, sys
import lowthread
from lowthread import _lowthread
ext = os.path.basename(_lowthread.__file__)
assert ".abi3." in ext or ext.endswith(".pyd"), "not the abi3 extension: " + ext
lock = lowthread.allocate_lock()
assert lock.acquire() is True
assert lock.locked()
assert lock.acquire(False) is False
lock.release()
assert not lock.locked()
done = lowthread.allocate_lock()
done.acquire()
seen = []
def run(a, b):
    seen.append((lowthread.get_ident(), a + b))
    done.release()
ident = lowthread.start_new_thread(run, (1, 2))
assert done.acquire(timeout=30), "the thread did not run within 30 s"
assert seen == [(ident, 3)], (seen, ident)
assert ident != lowthread.get_ident()
print("ok: lowthread %s on %s %s (%s)" % (
    lowthread.__version__, sys.implementation.name,
    sys.version.split()[0], ext))
"""


def say(msg: str) -> None:
    print(f"abi3_check: {msg}", flush=True)


def run(cmd: list[str], cwd: str | None = None, timeout: float | None = None) -> None:
    shown = ["<smoke test>" if "\n" in c else c for c in cmd]
    print("+ " + " ".join(shown), flush=True)
    subprocess.run(cmd, check=True, cwd=cwd, timeout=timeout)


def strict_default() -> bool:
    ci = os.environ.get("CI", "").strip().lower()
    skip = os.environ.get("TOX_SKIP_MISSING_INTERPRETERS", "").strip().lower()
    return ci not in ("", "0", "false", "no") or skip in ("false", "0", "no")


def build_wheel(outdir: str) -> str:
    if platform.python_implementation() != "CPython":
        sys.exit("abi3_check: build the wheel with CPython, not "
                 + platform.python_implementation())
    if sys.version_info[:2] != (3, 9):
        say(f"note: building with {sys.version.split()[0]}; the cp39 floor is "
            "checked best when building with 3.9")
    shutil.rmtree(outdir, ignore_errors=True)
    os.makedirs(outdir)
    run([sys.executable, "-m", "pip", "wheel", ROOT, "--no-deps", "-w", outdir])
    wheels = [f for f in os.listdir(outdir) if f.endswith(".whl")]
    if len(wheels) != 1:
        sys.exit(f"abi3_check: expected one wheel in {outdir}, found {wheels}")
    return os.path.join(outdir, wheels[0])


def check_wheel(path: str) -> None:
    name = os.path.basename(path)
    parts = name[:-len(".whl")].split("-")
    # name-version[-build]-python-abi-platform
    py_tag, abi_tag, plat_tag = parts[-3:]
    say(f"wheel {name}: python tag {py_tag}, abi tag {abi_tag}, platform {plat_tag}")
    if (py_tag, abi_tag) != WANT_TAG:
        sys.exit(f"abi3_check: FAIL: wheel tag is {py_tag}-{abi_tag}, "
                 f"want {'-'.join(WANT_TAG)}")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
    exts = [n for n in names if n.startswith("lowthread/_lowthread.")
            and n.endswith((".so", ".pyd"))]
    say(f"extension in the wheel: {exts}")
    if len(exts) != 1 or (".abi3." not in exts[0] and not exts[0].endswith(".pyd")):
        sys.exit("abi3_check: FAIL: want exactly one abi3 extension module")


def venv_python(venv: str) -> str:
    if os.name == "nt":
        return os.path.join(venv, "Scripts", "python.exe")
    return os.path.join(venv, "bin", "python")


def find_python(version: str) -> str | None:
    """The real interpreter behind ``python3.X`` on PATH (not a venv's or a
    pyenv shim), if it is CPython 3.X."""
    exe = shutil.which(f"python{version}")
    if exe is None:
        return None
    probe = ("import os, sys, platform; print(platform.python_implementation(),"
             " '%d.%d' % sys.version_info[:2],"
             " os.path.realpath(getattr(sys, '_base_executable', sys.executable)))")
    try:
        out = subprocess.run([exe, "-c", probe], check=True, capture_output=True,
                             text=True).stdout.split(maxsplit=2)
    except (OSError, subprocess.CalledProcessError):
        return None  # e.g. a pyenv shim for a version not selected
    if len(out) != 3 or out[:2] != ["CPython", version]:
        return None
    return out[2].strip()


def smoke(version: str, exe: str, wheel: str, workdir: str) -> bool:
    say(f"--- CPython {version}: {exe}")
    venv = os.path.join(workdir, f"venv{version}")
    shutil.rmtree(venv, ignore_errors=True)
    try:
        run([exe, "-m", "venv", venv])
        py = venv_python(venv)
        run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--only-binary", "cffi", wheel])
        # -I: no cwd, PYTHONPATH or user site on sys.path; run from a
        # scratch folder so the source tree's lowthread/ cannot be imported.
        with tempfile.TemporaryDirectory() as cwd:
            run([py, "-I", "-X", "faulthandler", "-c", SMOKE], cwd=cwd, timeout=120)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        say(f"FAIL CPython {version}: {exc}")
        return False
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workdir", default=None,
                    help="scratch folder (default: a temporary one)")
    ap.add_argument("--wheel", default=None,
                    help="test this wheel instead of building one")
    ap.add_argument("--strict", action="store_true", default=strict_default(),
                    help="a missing interpreter is a failure (default under CI "
                         "or TOX_SKIP_MISSING_INTERPRETERS=false)")
    args = ap.parse_args()

    workdir = args.workdir or tempfile.mkdtemp(prefix="abi3_check-")
    os.makedirs(workdir, exist_ok=True)
    wheel = args.wheel or build_wheel(os.path.join(workdir, "wh"))
    check_wheel(wheel)

    passed: list[str] = []
    failed: list[str] = []
    skipped: list[str] = []
    for version in VERSIONS:
        exe = find_python(version)
        if exe is None:
            if args.strict:
                say(f"FAIL CPython {version}: python{version} not found on PATH")
                failed.append(version)
            else:
                say(f"SKIP CPython {version}: python{version} not found on PATH")
                skipped.append(version)
            continue
        (passed if smoke(version, exe, wheel, workdir) else failed).append(version)

    say(f"passed {passed or '-'}; failed {failed or '-'}; skipped {skipped or '-'}")
    if not passed and not failed:
        say("FAIL: no interpreter was tested")
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
