"""Only what pyproject.toml cannot say: the cffi module and the abi3 wheel tag."""

import platform
import sysconfig

from setuptools import setup

cmdclass = {}
# cffi compiles against the limited API on CPython, so one wheel serves every
# CPython from 3.9; the wheel tag must be told (free-threaded builds have no
# limited API).
if (platform.python_implementation() == "CPython"
        and not sysconfig.get_config_var("Py_GIL_DISABLED")):
    try:
        from setuptools.command.bdist_wheel import bdist_wheel
    except ImportError:  # setuptools < 70.1
        from wheel.bdist_wheel import bdist_wheel

    class AbiThreeWheel(bdist_wheel):
        def finalize_options(self):
            self.py_limited_api = "cp39"
            super().finalize_options()

    cmdclass["bdist_wheel"] = AbiThreeWheel

setup(cffi_modules=["build_ffi.py:ffibuilder"], cmdclass=cmdclass)
