/*
 * lt_py_kept.h -- the lock calls that keep the GIL, on CPython.
 *
 * cffi's API mode lets go of the GIL around every call it makes into C.
 * The native _thread never does so on a call that cannot block: release()
 * lets no other thread run, and acquire() tries first with the GIL held and
 * lets go of it only to wait (CPython's acquire_timed).  Each release of
 * the GIL in a busy program hands it to another thread, so through cffi
 * every lock operation was a thread switch.  These are those calls written as
 * plain builtin functions (the module lowthread._kept, made at import by
 * ltpy_kept_install): a call that cannot block runs with the GIL held, a
 * call that may wait tries first with it and lets go of it only for the
 * wait.  Their arguments and results are those of the cffi calls they
 * stand for, so the Python side uses either without a branch.
 *
 * Why holding the GIL is safe here: none of these calls waits for anything
 * but the C core's own short internal locks, which no thread holds while it
 * waits for the GIL.  On a free-threaded build the same code holds no GIL
 * but keeps the thread attached, which is just as safe for calls that do
 * not wait; the waits detach (Py_BEGIN_ALLOW_THREADS), as they must, so
 * that a stop-the-world pause never waits for a thread parked on a lock.
 *
 * They take the lock's cdata: the pointer is read out of the cdata object
 * at the offset that locate() (called once, by lowthread/core/_calls.py) found
 * by looking at a cdata of a known value, after checking that the object is
 * a cdata of the expected C type.
 * Included by lt_py_entry.h, in the cffi module's translation unit.
 */
#ifndef LT_PY_KEPT_H
#define LT_PY_KEPT_H

/* The C types of what these calls take, in the order locate() is given them. */
enum {
    LTPY_T_LOCK,   /* lt_lock_t * */
    LTPY_T_RLOCK,  /* lt_rlock_t * */
    LTPY_T_THREAD, /* lt_thread_t * */
    LTPY_T_WAITS,  /* lt_wait_info_t[] */
    LTPY_KEPT_NTYPES
};

/* Where a cdata object keeps its C type and its pointer (found at install),
 * the cdata base type, and the C types above. */
static Py_ssize_t ltpy_kept_ctype_at = -1;
static Py_ssize_t ltpy_kept_data_at = -1;
static PyObject *ltpy_kept_cdata_type;
static PyObject *ltpy_kept_ctypes[LTPY_KEPT_NTYPES];

/* A lock's cdata is of a subtype (cffi's owning cdata, from ffi.new()):
 * the last subtype that passed the check, so that the next call compares
 * one pointer instead of walking the type's MRO.  Only ever a cdata type,
 * which lives as long as the process. */
static PyTypeObject *ltpy_kept_seen_type;

static void *ltpy_kept_ptr(PyObject *o, int ctype)
{
    char *base = (char *)(void *)o;
    PyTypeObject *tp = Py_TYPE(o);

    if ((tp != ltpy_kept_seen_type &&
         !PyObject_TypeCheck(o, (PyTypeObject *)ltpy_kept_cdata_type)) ||
        *(PyObject **)(void *)(base + ltpy_kept_ctype_at) != ltpy_kept_ctypes[ctype]) {
        PyErr_SetString(PyExc_TypeError, "lowthread: not the C object this call takes");
        return NULL;
    }
    ltpy_kept_seen_type = tp;
    return *(void **)(void *)(base + ltpy_kept_data_at);
}

#define LTPY_LOCK(o) ((lt_lock_t *)ltpy_kept_ptr((o), LTPY_T_LOCK))
#define LTPY_RLOCK(o) ((lt_rlock_t *)ltpy_kept_ptr((o), LTPY_T_RLOCK))
#define LTPY_THREAD(o) ((lt_thread_t *)ltpy_kept_ptr((o), LTPY_T_THREAD))

/* A join's attempt that never waits, as the locks' ltpy_lock_try. */
static int ltpy_thread_try_join(lt_thread_t *thread)
{
    return lt_thread_join(thread, 0, 0);
}

/* A call that cannot block, with the GIL held: its result made a Python int
 * by to_py from the C type as_type. */
#define LTPY_KEPT_CALL(name, get, call, to_py, as_type)                    \
    static PyObject *ltpy_kept_##name(PyObject *self, PyObject *o)         \
    {                                                                      \
        void *p = get(o);                                                  \
        (void)self;                                                        \
        if (p == NULL)                                                     \
            return NULL;                                                   \
        return to_py((as_type)call(p));                                    \
    }

