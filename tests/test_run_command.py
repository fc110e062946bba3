"""``python -m lowthread run``: a program runs as when python runs it, with threading on lowthread.

Differential: each program runs twice, as ``python script.py`` / ``python -m
module`` (the oracle) and as ``python -m lowthread run ...``, and what it
sees (sys.argv, __main__, sys.path[0]), prints, reports and exits with must
be the same; only the backend that the program reports differs.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import IS_POSIX

TIMEOUT = 60

# What a program prints about itself; the last line says whose lock
# threading.Lock() makes.
INTROSPECT = """\
import sys, threading
print("argv", sys.argv)
print("name", __name__)
print("file", globals().get("__file__"))
print("spec", getattr(__spec__, "name", None))
print("path0", sys.path[0])
print("main", sys.modules["__main__"] is sys.modules[__name__])
print("backend", type(threading.Lock()).__module__)
"""


def run(argv, cwd, **kw):
    return subprocess.run([sys.executable, *argv], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, **kw)


def both(tmp_path, argv):
    """(direct, through lowthread run) CompletedProcess of the same program and arguments."""
    return run(argv, tmp_path), run(["-m", "lowthread", "run", *argv], tmp_path)


def split_backend(out):
    lines = out.splitlines()
    assert lines and lines[-1].startswith("backend "), out
    return lines[:-1], lines[-1].split()[1]


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_script_sees_argv_main_and_path_as_when_run_directly(tmp_path):
    write(tmp_path / "prog" / "script.py", INTROSPECT)
    direct, ours = both(tmp_path, ["prog/script.py", "a", "--flag", "-m", "x y"])
    assert direct.returncode == ours.returncode == 0, (direct.stderr, ours.stderr)
    seen_direct, backend_direct = split_backend(direct.stdout)
    seen_ours, backend_ours = split_backend(ours.stdout)
    assert seen_ours == seen_direct
    assert backend_direct == "_thread"
    assert backend_ours == "lowthread"
    assert ours.stderr == direct.stderr == ""


def test_module_sees_argv_main_and_spec_as_with_python_dash_m(tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "mod.py", INTROSPECT)
    direct, ours = both(tmp_path, ["-m", "pkg.mod", "a", "b"])
    assert direct.returncode == ours.returncode == 0, (direct.stderr, ours.stderr)
    seen_direct, _ = split_backend(direct.stdout)
    seen_ours, backend = split_backend(ours.stdout)
    assert seen_ours == seen_direct
    assert backend == "lowthread"
    # The joined spelling -mmodule too.
    joined = run(["-m", "lowthread", "run", "-mpkg.mod", "a", "b"], tmp_path)
    assert split_backend(joined.stdout) == (seen_direct, "lowthread")


def test_package_main_runs_with_dash_m(tmp_path):
    write(tmp_path / "app" / "__init__.py", "")
    write(tmp_path / "app" / "__main__.py", INTROSPECT)
    direct, ours = both(tmp_path, ["-m", "app", "z"])
    assert direct.returncode == ours.returncode == 0, (direct.stderr, ours.stderr)
    assert split_backend(ours.stdout)[0] == split_backend(direct.stdout)[0]


def test_uncaught_exception_traceback_and_status_as_when_run_directly(tmp_path):
    write(tmp_path / "boom.py", """\
        import threading

        def inner():
            raise ValueError("boom")

        def outer():
            inner()

        outer()
        """)
    direct, ours = both(tmp_path, ["boom.py"])
    assert direct.returncode == 1
    assert ours.returncode == direct.returncode
    assert ours.stderr == direct.stderr
    assert "lowthread" not in ours.stderr  # the runner's frames are cut


def test_excepthook_the_program_set_reports_its_exception(tmp_path):
    write(tmp_path / "hook.py", """\
        import sys

        def hook(kind, value, tb):
            frames = []
            while tb is not None:
                frames.append(tb.tb_frame.f_code.co_name)
                tb = tb.tb_next
            print("hook", kind.__name__, value, frames)

        sys.excepthook = hook

        def f():
            raise KeyError("k")

        f()
        """)
    direct, ours = both(tmp_path, ["hook.py"])
    assert direct.stdout.startswith("hook KeyError")
    assert (ours.returncode, ours.stdout, ours.stderr) == \
        (direct.returncode, direct.stdout, direct.stderr)


@pytest.mark.parametrize("code, status", [
    ("raise SystemExit(3)", 3),
    ("import sys; sys.exit('bye')", 1),
    ("import sys; sys.exit(None)", 0),
    ("import os; os._exit(7)", 7),
])
def test_exit_status_as_when_run_directly(tmp_path, code, status):
    write(tmp_path / "exits.py", code + "\n")
    direct, ours = both(tmp_path, ["exits.py"])
    assert direct.returncode == status
    assert (ours.returncode, ours.stdout, ours.stderr) == \
        (direct.returncode, direct.stdout, direct.stderr)


def test_missing_script_is_reported_like_the_interpreter(tmp_path):
    direct, ours = both(tmp_path, ["no_such_script.py"])
    assert direct.returncode == 2
    assert ours.returncode == 2
    assert ours.stderr == direct.stderr


def test_missing_module_fails_like_python_dash_m(tmp_path):
    direct, ours = both(tmp_path, ["-m", "no_such_module_here"])
    assert direct.returncode == 1
    assert ours.returncode == 1
    assert "No module named no_such_module_here" in ours.stderr


def test_usage_errors_exit_2(tmp_path):
    for argv in ([], ["-m"], ["--bogus"]):
        res = run(["-m", "lowthread", "run", *argv], tmp_path)
        assert res.returncode == 2, argv
        assert "usage:" in res.stderr


def test_script_importing_threading_at_once_runs_its_threads_on_lowthread(tmp_path):
    write(tmp_path / "threads.py", """\
        import threading, queue, lowthread
        from concurrent.futures import ThreadPoolExecutor

        assert threading.main_thread() is threading.current_thread()
        assert threading.get_ident() == lowthread.get_ident()
        seen = queue.Queue()

        def work(n):
            seen.put((n, threading.get_ident(), threading.current_thread().name))

        threads = [threading.Thread(target=work, args=(i,), name=f"w{i}") for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        got = sorted(seen.get() for _ in range(4))
        assert [g[2] for g in got] == ["w0", "w1", "w2", "w3"], got
        with ThreadPoolExecutor(2) as ex:
            assert list(ex.map(lambda x: x * 2, range(5))) == [0, 2, 4, 6, 8]
        print(type(threading.Lock()).__module__, type(threading.RLock()).__module__,
              threading.active_count())
        """)
    res = run(["-m", "lowthread", "run", "threads.py"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["lowthread", "lowthread", "1"]


def test_non_daemon_threads_are_joined_at_exit(tmp_path):
    write(tmp_path / "late.py", """\
        import threading, time

        def late():
            time.sleep(0.3)
            print("late thread done", flush=True)

        threading.Thread(target=late).start()
        print("main done", flush=True)
        """)
    direct, ours = both(tmp_path, ["late.py"])
    assert direct.stdout == "main done\nlate thread done\n"
    assert (ours.returncode, ours.stdout, ours.stderr) == \
        (direct.returncode, direct.stdout, direct.stderr)


@pytest.mark.skipif(not IS_POSIX, reason="sends SIGINT")
def test_ctrl_c_in_join_ends_the_program_as_when_run_directly(tmp_path):
    write(tmp_path / "waits.py", """\
        import threading

        t = threading.Thread(target=threading.Event().wait, daemon=True)
        t.start()
        print("ready", flush=True)
        t.join()
        """)
    outcomes = []
    for argv in (["waits.py"], ["-m", "lowthread", "run", "waits.py"]):
        proc = subprocess.Popen([sys.executable, *argv], cwd=tmp_path, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout.readline() == "ready\n"
            time.sleep(0.2)  # into join()
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        outcomes.append((proc.returncode, err.strip().splitlines()[-1:]))
    direct, ours = outcomes
    assert direct[1] == ["KeyboardInterrupt"]
    assert ours == direct


def test_run_help(tmp_path):
    res = run(["-m", "lowthread", "run", "--help"], tmp_path)
    assert res.returncode == 0
    assert "usage:" in res.stdout


def test_runs_from_another_directory_with_the_scripts_own_path0(tmp_path):
    write(tmp_path / "sub" / "helper.py", "VALUE = 42\n")
    write(tmp_path / "sub" / "uses.py", "import helper, os\nprint(helper.VALUE)\n")
    res = run(["-m", "lowthread", "run", os.path.join("sub", "uses.py")], tmp_path)
    assert (res.returncode, res.stdout) == (0, "42\n"), res.stderr
