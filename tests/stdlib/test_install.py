"""threading on lowthread: install() (docs/behaviour.md §19).

Every test runs its program in a fresh interpreter (run_py: lowthread imported
as ``lt``, a bounded timeout), because install() changes the process for good.
The checks compare with what threading does on the interpreter's own _thread
where that is the point (the same outcome), and check lowthread's own
promises where it goes further (OS thread names, subinterpreters, and the
fixes cited per test).  threading.local after install() is in
test_thread_local.py.
"""

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import IS_LINUX, IS_POSIX, IS_PYPY, ORACLE, PY, Proc, popen_py, run_py

pytestmark = pytest.mark.skipif(ORACLE, reason="install() is lowthread's own")

HAVE_TESTCAPI = False
if not IS_PYPY:  # PyPy's _testcapi is no CPython one (and may not even build)
    try:
        import _testcapi  # noqa: F401
        HAVE_TESTCAPI = True
    except ImportError:
        pass

# What each threading takes from _thread (its global name -> lowthread's).
CHECK_PRIMITIVES = """
import sys, threading, queue, logging, _thread
from concurrent.futures import ThreadPoolExecutor
native = NATIVE_THREAD
assert sys.modules["_thread"] is lt and _thread is lt
from lowthread.stdlib import _install
for name, attr in _install._GLOBALS.items():
    if name in vars(threading) and hasattr(lt, attr) and name not in KEPT:
        assert getattr(threading, name) is getattr(lt, attr), name
# Nothing threading holds comes from the interpreter's _thread (RuntimeError,
# its error, is everybody's).
natives = {id(v): k for k, v in vars(native).items() if not k.startswith("__") and (
           not isinstance(v, type) or not issubclass(v, BaseException))}
native_types = tuple(getattr(native, n) for n in ("LockType", "RLock", "_local") if hasattr(native, n))
borrowed = [k for k, v in vars(threading).items() if (id(v) in natives or isinstance(v, native_types))
            and k not in KEPT]
assert not borrowed, borrowed
assert type(threading.Lock()) is lt.lock
assert type(threading.RLock()) is lt.RLock
assert type(threading.Condition()._lock) is lt.RLock
assert type(threading.Event()._cond._lock) is lt.lock
assert type(threading.Semaphore()._cond._lock) is lt.lock
assert type(threading.Barrier(1)._cond._lock) is lt.lock
assert type(queue.Queue().mutex) is lt.lock
assert type(logging.Handler().lock) is lt.RLock
assert isinstance(threading.local(), lt._local)
before = lt._count()
seen = []
gate = threading.Event()
def work():
    seen.append(lt._count())
    gate.wait(10)
t = threading.Thread(target=work)
t.start()
timer = threading.Timer(0.01, lambda: seen.append(lt._count()))
timer.start()
with ThreadPoolExecutor(2) as ex:
    assert list(ex.map(lambda x: (x, lt._count() > before), range(3))) == [
        (0, True), (1, True), (2, True)]
timer.join(10)
gate.set()
t.join(10)
assert not t.is_alive() and not timer.is_alive()
assert all(n > before for n in seen) and len(seen) == 2, seen
print("ok")
"""


def run_without_site(code, timeout=30.0):
    """run_py, but with -S: no site module, whose .pth files may import
    threading before the program starts.  cffi's backend is found on
    PYTHONPATH instead."""
    import textwrap

    import _cffi_backend

    import lowthread

    path = [os.path.dirname(os.path.dirname(os.path.abspath(lowthread.__file__)))]
    if hasattr(_cffi_backend, "__file__"):  # not built into the interpreter (CPython)
        path.append(os.path.dirname(os.path.abspath(_cffi_backend.__file__)))
    path = os.pathsep.join(path)
    env = dict(os.environ, PYTHONPATH=path, PYTHONFAULTHANDLER="1")
    src = "import lowthread as lt\n" + textwrap.dedent(code)
    t0 = time.monotonic()
    cp = subprocess.run([sys.executable, "-S", "-c", src], capture_output=True, text=True,
                        timeout=timeout, env=env)
    return Proc(cp.returncode, cp.stdout, cp.stderr, time.monotonic() - t0)


