"""The error for a lowthread whose C extension is not there."""

import os


def explain(folder):
    """An ImportError that says why lowthread._lowthread is missing from folder."""
    if os.path.exists(os.path.join(folder, os.pardir, "build_ffi.py")):
        # Python was started in the project's root (or the root is on
        # sys.path): the source folder shadows the installed package.
        what = (f"{folder} is lowthread's source tree, whose C extension is not built. "
                "Install lowthread with `pip install .` and run the `lowthread` command, "
                "or start Python from another directory; to build the extension in place "
                "for development, run `python build_ffi.py`.")
    else:
        what = (f"lowthread's C extension is missing from {folder}: the installation is "
                "incomplete. Reinstall it with `pip install --force-reinstall lowthread`.")
    return ImportError(what, name="lowthread._lowthread", path=folder)