LTPY_KEPT_CALL(lock_release, LTPY_LOCK, ltpy_lock_release, PyLong_FromLong, long)
LTPY_KEPT_CALL(lock_locked, LTPY_LOCK, lt_lock_locked, PyLong_FromLong, long)
LTPY_KEPT_CALL(lock_try, LTPY_LOCK, ltpy_lock_try, PyLong_FromLong, long)
LTPY_KEPT_CALL(lock_untake, LTPY_LOCK, ltpy_lock_untake, PyLong_FromLong, long)
LTPY_KEPT_CALL(lock_holder, LTPY_LOCK, lt_lock_holder, PyLong_FromUnsignedLongLong,
               unsigned long long)
LTPY_KEPT_CALL(rlock_release, LTPY_RLOCK, ltpy_rlock_release, PyLong_FromLong, long)
LTPY_KEPT_CALL(rlock_try, LTPY_RLOCK, ltpy_rlock_try, PyLong_FromLong, long)
LTPY_KEPT_CALL(rlock_untake, LTPY_RLOCK, ltpy_rlock_untake, PyLong_FromLong, long)
LTPY_KEPT_CALL(rlock_owner, LTPY_RLOCK, lt_rlock_owner, PyLong_FromUnsignedLongLong,
               unsigned long long)
LTPY_KEPT_CALL(rlock_count, LTPY_RLOCK, lt_rlock_count, PyLong_FromUnsignedLong,
               unsigned long)
LTPY_KEPT_CALL(thread_is_done, LTPY_THREAD, lt_thread_is_done, PyLong_FromLong, long)
LTPY_KEPT_CALL(rlock_recursion, LTPY_RLOCK, lt_rlock_recursion, PyLong_FromUnsignedLong,
               unsigned long)

/* The untimed waits, (lock): a try with the GIL, then the wait without it. */
#define LTPY_KEPT_WAIT(name, get, try_once, wait)                          \
    static PyObject *ltpy_kept_##name(PyObject *self, PyObject *o)         \
    {                                                                      \
        void *p = get(o);                                                  \
        int rc;                                                            \
        (void)self;                                                        \
        if (p == NULL)                                                     \
            return NULL;                                                   \
        rc = try_once(p);                                                  \
        if (rc == LT_TIMEDOUT) {                                           \
            Py_BEGIN_ALLOW_THREADS                                         \
            rc = wait(p);                                                  \
            Py_END_ALLOW_THREADS                                           \
        }                                                                  \
        return PyLong_FromLong(rc);                                        \
    }

/* The timed waits, (lock, timeout_us, flags) as ltpy_lock_acquire: the same,
 * and a timeout of 0 never lets go of the GIL. */
#define LTPY_KEPT_TIMED(name, get, try_once, acquire)                      \
    static PyObject *ltpy_kept_##name(PyObject *self, PyObject *args)      \
    {                                                                      \
        PyObject *o;                                                       \
        long long us;                                                      \
        int flags, rc;                                                     \
        void *p;                                                           \
        (void)self;                                                        \
        if (!PyArg_ParseTuple(args, "OLi", &o, &us, &flags) ||             \
            (p = get(o)) == NULL)                                          \
            return NULL;                                                   \
        rc = try_once(p);                                                  \
        if (rc == LT_TIMEDOUT && us != 0) {                                \
            Py_BEGIN_ALLOW_THREADS                                         \
            rc = acquire(p, (int64_t)us, flags);                           \
            Py_END_ALLOW_THREADS                                           \
        }                                                                  \
        return PyLong_FromLong(rc);                                        \
    }

LTPY_KEPT_WAIT(rlock_wait, LTPY_RLOCK, ltpy_rlock_try, ltpy_rlock_wait)
/* A joiner's wait on a sentinel lock (ltpy_is_sentinel, lt_py.c) once its
 * try failed: without the GIL until the lock is free, taking nothing, then
 * a try with the GIL held, until a try takes it or us runs out (< 0:
 * never).  The lock's own waits below are the macros' above, but for it. */
static int ltpy_kept_sentinel_wait(lt_lock_t *lock, long long us, int flags)
{
    int64_t deadline = us > 0 ? lt_monotonic_us() + (int64_t)us : 0;
    int rc;

    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        rc = ltpy_lock_wait_unlocked(lock, (int64_t)us, flags);
        Py_END_ALLOW_THREADS
        if (rc != LT_OK)
            return rc;
        rc = ltpy_lock_try(lock);
        if (rc != LT_TIMEDOUT || us == 0)
            return rc;
        if (us > 0 && (us = deadline - lt_monotonic_us()) <= 0)
            return LT_TIMEDOUT;
    }
}

