"""The lock contention profile (docs/behaviour.md §25): record_contention(),
contention(), write_contention(), ``lowthread run --contention`` and the
pytest plugin's --lowthread-contention.

lowthread's own: the interpreter's _thread has nothing to compare with, so
each test runs a program in a subprocess (bounded by a timeout) and checks
the profile against what the program's threads measured themselves.
"""

import json
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import IS_PYPY, ORACLE, PY, lowthread_env

pytestmark = pytest.mark.skipif(ORACLE, reason="the profile is lowthread's own")




def _run(tmp_path, source, *args, prefix=(), timeout=120):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    cp = subprocess.run([sys.executable, *prefix, str(script), *args], cwd=tmp_path,
                        env=lowthread_env(), capture_output=True, text=True, timeout=timeout,
                        stdin=subprocess.DEVNULL)
    return cp


# Four threads take a hot lock in turn and hold it 5 ms each time; a cold
# lock is taken too, briefly.  Each thread times its own waits for the hot
# lock.  The profile goes to stdout as JSON.
HOT = """\
import json, sys, time
import lowthread
lowthread.install()
import threading
lowthread.record_contention(int(sys.argv[1]))
hot = threading.Lock()
cold = threading.Lock()
waited = []
def worker():
    mine = 0.0
    for _ in range(25):
        t0 = time.perf_counter()
        with hot:                       # HOLD LINE
            mine += time.perf_counter() - t0
            time.sleep(0.005)
        with cold:
            pass
    waited.append(mine)
threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
lowthread.stop_recording_contention()
print(json.dumps({"measured": sum(waited), "profile": lowthread.contention()}))
"""


def _line_of(source, marker):
    return next(i for i, line in enumerate(source.splitlines(), 1) if marker in line)


def test_the_hot_lock_comes_first_with_its_sites_and_its_wait(tmp_path):
    cp = _run(tmp_path, HOT, "1")
    assert cp.returncode == 0, cp.stderr
    out = json.loads(cp.stdout)
    locks = [d for d in out["profile"] if d["kind"] == "lock"]
    hot = locks[0]
    prog = str(tmp_path / "prog.py")
    hold_line = _line_of(HOT, "HOLD LINE")
    assert hot["made_at"].startswith(f"{prog}:{_line_of(HOT, 'hot = threading.Lock()')}")
    assert hot["waits"] > 10
    # What the threads measured includes taking the GIL back after the
    # wake; the profile counts the sleep in C.
    assert hot["total_s"] == pytest.approx(out["measured"], rel=0.25)
    assert hot["max_s"] >= hot["mean_s"] > 0
    assert hot["waiting"][0]["site"] == f"{prog}:{hold_line} in worker"
    assert hot["waiting"][0]["waits"] == hot["waits"]
    # The release that made others wait: at the with statement (3.10 and
    # later); 3.9 and PyPy put a with's exit on the last line of its body.
    holder = hot["holding"][0]["site"]
    if PY >= (3, 10) and not IS_PYPY:
        assert holder == f"{prog}:{hold_line} in worker"
    else:
        assert holder in {f"{prog}:{n} in worker" for n in range(hold_line, hold_line + 3)}
    # Each wake charges its releaser what the woken waiter waited since it
    # last queued: they add up to about the waits.
    assert sum(h["total_s"] for h in hot["holding"]) == pytest.approx(hot["total_s"], rel=0.25)
    cold_line = _line_of(HOT, "cold = threading.Lock()")
    cold = [d for d in locks if re.search(rf"prog\.py:{cold_line}(:|$)", d["made_at"] or "")]
    assert all(d["total_s"] < hot["total_s"] / 10 for d in cold)