def _check_primitives(prefix, kept=()):
    """The program prefix (which sets NATIVE_THREAD and calls install()),
    then the checks; kept: threading's globals made natively before install()."""
    return prefix + CHECK_PRIMITIVES.replace("KEPT", repr(set(kept)))


@pytest.mark.timeout(60)
def test_install_before_threading_is_imported():
    proc = run_without_site(_check_primitives("""
import sys
NATIVE_THREAD = sys.modules['_thread']
assert "threading" not in sys.modules
lt.install()
"""))
    assert proc.rc == 0 and proc.out.strip() == "ok", proc


@pytest.mark.timeout(60)
def test_install_imports_nothing():
    """install() is lazy: threading is put on lowthread when the program
    first imports it, through an import hook that leaves sys.meta_path then."""
    proc = run_without_site("""
import sys
before = set(sys.modules)
lt.install()
print(sorted(set(sys.modules) - before), sys.modules["_thread"] is lt)
import threading
hooks = [f for f in sys.meta_path if type(f).__module__.startswith("lowthread")
         or getattr(f, "__module__", "").startswith("lowthread")]
loader = threading.__loader__
print(hooks, loader is threading.__spec__.loader, type(loader).__module__.startswith("lowthread"))
print(threading._allocate_lock is lt.allocate_lock, threading.get_ident is lt.get_ident)
import inspect
print(inspect.getsource(threading).count("def current_thread") == 1)
""")
    assert proc.rc == 0 and proc.err == "", proc
    assert proc.out.splitlines() == ["[] True", "[] True False", "True True", "True"], proc


@pytest.mark.timeout(60)
def test_threading_first_imported_in_another_thread():
    """CPython's test_import_from_another_thread after install(): a
    lowthread thread imports threading first, and exit reports nothing."""
    proc = run_without_site("""
import sys
lt.install()
import _thread
event = _thread.allocate_lock()
event.acquire()
def import_threading():
    import threading
    event.release()
if "threading" in sys.modules:
    raise Exception("threading is already imported")
_thread.start_new_thread(import_threading, ())
event.acquire()
event.release()
import threading
assert threading._allocate_lock is lt.allocate_lock
t = threading.Thread(target=lambda: None)
t.start()
t.join(10)
assert not t.is_alive()
""")
    assert proc.rc == 0 and proc.out == "" and proc.err == "", proc


@pytest.mark.timeout(60)
def test_install_after_threading_is_imported():
    # The main thread's Thread object, a thread started natively before, and
    # threading.local objects made before stay valid; what threading made on
    # the native _thread beforehand (the main thread's own lock or handle,
    # _thread_local_info) is left as it was.
    proc = run_py(_check_primitives("""
import sys, threading, time
NATIVE_THREAD = sys.modules['_thread']
main = threading.main_thread()
old_local = threading.local()
old_local.x = 1
gate = threading.Event()
early = threading.Thread(target=gate.wait, args=(10,), name="early")
early.start()
lt.install()
assert threading.main_thread() is main is threading.current_thread()
assert early in threading.enumerate() and early.is_alive()
assert threading.active_count() == 2
gate.set()
early.join(10)
assert not early.is_alive()
assert old_local.x == 1
""", kept={"_thread_local_info", "_active_limbo_lock", "_shutdown_locks_lock",
           # 3.13: joins the threads started natively, then lowthread's
           "_thread_shutdown"}))
    assert proc.rc == 0 and proc.out.strip() == "ok", proc


@pytest.mark.timeout(60)
def test_install_is_idempotent():
    proc = run_py("""
import threading
lt.install()
# threading's own locks are replaced when no other thread could hold them.
assert type(threading._active_limbo_lock) in (lt.lock, lt.RLock)
g = dict(vars(threading))
bootstrap, name = threading.Thread._bootstrap, threading.Thread.name
lt.install()
lt.install()
assert dict(vars(threading)) == g
assert threading.Thread._bootstrap is bootstrap and threading.Thread.name is name
import sys
assert sys.modules["_thread"] is lt
t = threading.Thread(target=lambda: None)
t.start()
t.join(10)
print("ok", t.is_alive())
""")
    assert proc.rc == 0 and proc.out.strip() == "ok False", proc


