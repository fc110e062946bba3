"""The package's rooms and the direction of its imports (docs/design.md, "Layout").

lowthread/ is four rooms under one public face: core (the _thread API and
the C border), stdlib (threading on lowthread) and diagnostics, both above
the core and neither importing the other, the face (lowthread/__init__.py)
above those, and the command line (cli/, __main__, pytest_plugin) on top.
Every import of one lowthread module by another, at module level or inside
a function, must go down or stay within its room, and the imports must not
form a cycle.  The walk reads the installed package's source (ast), so it
sees the imports a test run would not execute.
"""

import ast
import os

import pytest
from conftest import ORACLE, load_lt

pytestmark = pytest.mark.skipif(ORACLE, reason="lowthread's own layout")

# Room of each module, by name prefix; the rank says which rooms a room may
# import: a lower rank, or its own room.
ROOMS = [
    # The cffi extension (and the module of builtins it makes on CPython).
    ("lowthread._lowthread", "extension", 0),
    ("lowthread._kept", "extension", 0),
    ("lowthread.core", "core", 1),
    ("lowthread.stdlib", "stdlib", 2),
    ("lowthread.diagnostics", "diagnostics", 2),
    ("lowthread._version", "face", 3),
    ("lowthread._unbuilt", "face", 3),
    ("lowthread.cli", "cli", 4),
    ("lowthread.__main__", "cli", 4),
    ("lowthread.pytest_plugin", "cli", 4),
    ("lowthread", "face", 3),
]


def room(module):
    for prefix, name, rank in ROOMS:
        if module == prefix or module.startswith(prefix + "."):
            return name, rank
    raise AssertionError(f"{module} is in no room: add it to ROOMS and to docs/design.md")


def modules(package_dir):
    """{module name: path} of every .py file of the package."""
    found = {}
    top = os.path.dirname(package_dir)
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), top)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel.pop()
                found[".".join(rel)] = os.path.join(folder, name)
    return found


def imports(name, path, known):
    """The lowthread modules that module name (source at path) imports, by
    name: `from P import n` counts as P.n where that is a module, else P."""
    is_package = path.endswith("__init__.py")
    base = name.split(".") if is_package else name.split(".")[:-1]
    out = set()
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parent = base[:len(base) - node.level + 1]
                target = ".".join(parent + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            subs = [f"{target}.{alias.name}" for alias in node.names]
            targets = [s for s in subs if s in known or room_of_extension(s)]
            if len(targets) < len(subs):
                targets.append(target)
        else:
            continue
        out.update(t for t in targets if t == "lowthread" or t.startswith("lowthread."))
    out.discard(name)
    return out


def room_of_extension(module):
    return module in ("lowthread._lowthread", "lowthread._kept")


def graph_of(package_dir):
    known = modules(package_dir)
    return {name: imports(name, path, known) for name, path in known.items()}


def wrong_way(graph):
    """The edges that go up a rank or across to another room of the same rank."""
    bad = []
    for a, targets in graph.items():
        room_a, rank_a = room(a)
        for b in targets:
            room_b, rank_b = room(b)
            if not (rank_b < rank_a or room_b == room_a):
                bad.append((a, b))
    return sorted(bad)


def cycles(graph):
    """One cycle (a list of modules) per strongly connected group of two or
    more modules (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


@pytest.fixture(scope="module")
def graph():
    return graph_of(os.path.dirname(os.path.abspath(load_lt().__file__)))


def test_the_walk_sees_the_imports(graph):
    """The walker itself: it must find imports of each form the package uses."""
    assert "lowthread.core" in graph["lowthread"]  # from . import core
    assert "lowthread.core._lock" in graph["lowthread.diagnostics._tracked"]  # from ..core._lock
    assert "lowthread.core._methods" in graph["lowthread.diagnostics._tracked"]  # from ..core import
    assert "lowthread._lowthread" in graph["lowthread.core._calls"]  # the extension
    assert "lowthread.diagnostics._contention" in graph["lowthread.cli._run"]  # inside a function
    assert "lowthread" in graph["lowthread.cli._run"]  # import lowthread


def test_every_module_has_a_room(graph):
    rooms = {name: room(name)[0] for name in graph}
    assert {"core", "stdlib", "diagnostics", "face", "cli"} == set(rooms.values())


def test_imports_go_down_or_stay_in_their_room(graph):
    assert wrong_way(graph) == []


def test_no_import_cycle(graph):
    assert cycles(graph) == []


def test_the_checks_catch_what_they_are_for():
    """An upward import, a sideways one and a cycle, on a made-up graph."""
    made_up = {
        "lowthread.core._lock": {"lowthread.diagnostics._tracked"},  # up
        "lowthread.diagnostics._tracked": {"lowthread.stdlib._install",  # across
                                           "lowthread.core._lock"},
        "lowthread.diagnostics._a": {"lowthread.diagnostics._b"},
        "lowthread.diagnostics._b": {"lowthread.diagnostics._a"},
        "lowthread.stdlib._install": set(),
    }
    assert wrong_way(made_up) == [
        ("lowthread.core._lock", "lowthread.diagnostics._tracked"),
        ("lowthread.diagnostics._tracked", "lowthread.stdlib._install"),
    ]
    assert cycles(made_up) == [
        ["lowthread.core._lock", "lowthread.diagnostics._tracked"],
        ["lowthread.diagnostics._a", "lowthread.diagnostics._b"],
    ]
