"""Every function the C core calls back into Python (cffi ``extern "Python"``)."""

from . import _threads
from ._lowthread import ffi


@ffi.def_extern()
def ltpy_bootstrap(arg):
    _threads.bootstrap(arg)