@pytest.mark.timeout(60)
@pytest.mark.parametrize("when", ["before", "after"])
def test_threading_api_as_natively(when):
    """get_ident, get_native_id, main_thread, enumerate, active_count,
    excepthook, settrace/setprofile, daemon, is_alive."""
    proc = run_py(("import threading\n" if when == "after" else "") + """
import sys, threading
lt.install()
main = threading.main_thread()
assert main.ident == threading.get_ident() == lt.get_ident()
assert main.native_id == threading.get_native_id()
box = {}
def body():
    me = threading.current_thread()
    box["ident"] = (me.ident == threading.get_ident() == lt.get_ident())
    box["native"] = me.native_id == lt.get_native_id() != main.native_id
    box["listed"] = me in threading.enumerate() and threading.active_count() == 2
    box["alive"] = me.is_alive()
t = threading.Thread(target=body, name="w")
t.start(); t.join(10)
assert box == {"ident": True, "native": True, "listed": True, "alive": True}, box
assert not t.is_alive() and threading.active_count() == 1
# excepthook: threading's own, with the thread in its arguments.
got = []
default_hook = threading.excepthook
threading.excepthook = lambda args: got.append((args.exc_type, args.thread.name))
t = threading.Thread(target=lambda: 1 / 0, name="boom")
t.start(); t.join(10)
assert got == [(ZeroDivisionError, "boom")], got
threading.excepthook = default_hook
# settrace / setprofile reach threads started afterwards.
traced, profiled = [], []
def tracer(frame, event, arg):
    if event == "call":
        traced.append(frame.f_code.co_name)
def profiler(frame, event, arg):
    if event == "call":
        profiled.append(frame.f_code.co_name)
def traced_function():
    pass
threading.settrace(tracer)
threading.setprofile(profiler)
t = threading.Thread(target=traced_function)
t.start(); t.join(10)
threading.settrace(None); threading.setprofile(None)
assert "traced_function" in traced and "traced_function" in profiled, (traced, profiled)
# A daemon thread does not keep the program alive.
d = threading.Thread(target=threading.Event().wait, args=(60,), daemon=True)
d.start()
assert d.daemon and d.is_alive()
print("ok")
""", timeout=30)
    assert proc.rc == 0 and proc.out.strip() == "ok", proc
    assert proc.elapsed < 20, proc


@pytest.mark.timeout(60)
def test_excepthook_default_report():
    proc = run_py("""
import threading
lt.install()
t = threading.Thread(target=lambda: 1 / 0, name="boom")
t.start(); t.join(10)
""")
    assert proc.rc == 0, proc
    assert "Exception in thread boom" in proc.err and "ZeroDivisionError" in proc.err, proc


EXIT_JOINS = """
import threading, time
lt.install()
def second():
    time.sleep(0.3)
    print("second done", flush=True)
def first():
    time.sleep(0.3)
    # Started while the main thread already waits in threading's _shutdown.
    threading.Thread(target=second).start()
    print("first done", flush=True)
threading.Thread(target=first).start()
print("main done", flush=True)
"""


@pytest.mark.timeout(60)
def test_exit_joins_non_daemon_threads_also_those_started_during_shutdown():
    """docs/behaviour.md §12: _shutdown() joins until no non-daemon thread is left."""
    proc = run_py(EXIT_JOINS)
    assert proc.rc == 0, proc
    assert proc.out.split("\n")[:3] == ["main done", "first done", "second done"], proc


@pytest.mark.timeout(60)
def test_shutdown_loops_until_none_is_left():
    # The C-level half of the test above, for every interpreter: a
    # non-daemon joinable thread started by one that _shutdown() joins.
    proc = run_py("""
import time
ran = []
def second():
    time.sleep(0.2)
    ran.append("second")
def first():
    time.sleep(0.2)
    lt.start_joinable_thread(second, daemon=False)
lt.start_joinable_thread(first, daemon=False)
lt._shutdown()
print(ran)
""")
    assert proc.rc == 0 and proc.out.strip() == "['second']", proc