static PyObject *ltpy_kept_lock_wait(PyObject *self, PyObject *o)
{
    lt_lock_t *p = LTPY_LOCK(o);
    int rc;

    (void)self;
    if (p == NULL)
        return NULL;
    rc = ltpy_lock_try(p);
    if (rc == LT_TIMEDOUT) {
        if (ltpy_is_sentinel(p)) {
            rc = ltpy_kept_sentinel_wait(p, -1, LT_WAIT_INTR);
        } else {
            Py_BEGIN_ALLOW_THREADS
            rc = ltpy_lock_wait(p);
            Py_END_ALLOW_THREADS
        }
    }
    return PyLong_FromLong(rc);
}

static PyObject *ltpy_kept_lock_acquire(PyObject *self, PyObject *args)
{
    PyObject *o;
    long long us;
    int flags, rc;
    lt_lock_t *p;

    (void)self;
    if (!PyArg_ParseTuple(args, "OLi", &o, &us, &flags) || (p = LTPY_LOCK(o)) == NULL)
        return NULL;
    rc = ltpy_lock_try(p);
    if (rc == LT_TIMEDOUT && us != 0) {
        if (ltpy_is_sentinel(p)) {
            rc = ltpy_kept_sentinel_wait(p, us, flags);
        } else {
            Py_BEGIN_ALLOW_THREADS
            rc = ltpy_lock_acquire(p, (int64_t)us, flags);
            Py_END_ALLOW_THREADS
        }
    }
    return PyLong_FromLong(rc);
}

LTPY_KEPT_TIMED(rlock_acquire, LTPY_RLOCK, ltpy_rlock_try, ltpy_rlock_acquire)
LTPY_KEPT_TIMED(thread_join, LTPY_THREAD, ltpy_thread_try_join, lt_thread_join)

/* (buffer or None, size), as lt_waits: buffer an lt_wait_info_t[] of at
 * least size entries. */
static PyObject *ltpy_kept_waits(PyObject *self, PyObject *args)
{
    PyObject *o;
    Py_ssize_t size;
    lt_wait_info_t *out = NULL;

    (void)self;
    if (!PyArg_ParseTuple(args, "On", &o, &size))
        return NULL;
    if (o != Py_None && (out = ltpy_kept_ptr(o, LTPY_T_WAITS)) == NULL)
        return NULL;
    if (size < 0 || (out == NULL && size != 0)) {
        PyErr_SetString(PyExc_ValueError, "lowthread: no room for that many waits");
        return NULL;
    }
    return PyLong_FromSize_t(lt_waits(out, (size_t)size));
}

/* (count, owner) of an owned RLock, which it releases; None if the calling
 * thread does not own it (lt_rlock_release_save's two out-parameters,
 * without two ffi.new); (count, owner, LTPY_NOTED) for a noted release. */
static PyObject *ltpy_kept_rlock_release_save(PyObject *self, PyObject *o)
{
    lt_rlock_t *rlock = LTPY_RLOCK(o);
    unsigned long count;
    uint64_t owner;
    int rc;

    (void)self;
    if (rlock == NULL)
        return NULL;
    rc = ltpy_rlock_release_save(rlock, &count, &owner);
    if (rc == LTPY_NOTED)
        return Py_BuildValue("(kKi)", count, (unsigned long long)owner, rc);
    if (rc != LT_OK)
        Py_RETURN_NONE;
    return Py_BuildValue("(kK)", count, (unsigned long long)owner);
}

/* (rlock, count, owner), as lt_rlock_acquire_restore: a try with the GIL,
 * then the wait without it.  The caller has checked count and owner. */
static PyObject *ltpy_kept_rlock_acquire_restore(PyObject *self, PyObject *args)
{
    PyObject *o;
    unsigned long count;
    unsigned long long owner;
    lt_rlock_t *rlock;
    int rc;

    (void)self;
    if (!PyArg_ParseTuple(args, "OkK", &o, &count, &owner) || (rlock = LTPY_RLOCK(o)) == NULL)
        return NULL;
    rc = lt_rlock_try_restore(rlock, count, (uint64_t)owner);
    if (rc == LT_TIMEDOUT) {
        Py_BEGIN_ALLOW_THREADS
        rc = ltpy_rlock_acquire_restore(rlock, count, (uint64_t)owner);
        Py_END_ALLOW_THREADS
    }
    return PyLong_FromLong(rc);
}