def test_sampling_one_in_ten_records_about_a_tenth(tmp_path):
    src = """\
    import json, sys, time
    import lowthread
    lk = lowthread.allocate_lock()
    lowthread.record_contention(int(sys.argv[1]))
    blocked = [0]
    def worker():
        for _ in range(150):
            if not lk.acquire(False):
                blocked[0] += 1
                lk.acquire()
            time.sleep(0.0005)
            lk.release()
            time.sleep(0.0001)
    done = []
    for _ in range(3):
        lowthread.start_new_thread(lambda: (worker(), done.append(1)), ())
    while len(done) < 3:
        time.sleep(0.01)
    rows = [d for d in lowthread.contention() if d["kind"] == "lock"]
    print(json.dumps({"blocked": blocked[0], "waits": sum(d["waits"] for d in rows)}))
    """
    full = json.loads(_run(tmp_path, src, "1").stdout)
    tenth = json.loads(_run(tmp_path, src, "10").stdout)
    # Unsampled, every acquire that blocked slept (or nearly: one that
    # found the lock free again while it spun did not).
    assert full["waits"] == pytest.approx(full["blocked"], rel=0.2)
    assert tenth["blocked"] > 150
    expected = tenth["blocked"] / 10
    assert 0.4 * expected <= tenth["waits"] <= 1.8 * expected, tenth


def test_a_consumer_idling_on_an_empty_queue_is_no_contention(tmp_path):
    src = """\
    import json, time
    import lowthread
    lowthread.install()
    import queue, threading
    lowthread.record_contention()
    q = queue.Queue()
    got = []
    t = threading.Thread(target=lambda: got.append(q.get()))
    t.start()
    time.sleep(0.3)
    q.put(1)
    t.join()
    ev = threading.Event()
    w = threading.Thread(target=ev.wait)
    w.start()
    time.sleep(0.1)
    ev.set()
    w.join()
    print(json.dumps(lowthread.contention()))
    """
    cp = _run(tmp_path, src)
    assert cp.returncode == 0, cp.stderr
    profile = json.loads(cp.stdout)
    locks = [d for d in profile if d["kind"] == "lock"]
    # Thread starts may meet for microseconds on a Condition's lock.
    assert sum(d["total_s"] for d in locks) < 0.05, locks
    waits = [d for d in profile if d["kind"] == "condition"]
    by_site = {w["site"]: w["total_s"] for d in waits for w in d["waiting"]}
    assert any("queue.py" in site and total > 0.2 for site, total in by_site.items()), by_site
    assert any("threading.py" in site and total > 0.05 for site, total in by_site.items()), \
        by_site


def test_condition_over_an_rlock_and_timeouts_are_recorded(tmp_path):
    src = """\
    import json, time
    import lowthread
    lowthread.install()
    import threading
    lowthread.record_contention()
    cond = threading.Condition()            # an RLock
    ready = threading.Event()
    def holder():
        with cond:
            ready.set()
            time.sleep(0.1)
            cond.notify()
            time.sleep(0.1)                 # the waiter re-takes the lock after this
    t = threading.Thread(target=holder)
    with cond:
        t.start()
        cond.wait()                         # released to holder, which takes it
    ready.wait()
    lk = threading.Lock()
    lk.acquire()
    lk.acquire(timeout=0.05)                # TIMED
    print(json.dumps(lowthread.contention()))
    t.join()
    """
    cp = _run(tmp_path, src)
    assert cp.returncode == 0, cp.stderr
    profile = json.loads(cp.stdout)
    # made_at is file:line, and :column where the interpreter keeps columns.
    locks = {re.sub(r"(:[0-9]+):[0-9]+$", r"\1", d["made_at"]): d for d in profile
             if d["kind"] == "lock" and d["made_at"]}
    prog = str(tmp_path / "prog.py")
    rlock = locks[f"{prog}:{_line_of(src, 'an RLock')}"]
    # Condition.wait's re-take of the RLock (_acquire_restore) waited the
    # second 0.1 s; the holder's with made it wait.
    assert rlock["total_s"] >= 0.08
    assert any("holder" in h["site"] for h in rlock["holding"])
    timed = locks[f"{prog}:{_line_of(src, 'lk = threading.Lock()')}"]
    assert timed["timeouts"] == 1 and timed["total_s"] >= 0.045
    assert timed["waiting"][0]["site"].endswith(f":{_line_of(src, 'TIMED')} in <module>")


COLLAPSED = re.compile(r"^(?P<stack>[^;\n]+(?:;[^;\n]+)*) (?P<count>[0-9]+)$")