FORK_SCRIPT = """
import os, sys, threading
lt.install()
main = threading.main_thread()
def child_work(where):
    # In the child: the only thread, a working threading, and, after a fork
    # from a worker, a parent's main thread that one can join (it is done).
    t = threading.Thread(target=lambda: None)
    t.start(); t.join(10)
    ok = not t.is_alive()
    if where == "worker":
        j = threading.Thread(target=main.join)
        j.start(); j.join(10)
        ok = ok and not j.is_alive() and not main.is_alive()
    ok = (ok and threading.active_count() == 1
          and threading.current_thread() is threading.main_thread())
    os.write(1, ("%s child %s\\n" % (where, ok)).encode())
    os._exit(0 if ok else 1)
def fork(where):
    pid = os.fork()
    if pid == 0:
        child_work(where)
    _, status = os.waitpid(pid, 0)
    print(where, "status", status, flush=True)
fork("main")
w = threading.Thread(target=fork, args=("worker",))
w.start(); w.join(30)
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(90)
@pytest.mark.parametrize("when", ["before", "after"])
def test_fork_from_main_and_from_worker(when):
    """docs/behaviour.md §14: after a fork from a worker, the child's main thread handle is done."""
    script = FORK_SCRIPT
    if when == "before":  # threading's own handle of the main thread is then lowthread's
        script = script.replace("import os, sys, threading\nlt.install()",
                                "import os, sys\nlt.install()\nimport threading")
        assert script != FORK_SCRIPT
    proc = run_py(script, timeout=60)
    assert proc.rc == 0, proc
    assert sorted(proc.out.split()) == sorted(
        "main child True main status 0 worker child True worker status 0".split()), proc


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.timeout(60)
def test_made_handles_are_done_in_a_fork_child():
    proc = run_py("""
import os
other = lt._make_thread_handle(lt.get_ident())
done = lt.allocate_lock(); done.acquire()
def worker():
    pid = os.fork()
    if pid == 0:
        mine = lt._make_thread_handle(lt.get_ident())
        other.join(5)  # returns at once: that thread is not in this process
        os._exit(0 if other.is_done() and not mine.is_done() else 1)
    _, status = os.waitpid(pid, 0)
    print("child status", status)
    done.release()
lt.start_new_thread(worker, ())
done.acquire(timeout=30)
print("parent", other.is_done())
""", timeout=45)
    assert proc.rc == 0 and proc.out.split("\n")[:2] == ["child status 0", "parent False"], proc


@pytest.mark.timeout(60)
def test_set_sentinel_is_released_after_the_thread():
    """docs/behaviour.md §19.2: released when a lowthread thread ends, after its values are gone."""
    proc = run_py("""
import gc
freed = []
class Value:
    def __del__(self):
        freed.append("value")
got = []
started = lt.allocate_lock(); started.acquire()
def body(value):
    s = lt._set_sentinel()
    got.append(s)
    s.acquire()
    started.release()
lt.start_new_thread(body, (Value(),))
assert started.acquire(timeout=10)
s = got[0]
assert s.acquire(timeout=10), "sentinel never released"
gc.collect()
print(freed)
mine = lt._set_sentinel()
print(type(mine) is lt.lock, mine.locked(), mine.acquire(False), mine.acquire(timeout=0.1))
""")
    assert proc.rc == 0, proc
    assert proc.out.split("\n")[:2] == ["['value']", "True False True False"], proc


@pytest.mark.skipif(not IS_LINUX, reason="reads /proc/<pid>/task/<tid>/comm")
@pytest.mark.timeout(60)
def test_thread_name_is_the_os_thread_name():
    """docs/behaviour.md §19.4: also when the thread renames itself; cut to 15 bytes."""
    proc = run_py("""
import threading
lt.install()
def comm():
    with open("/proc/self/task/%d/comm" % threading.get_native_id()) as f:
        return f.read().rstrip("\\n")
out = []
def body():
    out.append(comm())
    threading.current_thread().name = "renamed"
    out.append(comm())
    threading.current_thread().setName("a-very-long-thread-name")
    out.append(comm())
t = threading.Thread(target=body, name="worker-7")
t.start(); t.join(10)
t2 = threading.Thread(target=lambda: out.append(comm()))
t2.start(); t2.join(10)
print(out)
print(t2.name.startswith("Thread-"), out[-1] == t2.name[:15])
""")
    assert proc.rc == 0, proc
    lines = proc.out.split("\n")
    assert lines[0] == "['worker-7', 'renamed', 'a-very-long-thr', %r]" % eval(lines[0])[-1], proc
    assert lines[1] == "True True", proc


