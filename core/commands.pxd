# Cython augmentation of commands.py (the leases are checked every cycle).
cimport cython

cdef int _N_LEASES
cdef double _INF

@cython.final
cdef class Leases:
    # N_LEASES long (built in __init__; a settings push carries them from the running Leases):
    # the index checks are the methods' own `which` check against N_LEASES (the module is
    # compiled without per-access checks)
    cdef public double[::1] value, until_s
    cdef public list events
    cdef public double next_s
    cdef public int n_active
    cpdef set(self, int which, double value, double now_s, double lease_s)
    # except -1: an index out of range raises; the caller tests the result, not PyErr_Occurred()
    cpdef bint clear(self, int which) except -1
    cpdef bint active(self, int which) except -1
    cpdef bint any_active(self) noexcept
    @cython.locals(i=int, n=int)
    cdef void _count(self) noexcept
    @cython.locals(i=int, until=double, next_s=double)
    cpdef expire(self, double now_s)
    cpdef double remaining_s(self, int which, double now_s)
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, object snap, double now_s)
