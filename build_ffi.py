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
# list builds on every platform.  binding/ holds the binding's own C glue.
SOURCES = sorted(_rel(d, os.path.basename(p)) for d in ("csrc", "binding")
                 for p in glob.glob(os.path.join(_HERE, d, "*.c")))
# The headers, so that a rebuild in the same build/ recompiles after a header
# changed: the generated module source only includes lt_py_entry.h, which
# includes lt_py_kept.h, so its text (and time stamp) does not change.
HEADERS = sorted(_rel(d, os.path.basename(p)) for d in ("csrc", "binding")
                 for p in glob.glob(os.path.join(_HERE, d, "*.h")))

ffibuilder = FFI()
# The C core as cffi sees it, then the binding's own declarations.
for cdef in ("lowthread.cdef", "lt_py.cdef"):
    with open(os.path.join(_HERE, "binding", cdef)) as f:
        ffibuilder.cdef(f.read())

ffibuilder.set_source(
    "lowthread._lowthread",
    # lt_py_entry.h is code for this module's own translation unit (see it).
    '#include "lt_py.h"\n#include "lt_py_entry.h"',
    sources=SOURCES,
    depends=HEADERS,
    include_dirs=[CSRC, _rel("binding")],
    libraries=[] if sys.platform == "win32" else ["pthread"],
)

if __name__ == "__main__":
    import shutil

    # Build under build/ (away from pyproject.toml, which old setuptools
    # cannot read) and put the module next to the sources.
    os.chdir(_HERE)
    built = ffibuilder.compile(tmpdir="build", verbose=True)
    shutil.copy(built, os.path.join("lowthread", os.path.basename(built)))
