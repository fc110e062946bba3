"""``python -m lowthread run``: a program runs as it does directly (docs/behaviour.md §19.6).

Differential: each program runs twice, as ``python prog.py`` / ``python -m
mod`` and under ``python -m lowthread run``, and the two must give the same
stdout, stderr and exit status (a death by SIGINT included), but for what
the program prints about its threading, which is lowthread's under the runner.
"""

import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import IS_POSIX, ORACLE, lowthread_env

pytestmark = pytest.mark.skipif(ORACLE, reason="the command is lowthread's own")

PROG = """\
import sys, threading
print("argv", sys.argv)
print("main", __name__, __file__, sys.modules["__main__"].__file__ == __file__,
      __spec__ is None, __package__, type(__loader__).__name__)
print("path0", sys.path[0])
lock = threading.Lock()
def f():
    g()
def g():
    raise ValueError("boom")
what = sys.argv[1] if len(sys.argv) > 1 else ""
if what == "raise":
    f()
elif what == "exit":
    sys.exit(3)
elif what == "exit-text":
    sys.exit("bad thing")
elif what == "thread":
    out = []
    t = threading.Thread(target=lambda: out.append(threading.current_thread().name), name="w")
    t.start(); t.join(10)
    print("thread", out)
"""




def _run(args, cwd, timeout=60):
    cp = subprocess.run([sys.executable, *args], cwd=cwd, env=lowthread_env(), capture_output=True,
                        text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return cp.returncode, cp.stdout, cp.stderr


@pytest.fixture
def prog(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "prog.py").write_text(PROG)
    (tmp_path / "sub" / "progmod.py").write_text(PROG)
    return tmp_path


@pytest.mark.timeout(120)
@pytest.mark.parametrize("what", ["", "raise", "exit", "exit-text", "thread", "extra -x --y"])
def test_script_runs_as_directly(prog, what):
    args = ["sub/prog.py", *what.split()]
    native = _run(args, prog)
    ours = _run(["-m", "lowthread", "run", *args], prog)
    assert ours == native, (native, ours)
    assert "lowthread" not in ours[2]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("form", [["-m", "progmod"], ["-mprogmod"]])
@pytest.mark.parametrize("what", ["", "raise", "exit"])
def test_module_runs_as_directly(prog, form, what):
    args = [*what.split()]
    native = _run(["-m", "progmod", *args], prog / "sub")
    ours = _run(["-m", "lowthread", "run", *form, *args], prog / "sub")
    assert ours == native, (native, ours)
    assert "lowthread" not in ours[2]


@pytest.mark.timeout(120)
def test_directory_and_zip_run_as_directly(prog):
    import zipfile

    (prog / "app").mkdir()
    (prog / "app" / "__main__.py").write_text(PROG)
    with zipfile.ZipFile(prog / "app.zip", "w") as z:
        z.writestr("__main__.py", PROG)
    for target in ("app", "app.zip"):
        for what in ("", "raise"):
            native = _run([target, *what.split()], prog)
            ours = _run(["-m", "lowthread", "run", target, *what.split()], prog)
            assert ours == native, (target, native, ours)


@pytest.mark.timeout(60)
def test_exit_statuses(prog):
    assert _run(["-m", "lowthread", "run", "sub/prog.py", "raise"], prog)[0] == 1
    assert _run(["-m", "lowthread", "run", "sub/prog.py", "exit"], prog)[0] == 3


@pytest.mark.timeout(60)
def test_threading_is_on_lowthread_even_if_imported_at_once(tmp_path):
    (tmp_path / "p.py").write_text(textwrap.dedent("""\
        import threading
        import _thread, sys
        lk = threading.Lock()
        print(type(lk).__module__, type(lk).__name__, type(threading.RLock()).__module__)
        t = threading.Thread(target=lambda: None)
        t.start(); t.join(10)
        print(_thread.__name__, sys.modules["_thread"].__name__, t.is_alive())
    """))
    rc, out, err = _run(["-m", "lowthread", "run", "p.py"], tmp_path)
    assert rc == 0, err
    assert out.split("\n")[:2] == ["lowthread lock lowthread", "lowthread lowthread False"], out


@pytest.mark.timeout(60)
def test_a_program_that_never_imports_threading_does_not_get_it(tmp_path):
    """install() is lazy, and the runner itself imports no threading (it once
    did, through zipfile): the program's modules are its own and lowthread's."""
    (tmp_path / "p.py").write_text(textwrap.dedent("""\
        import sys
        print("threading" in sys.modules, "zipfile" in sys.modules)
    """))
    assert _run(["p.py"], tmp_path) == (0, "False False\n", "")
    assert _run(["-m", "lowthread", "run", "p.py"], tmp_path) == (0, "False False\n", "")


@pytest.mark.timeout(60)
def test_syntax_error_and_missing_script(tmp_path):
    (tmp_path / "bad.py").write_text("x = = 1\n")
    assert _run(["-m", "lowthread", "run", "bad.py"], tmp_path) == _run(["bad.py"], tmp_path)
    native = _run(["nosuch.py"], tmp_path)
    ours = _run(["-m", "lowthread", "run", "nosuch.py"], tmp_path)
    assert ours == native and native[0] == 2, (native, ours)
    native = _run(["-m", "nosuchmodule"], tmp_path)
    ours = _run(["-m", "lowthread", "run", "-m", "nosuchmodule"], tmp_path)
    assert ours == native and native[0] == 1, (native, ours)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", [[], ["-m"], ["--bogus"], ["--deadlocks"], ["--lock-order=loose", "x.py"]])
def test_usage_errors(tmp_path, args):
    rc, out, err = _run(["-m", "lowthread", "run", *args], tmp_path)
    assert rc == 2 and "usage:" in err and "Traceback" not in err, (rc, out, err)


@pytest.mark.timeout(60)
def test_help_lists_run(tmp_path):
    rc, out, err = _run(["-m", "lowthread", "--help"], tmp_path)
    assert rc == 0 and "run" in out, (out, err)
    rc, out, err = _run(["-m", "lowthread", "run", "--help"], tmp_path)
    assert rc == 0 and "-m module" in out and "--lock-order" in out, (out, err)


CTRL_C = """\
import sys, threading, time
t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
t.start()
print("ready", flush=True)
t.join(50)
"""


def _interrupted(args, cwd):
    p = subprocess.Popen([sys.executable, *args], cwd=cwd, env=lowthread_env(), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "ready\n"
        time.sleep(0.3)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
        assert time.monotonic() - t0 < 10
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    return p.returncode, out, err


@pytest.mark.skipif(not IS_POSIX, reason="sends SIGINT")
@pytest.mark.timeout(120)
def test_ctrl_c_gives_the_same_traceback_and_death_by_sigint(tmp_path):
    (tmp_path / "c.py").write_text(CTRL_C)
    native = _interrupted(["c.py"], tmp_path)
    ours = _interrupted(["-m", "lowthread", "run", "c.py"], tmp_path)
    assert native[0] == -signal.SIGINT, native
    assert ours[0] == native[0], (native, ours)
    # The innermost lines name threading's own code, which differs by
    # version but not between the two runs; lowthread's own frames below it
    # (where the interpreter's _thread runs C code) are cut.
    assert ours[2] == native[2], (native, ours)
    assert ours[2].rstrip().endswith("KeyboardInterrupt") and "lowthread" not in ours[2], ours