/* A call of no arguments that reads a 64-bit value, with the GIL held. */
#define LTPY_KEPT_READ(name, call)                                         \
    static PyObject *ltpy_kept_##name(PyObject *self, PyObject *unused)    \
    {                                                                      \
        (void)self;                                                        \
        (void)unused;                                                      \
        return PyLong_FromUnsignedLongLong((unsigned long long)call());    \
    }

LTPY_KEPT_READ(get_ident, lt_get_ident)
LTPY_KEPT_READ(get_native_id, lt_get_native_id)
LTPY_KEPT_READ(main_thread, lt_main_thread)

static PyObject *ltpy_kept_forget(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    ltpy_forget();
    Py_RETURN_NONE;
}

/* ltpy_noted_take() as a tuple (event, status, waited_us, other, handed). */
static PyObject *ltpy_kept_noted(PyObject *self, PyObject *unused)
{
    int64_t out[5];

    (void)self;
    (void)unused;
    ltpy_noted_take(out);
    return Py_BuildValue("(iiLKi)", (int)out[0], (int)out[1], (long long)out[2],
                         (unsigned long long)out[3], (int)out[4]);
}

static PyObject *ltpy_kept_monotonic_us(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLongLong((long long)lt_monotonic_us());
}

/* A lock class's __new__, made by maker(): its bound tuple is (cls, the _lk
 * name, new, (ctype,), general).  cls() with no argument makes the instance
 * and, in its _lk slot, the cdata new(ctype) (ffi.new: the C lock in the
 * object's own memory), without a Python frame; every other call (a
 * subclass, arguments) is general(cls, *args, **kwargs)'s, which checks the
 * arguments and is the constructor where _kept is not used. */
static PyObject *ltpy_kept_make(PyObject *bound, PyObject *args, PyObject *kwds)
{
    PyObject *cls = PyTuple_GetItem(bound, 0), *obj, *lk;

    if (PyTuple_Size(args) != 1 || PyTuple_GetItem(args, 0) != cls ||
        (kwds != NULL && PyDict_Size(kwds) != 0))
        return PyObject_Call(PyTuple_GetItem(bound, 4), args, kwds);
    obj = PyType_GenericAlloc((PyTypeObject *)cls, 0);
    if (obj == NULL)
        return NULL;
    lk = PyObject_Call(PyTuple_GetItem(bound, 2), PyTuple_GetItem(bound, 3), NULL);
    if (lk == NULL || PyObject_SetAttr(obj, PyTuple_GetItem(bound, 1), lk) < 0) {
        Py_XDECREF(lk);
        Py_DECREF(obj);
        return NULL;
    }
    Py_DECREF(lk);
    return obj;
}

static PyMethodDef ltpy_kept_make_def = {
    "__new__", (PyCFunction)(void (*)(void))ltpy_kept_make, METH_VARARGS | METH_KEYWORDS, NULL
};

/* maker(cls, new, ctype, general): the __new__ above for cls. */
static PyObject *ltpy_kept_maker(PyObject *self, PyObject *args)
{
    PyObject *cls, *new, *ctype, *general, *bound, *made;

    (void)self;
    if (!PyArg_ParseTuple(args, "O!OOO", &PyType_Type, &cls, &new, &ctype, &general))
        return NULL;
    bound = Py_BuildValue("(ONO(O)O)", cls, PyUnicode_InternFromString("_lk"), new, ctype,
                          general);
    if (bound == NULL)
        return NULL;
    made = PyCFunction_NewEx(&ltpy_kept_make_def, bound, NULL);
    Py_DECREF(bound);
    return made;
}

/* (probe, value, ctype, ctypes): probe is a cdata of C type ctype whose
 * pointer is value; finds where a cdata keeps both, and keeps the tuple
 * ctypes, the C types of the enum above, for the other calls to check. */
