# Cython augmentation of sensors.py.
cimport cython

cdef int _R_NONE, _R_MISSING, _R_RANGE, _R_RATE, _R_FROZEN, _Q_GOOD, _Q_HELD, _Q_BAD, _N_SIGNALS

cdef class SignalQuality:
    cdef public list names, low, high, rate, frozen_check, essential
    cdef public double stale_s, frozen_s, spike_hold_s
    cdef public list values, ok, quality, reason, raw, good_at_s, changed_at_s, frozen_ref, spike_since_s, seen
    @cython.locals(i=int, names=list)
    cpdef update(self, dict inputs, double now_s)
    @cython.locals(v=double, reason=int, good_at=double, dt=double, step=double)
    cdef _update_one(self, int i, object item, double now_s)
    cpdef bint alarm_condition(self, int i)
    cpdef dict snapshot(self)
    cpdef restore(self, object snap)