def test_collapsed_stacks_parse(tmp_path):
    src = HOT.replace('print(json.dumps({"measured": sum(waited), '
                      '"profile": lowthread.contention()}))',
                      'lowthread.write_contention(sys.stdout, format="collapsed")\n'
                      'print("--")\n'
                      'lowthread.write_contention(sys.stdout, format="collapsed-holders")')
    cp = _run(tmp_path, src, "1")
    assert cp.returncode == 0, cp.stderr
    waiting, holding = cp.stdout.split("--\n")
    for text in (waiting, holding):
        lines = text.splitlines()
        assert lines
        for line in lines:
            m = COLLAPSED.match(line)
            assert m, line
            frames = m["stack"].split(";")
            assert int(m["count"]) > 0
            assert frames[-1].startswith(("a lock ", "waiting for a notification on "))
    hot = [line for line in waiting.splitlines() if "worker (" in line and ":6" in line]
    assert hot, waiting


def test_arguments_are_checked(lt):
    with pytest.raises(TypeError, match="every must be an int"):
        lt.record_contention(1.5)
    with pytest.raises(ValueError, match="every must be at least 1"):
        lt.record_contention(0)
    with pytest.raises(ValueError, match="format must be one of"):
        lt.write_contention(format="svg")


def test_off_again_records_nothing_and_reset_forgets(lt):
    import threading
    import time

    lk = lt.allocate_lock()

    def contend():
        lk.acquire()
        t = threading.Thread(target=lambda: (lk.acquire(), lk.release()))
        t.start()
        time.sleep(0.05)
        lk.release()
        t.join(10)

    lt.reset_contention()
    lt.record_contention()
    try:
        contend()
    finally:
        lt.stop_recording_contention()
    assert [d for d in lt.contention() if d["kind"] == "lock"]
    lt.reset_contention()
    assert lt.contention() == []
    contend()
    assert lt.contention() == []


RUN_PROG = """\
import sys, threading, time
lk = threading.Lock()
def hold():
    with lk:
        time.sleep(0.2)
t = threading.Thread(target=hold)
t.start()
time.sleep(0.05)
with lk:                # WAITS HERE
    pass
t.join()
sys.exit(3)
"""


@pytest.mark.parametrize("extra", [[], ["--deadlocks", "--lock-order"]])
def test_run_contention_prints_the_table_and_keeps_the_exit_status(tmp_path, extra):
    cp = _run(tmp_path, RUN_PROG, prefix=("-m", "lowthread", "run", *extra, "--contention"))
    assert cp.returncode == 3, cp.stderr
    assert "lowthread: lock contention (all recorded)" in cp.stderr
    line = _line_of(RUN_PROG, "WAITS HERE")
    assert f"prog.py:{line} in <module>" in cp.stderr
    assert "a lock made at " in cp.stderr


def test_run_contention_to_a_file(tmp_path):
    for name, want in (("out.txt", "lowthread: lock contention"), ("out.folded", "<module> (")):
        cp = _run(tmp_path, RUN_PROG, prefix=("-m", "lowthread", "run", f"--contention={name}"))
        assert cp.returncode == 3, cp.stderr
        assert "lock contention" not in cp.stderr
        text = (tmp_path / name).read_text()
        assert want in text, text
        if name.endswith(".folded"):
            assert all(COLLAPSED.match(line) for line in text.splitlines())


def test_pytest_plugin_writes_the_profile(tmp_path):
    (tmp_path / "test_x.py").write_text(textwrap.dedent("""\
        import threading, time
        def test_contended():
            lk = threading.Lock()
            def hold():
                with lk:
                    time.sleep(0.1)
            t = threading.Thread(target=hold)
            t.start()
            time.sleep(0.02)
            with lk:
                pass
            t.join()
        """))
    cp = subprocess.run([sys.executable, "-m", "pytest", "-p", "lowthread.pytest_plugin",
                         "-p", "no:cacheprovider", "--lowthread-contention=prof.txt",
                         "--lowthread-lock-order=report", "test_x.py"],
                        cwd=tmp_path, env=lowthread_env(), capture_output=True, text=True, timeout=120,
                        stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "lowthread lock contention" in cp.stdout
    text = (tmp_path / "prof.txt").read_text()
    assert "test_x.py:10 in test_contended" in text, text
