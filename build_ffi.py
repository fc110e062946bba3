"""cffi builder for lowthread's private extension module ``lowthread._lowthread``.

Out-of-line API mode: the C compiler checks the cdef against ``csrc/lowthread.h``
and the C core is compiled into the extension itself, so an installed lowthread
needs no shared library.  Run directly (``python build_ffi.py``) to build the
module in place for development.
"""

import glob
import os
import sys

from cffi import FFI

_HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(*parts):
    path = os.path.join(_HERE, *parts)
    # setuptools wants source paths relative to the project root; a direct
    # run (below) compiles from build/ and needs them whole.
    return path if __name__ == "__main__" else os.path.relpath(path)


CSRC = _rel("csrc")
# Every back-end file is wrapped whole in its own platform test, so the same
# list builds on every platform.
SOURCES = sorted(_rel("csrc", os.path.basename(p))
                 for p in glob.glob(os.path.join(_HERE, "csrc", "*.c")))

ffibuilder = FFI()
with open(os.path.join(_HERE, "csrc", "lowthread.cdef")) as f:
    ffibuilder.cdef(f.read())
# The binding's own C, not the core's: the function every thread starts in.
ffibuilder.cdef("void lt_py_thread_main(void *arg);")

# lt_py_thread_main() wraps the Python entry point of every thread lowthread
# starts.  On CPython it gives the thread its own thread state for its whole
# life, so that cffi finds one and does not make one itself: cffi keeps the
# states it makes until another C thread first calls into Python (its
# "zombie" list), and with them the thread's threading.local values.
# Released last, this one is cleared and freed as the thread ends, as the
# interpreter's own threads are.  (PyPy has no thread states to manage.)
BINDING_SOURCE = """
#include "lowthread.h"

static void lt_py_bootstrap(void *arg);  /* extern "Python", defined by cffi */

static void lt_py_thread_main(void *arg)
{
#ifdef PYPY_VERSION
    lt_py_bootstrap(arg);
#else
    PyGILState_STATE gil = PyGILState_Ensure();
    lt_py_bootstrap(arg);
    PyGILState_Release(gil);
#endif
}
"""

ffibuilder.set_source(
    "lowthread._lowthread",
    BINDING_SOURCE,
    sources=SOURCES,
    include_dirs=[CSRC],
    libraries=[] if sys.platform == "win32" else ["pthread"],
)

if __name__ == "__main__":
    import shutil

    # Build under build/ (away from pyproject.toml, which old setuptools
    # cannot read) and put the module next to the sources.
    os.chdir(_HERE)
    built = ffibuilder.compile(tmpdir="build", verbose=True)
    shutil.copy(built, os.path.join("lowthread", os.path.basename(built)))
