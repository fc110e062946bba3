"""The README's run command, and what a user sees from an unbuilt source tree.

README: ``pip install . && lowthread``.  The console script must work from
the project's root, where the source folder lowthread/ (no C extension in
it) comes first on ``sys.path`` for ``python -m``; importing lowthread from
such a tree must say what happened and what to do, never a bare
``ModuleNotFoundError`` about ``lowthread._lowthread``.
"""

import os
import shutil
import subprocess
import sys

import pytest
from conftest import ORACLE, load_lt

pytestmark = pytest.mark.skipif(ORACLE, reason="the command line is lowthread's own")

# tests/cli/test_cli.py -> the project root, three levels up.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE_PACKAGE = os.path.join(ROOT, "lowthread")


def _installed_script():
    """The console script pip made beside this interpreter, or None when the
    lowthread under test is a source tree on PYTHONPATH (a developer's run)."""
    here = os.path.dirname(os.path.realpath(load_lt().__file__))
    if os.path.realpath(SOURCE_PACKAGE) == here:
        return None
    for name in ("lowthread", "lowthread.exe"):
        path = os.path.join(os.path.dirname(sys.executable), name)
        if os.path.exists(path):
            return path
    pytest.fail("lowthread is installed (%s) but its console script is not beside %s"
                % (here, sys.executable))


def _clean_env():
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _run(cmd, cwd, timeout=60):
    cp = subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                        timeout=timeout, stdin=subprocess.DEVNULL)
    return cp


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args", [[], ["demo"], ["info"], ["--help"]])
def test_console_script_works_from_the_project_root(args):
    script = _installed_script()
    if script is None:
        pytest.skip("lowthread runs from the source tree here: no console script to test "
                    "(tox installs the package and runs this test)")
    cp = _run([script, *args], cwd=ROOT)
    assert cp.returncode == 0, cp.stderr
    assert "ModuleNotFoundError" not in cp.stderr
    if args in ([], ["demo"]):
        assert "KeyboardInterrupt in the main thread" in cp.stdout
    elif args == ["info"]:
        assert "C back-end" in cp.stdout
    else:
        assert cp.stdout.startswith("usage: lowthread")


def _unbuilt_tree(tmp_path, as_source_tree):
    """A copy of the package's Python files, without the C extension; with
    build_ffi.py beside it when it should look like the project's root."""
    def not_python(folder, names):
        return [n for n in names
                if not n.endswith(".py") and not os.path.isdir(os.path.join(folder, n))
                or n == "__pycache__"]

    shutil.copytree(SOURCE_PACKAGE, tmp_path / "lowthread", ignore=not_python)
    if as_source_tree:
        (tmp_path / "build_ffi.py").write_text("# stands for the project's cffi builder\n")
    return tmp_path


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", [["-c", "import lowthread"], ["-m", "lowthread"]])
def test_unbuilt_source_tree_explains_itself(tmp_path, how):
    root = _unbuilt_tree(tmp_path, as_source_tree=True)
    cp = _run([sys.executable, *how], cwd=root)
    assert cp.returncode != 0
    assert "ModuleNotFoundError" not in cp.stderr, cp.stderr
    assert "lowthread's source tree, whose C extension is not built" in cp.stderr, cp.stderr
    assert "pip install ." in cp.stderr and "python build_ffi.py" in cp.stderr


@pytest.mark.timeout(60)
def test_installation_without_its_extension_says_so(tmp_path):
    root = _unbuilt_tree(tmp_path, as_source_tree=False)
    cp = _run([sys.executable, "-c", "import lowthread"], cwd=root)
    assert cp.returncode != 0
    assert "ImportError: lowthread's C extension is missing from" in cp.stderr, cp.stderr
    assert "the installation is incomplete" in cp.stderr


@pytest.mark.timeout(60)
def test_other_import_errors_are_not_disguised(tmp_path):
    # A module of lowthread's own that is missing must not read as "not built".
    root = _unbuilt_tree(tmp_path, as_source_tree=True)
    src = os.path.dirname(os.path.realpath(load_lt().__file__))
    for name in os.listdir(src):
        if name.startswith("_lowthread") and name.endswith((".so", ".pyd")):
            shutil.copy(os.path.join(src, name), root / "lowthread" / name)
    # A module of the core room that its __init__ imports.
    init = (root / "lowthread" / "core" / "__init__.py").read_text()
    victim = next(name[:-3] for name in sorted(os.listdir(root / "lowthread" / "core"))
                  if name.startswith("_") and name.endswith(".py")
                  and "from .%s import" % name[:-3] in init)
    os.remove(root / "lowthread" / "core" / (victim + ".py"))
    cp = _run([sys.executable, "-c", "import lowthread"], cwd=root)
    assert cp.returncode != 0
    assert "No module named 'lowthread.core.%s'" % victim in cp.stderr, cp.stderr
    assert "C extension" not in cp.stderr