@pytest.mark.skipif(not IS_POSIX, reason="sends SIGINT")
@pytest.mark.timeout(60)
def test_join_with_timeout_is_interrupted_by_ctrl_c():
    p = popen_py("""
import threading, time
lt.install()
t = threading.Thread(target=time.sleep, args=(60,), daemon=True)
t.start()
print("ready", flush=True)
t.join(50)
print("join returned", flush=True)
""")
    try:
        assert p.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert time.monotonic() - t0 < 10
    assert "join returned" not in out
    assert err.rstrip().endswith("KeyboardInterrupt"), err
    assert p.returncode == -signal.SIGINT, (p.returncode, err)


@pytest.mark.timeout(60)
def test_module_functions_do_not_bind_as_methods():
    """docs/behaviour.md §19.5: stored on a class they are called without the instance, as builtins are."""
    import lowthread

    funcs = {name: getattr(lowthread, name) for name in dir(lowthread)
             if callable(getattr(lowthread, name)) and not isinstance(getattr(lowthread, name), type)
             and not name.startswith("__")}
    assert {"allocate_lock", "start_new_thread", "get_ident", "stack_size", "_count",
            "_set_sentinel", "install"} - set(funcs) <= {"allocate_lock"}  # a type

    class Holder:
        pass

    binding = []
    for name, f in funcs.items():
        setattr(Holder, name, f)
        if getattr(Holder(), name) != f:
            binding.append(name)
    assert binding == ["install"], binding  # a plain function of lowthread's own

    class T:
        locktype = lowthread.allocate_lock
        ident = lowthread.get_ident
        count = lowthread._count
        size = lowthread.stack_size
        sentinel = lowthread._set_sentinel
        start = lowthread.start_new_thread
        exit = lowthread.exit

    t = T()
    assert type(t.locktype()) is lowthread.lock
    assert t.ident() == lowthread.get_ident()
    assert t.count() == lowthread._count()
    assert t.size() == 0
    assert type(t.sentinel()) is lowthread.lock
    done = lowthread.allocate_lock()
    done.acquire()
    t.start(done.release, ())
    assert done.acquire(timeout=10)
    with pytest.raises(SystemExit):
        t.exit()
    assert repr(lowthread.start_new_thread) == "<built-in function start_new_thread>"
    assert lowthread.start_new_thread.__name__ == "start_new_thread"
    import pickle
    assert pickle.loads(pickle.dumps(lowthread.start_new_thread)) is lowthread.start_new_thread


# ---------------------------------------------------------------------------
# Subinterpreters (CPython only)

SUBINTERP = """
import os, sys, _testcapi
r, w = os.pipe()
code = '''if 1:
    import os, sys, threading, lowthread
    lowthread.install()
    sys.marker = "sub"
    out = []
    def body():
        # Imported here: the sys of the interpreter the thread runs in (a
        # global would be the subinterpreter's sys even when run elsewhere).
        import sys as here
        out.append(getattr(here, "marker", "main"))
    t = threading.Thread(target=body)
    t.start(); t.join(10)
    h = lowthread.start_joinable_thread(body)
    h.join(10)
    main_ident = threading.main_thread().ident == lowthread._get_main_thread_ident()
    os.write(%d, repr((out, lowthread._is_main_interpreter(), main_ident)).encode())
''' % w
rc = _testcapi.run_in_subinterp(code)
os.close(w)
print(rc, os.read(r, 1000).decode())
print("main", lt._is_main_interpreter(), lt.daemon_threads_allowed())
"""


@pytest.mark.skipif(not HAVE_TESTCAPI, reason="needs _testcapi.run_in_subinterp")
@pytest.mark.timeout(60)
def test_subinterpreter_threads_run_in_their_interpreter():
    """docs/behaviour.md §19.3: they used to run in the interpreter that first imported lowthread."""
    proc = run_py(SUBINTERP)
    assert proc.rc == 0, proc
    assert proc.out.split("\n")[:2] == ["0 (['sub', 'sub'], False, True)", "main True True"], proc


@pytest.mark.skipif(not HAVE_TESTCAPI, reason="needs _testcapi.run_in_subinterp")
@pytest.mark.timeout(60)
def test_daemon_thread_left_in_ending_subinterpreter_is_fatal():
    # As with the native _thread: Py_EndInterpreter refuses to end while
    # another of its threads runs.
    proc = run_py("""
import _testcapi
_testcapi.run_in_subinterp('''if 1:
    import threading, time, lowthread
    lowthread.install()
    threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
''')
""")
    assert proc.rc != 0, proc
    assert "Fatal Python error: Py_EndInterpreter: not the last thread" in proc.err, proc