static PyObject *ltpy_kept_locate(PyObject *self, PyObject *args)
{
    PyObject *probe, *ctype, *ctypes;
    void *value;
    Py_ssize_t at, i;
    const Py_ssize_t word = (Py_ssize_t)sizeof(void *);

    (void)self;
    if (!PyArg_ParseTuple(args, "OnOO!", &probe, &at, &ctype, &PyTuple_Type, &ctypes))
        return NULL;
    if (PyTuple_Size(ctypes) != LTPY_KEPT_NTYPES) {
        PyErr_SetString(PyExc_ValueError, "lowthread: not the C types _kept checks");
        return NULL;
    }
    value = (void *)at;
    ltpy_kept_ctype_at = ltpy_kept_data_at = -1;
    for (at = (Py_ssize_t)sizeof(PyObject); at < 8 * word; at += word) {
        void *seen = *(void **)(void *)((char *)(void *)probe + at);

        if (seen == (void *)ctype && ltpy_kept_ctype_at < 0)
            ltpy_kept_ctype_at = at;
        else if (seen == value && ltpy_kept_data_at < 0)
            ltpy_kept_data_at = at;
    }
    if (ltpy_kept_ctype_at < 0 || ltpy_kept_data_at < 0) {
        PyErr_SetString(PyExc_RuntimeError, "lowthread: cffi's cdata layout is not the known one");
        return NULL;
    }
    Py_INCREF((PyObject *)Py_TYPE(probe));
    ltpy_kept_cdata_type = (PyObject *)Py_TYPE(probe);
    for (i = 0; i < LTPY_KEPT_NTYPES; i++) {
        PyObject *t = PyTuple_GetItem(ctypes, i);

        Py_INCREF(t);
        ltpy_kept_ctypes[i] = t;
    }
    Py_RETURN_NONE;
}

static PyMethodDef ltpy_kept_calls[] = {
    {"locate", ltpy_kept_locate, METH_VARARGS, NULL},
    {"maker", ltpy_kept_maker, METH_VARARGS, NULL},
    {"lock_release", ltpy_kept_lock_release, METH_O, NULL},
    {"lock_locked", ltpy_kept_lock_locked, METH_O, NULL},
    {"lock_try", ltpy_kept_lock_try, METH_O, NULL},
    {"lock_wait", ltpy_kept_lock_wait, METH_O, NULL},
    {"lock_acquire", ltpy_kept_lock_acquire, METH_VARARGS, NULL},
    {"lock_untake", ltpy_kept_lock_untake, METH_O, NULL},
    {"lock_holder", ltpy_kept_lock_holder, METH_O, NULL},
    {"rlock_release", ltpy_kept_rlock_release, METH_O, NULL},
    {"rlock_try", ltpy_kept_rlock_try, METH_O, NULL},
    {"rlock_wait", ltpy_kept_rlock_wait, METH_O, NULL},
    {"rlock_acquire", ltpy_kept_rlock_acquire, METH_VARARGS, NULL},
    {"rlock_untake", ltpy_kept_rlock_untake, METH_O, NULL},
    {"rlock_owner", ltpy_kept_rlock_owner, METH_O, NULL},
    {"rlock_count", ltpy_kept_rlock_count, METH_O, NULL},
    {"rlock_recursion", ltpy_kept_rlock_recursion, METH_O, NULL},
    {"rlock_release_save", ltpy_kept_rlock_release_save, METH_O, NULL},
    {"rlock_acquire_restore", ltpy_kept_rlock_acquire_restore, METH_VARARGS, NULL},
    {"thread_is_done", ltpy_kept_thread_is_done, METH_O, NULL},
    {"thread_join", ltpy_kept_thread_join, METH_VARARGS, NULL},
    {"waits", ltpy_kept_waits, METH_VARARGS, NULL},
    {"main_thread", ltpy_kept_main_thread, METH_NOARGS, NULL},
    {"get_ident", ltpy_kept_get_ident, METH_NOARGS, NULL},
    {"get_native_id", ltpy_kept_get_native_id, METH_NOARGS, NULL},
    {"forget", ltpy_kept_forget, METH_NOARGS, NULL},
    {"monotonic_us", ltpy_kept_monotonic_us, METH_NOARGS, NULL},
    {"noted", ltpy_kept_noted, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

/* Makes the module lowthread._kept (in sys.modules).  Called through cffi,
 * so without the GIL, which it takes through the GIL-state API: that knows
 * only the main interpreter, so called from a subinterpreter it makes the
 * module in the main one's sys.modules, and the subinterpreter, not finding
 * it in its own, goes on with cffi's calls.  0 if made. */
static int ltpy_kept_install(void)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *module = PyImport_AddModule("lowthread._kept");
    int rc = module == NULL ? -1 : PyModule_AddFunctions(module, ltpy_kept_calls);

    if (rc < 0)
        PyErr_Clear();
    PyGILState_Release(gil);
    return rc;
}

#endif /* LT_PY_KEPT_H */
