# Cython augmentation of commands.py (the leases are checked every cycle).
cdef class Leases:
    cdef public list value, until_s, events
    cpdef set(self, int which, double value, double now_s, double lease_s)
    cpdef bint clear(self, int which)
    cpdef bint active(self, int which)
    cpdef expire(self, double now_s)
    cpdef double remaining_s(self, int which, double now_s)
    cpdef dict snapshot(self, double now_s)
    cpdef restore(self, object snap, double now_s)
