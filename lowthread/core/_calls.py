"""The C calls every lock operation makes, each taking the C lock's cdata.

On CPython they are the builtins of lowthread._kept (binding/lt_py_kept.h),
which keep the GIL as the native _thread does: a call that cannot block
holds it throughout, a call that may wait tries first with it and lets go
of it only for the wait.  cffi's own calls let go of the GIL every time,
which hands it to another thread on every lock operation.  On PyPy, in
subinterpreters and wherever _kept cannot be made, they are cffi's calls of
the same C functions, with the same arguments and results.
"""

import sys

from .._lowthread import ffi, lib

# The C types the calls of _kept take, in lt_py_kept.h's order.
_TAKEN = ("lt_lock_t *", "lt_rlock_t *", "lt_thread_t *", "lt_wait_info_t[]")


def _kept():
    if lib.ltpy_kept_install():
        return None
    kept = sys.modules.get("lowthread._kept")
    if kept is None:
        # A subinterpreter: the C side can name only the main interpreter,
        # so the module went into that one's sys.modules (lt_py_kept.h).
        return None
    probe_value = 0x5A5A5A50
    try:
        kept.locate(ffi.cast("void *", probe_value), probe_value, ffi.typeof("void *"),
                    tuple(ffi.typeof(t) for t in _TAKEN))
    except RuntimeError:
        return None
    return kept


def _waits(out, size):
    # cffi's calls take ffi.NULL, not None, for a pointer (PyPy's refuse None).
    return lib.lt_waits(ffi.NULL if out is None else out, size)


def _release_save(rlock):
    count = ffi.new("unsigned long *")
    owner = ffi.new("uint64_t *")
    rc = lib.ltpy_rlock_release_save(rlock, count, owner)
    if rc == lib.LTPY_NOTED:
        return (count[0], owner[0], rc)
    if rc:
        return None
    return (count[0], owner[0])


def _noted():
    out = ffi.new("int64_t[5]")
    lib.ltpy_noted_take(out)
    return tuple(out)


_KEPT = _kept()
if _KEPT is not None:
    maker = _KEPT.maker
    lock_release = _KEPT.lock_release
    lock_locked = _KEPT.lock_locked
    lock_try = _KEPT.lock_try
    lock_wait = _KEPT.lock_wait
    lock_acquire = _KEPT.lock_acquire
    lock_untake = _KEPT.lock_untake
    lock_holder = _KEPT.lock_holder
    rlock_release = _KEPT.rlock_release
    rlock_try = _KEPT.rlock_try
    rlock_wait = _KEPT.rlock_wait
    rlock_acquire = _KEPT.rlock_acquire
    rlock_untake = _KEPT.rlock_untake
    rlock_owner = _KEPT.rlock_owner
    rlock_count = _KEPT.rlock_count
    rlock_recursion = _KEPT.rlock_recursion
    rlock_release_save = _KEPT.rlock_release_save
    rlock_acquire_restore = _KEPT.rlock_acquire_restore
    thread_is_done = _KEPT.thread_is_done
    thread_join = _KEPT.thread_join
    waits = _KEPT.waits
    main_thread = _KEPT.main_thread
    get_ident = _KEPT.get_ident
    get_native_id = _KEPT.get_native_id
    forget = _KEPT.forget
    monotonic_us = _KEPT.monotonic_us
    noted = _KEPT.noted
else:
    maker = None
    lock_release = lib.ltpy_lock_release
    lock_locked = lib.lt_lock_locked
    lock_try = lib.ltpy_lock_try
    lock_wait = lib.ltpy_lock_wait
    lock_acquire = lib.ltpy_lock_acquire
    lock_untake = lib.ltpy_lock_untake
    lock_holder = lib.lt_lock_holder
    rlock_release = lib.ltpy_rlock_release
    rlock_try = lib.ltpy_rlock_try
    rlock_wait = lib.ltpy_rlock_wait
    rlock_acquire = lib.ltpy_rlock_acquire
    rlock_untake = lib.ltpy_rlock_untake
    rlock_owner = lib.lt_rlock_owner
    rlock_count = lib.lt_rlock_count
    rlock_recursion = lib.lt_rlock_recursion
    rlock_release_save = _release_save
    rlock_acquire_restore = lib.ltpy_rlock_acquire_restore
    thread_is_done = lib.lt_thread_is_done
    thread_join = lib.lt_thread_join
    waits = _waits
    main_thread = lib.lt_main_thread
    get_ident = lib.lt_get_ident
    get_native_id = lib.lt_get_native_id
    forget = lib.ltpy_forget
    monotonic_us = lib.lt_monotonic_us
    noted = _noted
