"""install(): put the standard library's threading on lowthread.

threading takes everything it needs from _thread into module globals when it
is imported.  So install() makes lowthread the module that ``import _thread``
gives from now on, and then sets those globals to lowthread's, as
monkey-patching libraries do: at once in a threading imported earlier
(patched in place), or else as soon as threading is first imported, by an
import hook (sys.meta_path's first finder until then), so that threading is
built on lowthread from its first line.  install() itself imports nothing: a
program that never imports threading pays nothing for it.  What exists
already stays as it is and keeps working: the main thread's Thread object,
Thread objects of threads already started (on the interpreter's own
_thread), and the locks made before.
"""

import sys
from typing import Any

# The module install() puts in place of _thread: the package's public face,
# lowthread itself.  install() looks it up instead of importing it, since the
# face imports this room (lowthread/stdlib/__init__.py).
_PACKAGE = __name__.split(".")[0]
lowthread: Any = None

# threading's global name -> lowthread's attribute.  Only the names that the
# running threading has are set: they differ between versions.
_GLOBALS = {
    "_start_new_thread": "start_new_thread",  # 3.9-3.12, PyPy
    "_start_joinable_thread": "start_joinable_thread",  # 3.13
    "_daemon_threads_allowed": "daemon_threads_allowed",  # 3.12+
    "_allocate_lock": "allocate_lock",
    "Lock": "allocate_lock",  # the lock type on 3.13, allocate_lock before
    "_LockType": "LockType",  # 3.13
    "_set_sentinel": "_set_sentinel",  # 3.9-3.12, PyPy
    "_thread_shutdown": "_shutdown",  # 3.13
    "_make_thread_handle": "_make_thread_handle",  # 3.13
    "_ThreadHandle": "_ThreadHandle",  # 3.13
    "get_ident": "get_ident",
    "_get_main_thread_ident": "_get_main_thread_ident",  # 3.13
    "_is_main_interpreter": "_is_main_interpreter",  # 3.12+
    "get_native_id": "get_native_id",
    "ThreadError": "error",
    "_CRLock": "RLock",
    "TIMEOUT_MAX": "TIMEOUT_MAX",
    "stack_size": "stack_size",
    "local": "_local",  # taken from _thread._local where that exists
}

# True once install() has run; then threading, once it is on lowthread.
_armed: list = []
_installed: list = []


def install():
    """Make threading (and so queue, concurrent.futures, logging, ...) run on lowthread.

    From now on every threading.Thread runs on a lowthread thread, and
    threading.Lock(), RLock() and what is made of them (Condition, Event,
    Semaphore, Barrier, Timer, queue.Queue, ...) are lowthread's.  Works
    whether threading was imported already or not (then it is put on
    lowthread when it is first imported, in whichever thread); calling it
    again does nothing.
    """
    global lowthread
    if _armed:
        return
    _armed.append(True)
    lowthread = sys.modules[_PACKAGE]
    native_thread = sys.modules.get("_thread")
    # Code that imports _thread from now on gets lowthread, which has every
    # name threading takes from it on this interpreter.
    sys.modules["_thread"] = lowthread
    threading = sys.modules.get("threading")
    if threading is None:
        sys.meta_path.insert(0, _ThreadingFinder)
        return
    native = dict(vars(threading))
    _build_on_lowthread(threading)
    _patch_imported(threading, native, native_thread)


def _build_on_lowthread(threading):
    """Sets threading's globals from _thread to lowthread's."""
    g = vars(threading)
    for name, attr in _GLOBALS.items():
        if name in g and hasattr(lowthread, attr):
            g[name] = getattr(lowthread, attr)
    _name_os_threads(threading.Thread)
    _installed.append(threading)


class _ThreadingFinder:
    """The import hook: finds threading, when it is imported, with the
    finders after it, and has the module built on lowthread once its code
    has run; then it leaves sys.meta_path (an import that fails keeps it)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "threading":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = None if finder is _ThreadingFinder or find is None else find(name, path, target)
            if spec is not None:
                if hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader)
                return spec
        return None


class _Loader:
    """Runs threading's code with its own loader, which it gets back as its
    __loader__, and then builds it on lowthread."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _build_on_lowthread(module)
        if _ThreadingFinder in sys.meta_path:
            sys.meta_path.remove(_ThreadingFinder)


def _patch_imported(threading, native, native_thread):
    """What a threading imported on the interpreter's _thread needs beyond its
    globals; native: its globals before install()."""
    g = vars(threading)
    # The exception report (unless the program has set its own), where
    # threading took it from _thread.
    native_hook = getattr(native_thread, "_excepthook", None)
    if native_hook is not None:
        for name in ("excepthook", "__excepthook__"):
            if g.get(name) is native_hook:
                g[name] = lowthread._excepthook
        if g.get("ExceptHookArgs") is getattr(native_thread, "_ExceptHookArgs", None):
            g["ExceptHookArgs"] = lowthread._ExceptHookArgs
    native_shutdown = native.get("_thread_shutdown")
    if native_shutdown is not None:
        # 3.13: threads started before install() are the native _thread's
        # to join; they may start lowthread threads meanwhile.
        def _shutdown():
            native_shutdown()
            lowthread._shutdown()
        g["_thread_shutdown"] = _shutdown
    # threading's own locks: replaced only while no other thread can hold
    # or wait for them (the caller is threading's only thread).
    with g["_active_limbo_lock"]:
        alone = len(g["_active"]) <= 1 and not g["_limbo"]
    if alone:
        old = g["_active_limbo_lock"]
        g["_active_limbo_lock"] = (lowthread.RLock() if hasattr(old, "_release_save")
                                   else lowthread.allocate_lock())
        if "_shutdown_locks_lock" in g:
            g["_shutdown_locks_lock"] = lowthread.allocate_lock()


def _name_os_threads(thread_class):
    """Thread.name becomes the OS thread's name, as CPython does from 3.14:
    when the thread starts, and when the thread renames itself."""
    set_name = getattr(lowthread, "set_name", None)
    if set_name is None:  # the platform cannot name threads
        return
    bootstrap = thread_class._bootstrap
    name = thread_class.name

    def _bootstrap(self):
        try:
            set_name(self._name)
        except Exception:  # an odd name never keeps a thread from running
            pass
        bootstrap(self)

    def _set(self, value):
        name.fset(self, value)
        if self._ident == lowthread.get_ident():
            try:
                set_name(self._name)
            except Exception:
                pass

    _bootstrap.__qualname__ = bootstrap.__qualname__
    thread_class._bootstrap = _bootstrap
    thread_class.name = property(name.fget, _set, None, name.__doc__)