@pytest.mark.skipif(not HAVE_TESTCAPI or PY < (3, 12), reason="interpreter settings: 3.12+")
@pytest.mark.timeout(60)
@pytest.mark.parametrize("threads,daemons", [(False, False), (True, False), (True, True)])
def test_subinterpreter_settings_are_obeyed(threads, daemons):
    proc = run_py("""
import os
from test import support
r, w = os.pipe()
code = '''if 1:
    import os, lowthread, threading
    lowthread.install()
    try:
        lowthread.start_joinable_thread(lambda: None).join(10)
        started = "started"
    except RuntimeError as e:
        started = str(e)
    try:
        t = threading.Thread(target=lambda: None, daemon=True)
        t.start()
        t.join(10)
        daemon = "started"
    except RuntimeError as e:
        daemon = str(e)
    os.write(%%d, repr((lowthread.daemon_threads_allowed(), started, daemon)).encode())
''' %% w
support.run_in_subinterp_with_config(code, use_main_obmalloc=True, allow_fork=True,
    allow_exec=True, allow_threads=%r, allow_daemon_threads=%r,
    check_multi_interp_extensions=False, own_gil=False)
os.close(w)
print(os.read(r, 1000).decode())
""" % (threads, daemons))
    assert proc.rc == 0, proc
    refused = "thread is not supported for isolated subinterpreters"
    no_daemons = "daemon threads are disabled in this (sub)interpreter"
    expected = (daemons, "started" if threads else refused,
                "started" if daemons else no_daemons)
    assert proc.out.strip() == repr(expected), proc


@pytest.mark.skipif(not HAVE_TESTCAPI, reason="needs _testcapi.run_in_subinterp")
@pytest.mark.timeout(60)
def test_subinterpreter_lowthread_thread_runs_there():
    # The same without threading: the thread's state belongs to the
    # subinterpreter, so what it imports is the subinterpreter's.
    proc = run_py("""
import os, _testcapi
r, w = os.pipe()
code = '''if 1:
    import sys, os, lowthread
    sys.marker = "sub"
    def body():
        import sys as here
        os.write(%d, getattr(here, "marker", "main").encode())
    lowthread.start_joinable_thread(body).join(10)
''' % w
print(_testcapi.run_in_subinterp(code))
os.close(w)
print(os.read(r, 100).decode())
""")
    assert proc.rc == 0 and proc.out.split("\n")[:2] == ["0", "sub"], proc


@pytest.mark.timeout(120)
@pytest.mark.skipif(ORACLE or IS_PYPY or PY >= (3, 13),
                    reason="threading's _stop assert of CPython 3.9-3.12 (PyPy's own fails it too)")
def test_joiners_of_one_thread_do_not_trip_threading():
    """docs/behaviour.md §19.2: four threads join one thread, 40 rounds, three
    times.  threading 3.9-3.12 asserts, right after a joiner's own release
    of the thread's sentinel, that it is unlocked (Thread._stop), and a
    failed assert then releases another joiner's hold (RuntimeError).  A
    joiner that took the sentinel in C held it while it waited for the GIL:
    0-8 of 40 rounds raised on 3.10 and 3.12 (2-8 on most runs); one that
    waits for the release and takes it with the GIL held, 0 of 120; natively
    0.  PyPy's own threading raises so natively too (left out)."""
    for _ in range(3):
        proc = run_py("""
import lowthread; lowthread.install()
import threading, time
errors = []
def count_errors(args):
    errors.append(args.exc_type.__name__)
threading.excepthook = count_errors
for _ in range(40):
    gate = threading.Event()
    target = threading.Thread(target=gate.wait)
    target.start()
    def joiner():
        try:
            target.join()
        except AssertionError:
            errors.append("AssertionError")
    joiners = [threading.Thread(target=joiner) for _ in range(4)]
    for j in joiners:
        j.start()
    time.sleep(0.005)
    gate.set()
    for j in joiners:
        j.join()
print(len(errors), sorted(set(errors)))
""", timeout=30, prelude=False)
        assert (proc.rc, proc.out, proc.err) == (0, "0 []\n", ""), proc
