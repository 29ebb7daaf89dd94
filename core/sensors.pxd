# Cython augmentation of sensors.py: the per-signal state as typed arrays (contiguous memoryviews:
# array.array).
cimport cython
from .alarms cimport AlarmTable

cdef int _R_NONE, _R_MISSING, _R_RANGE, _R_RATE, _R_FROZEN, _Q_GOOD, _Q_HELD, _Q_BAD, _N_SIGNALS
cdef int _A_SENSOR0, _S_NONE
cdef double _NO_LIMIT

@cython.final
cdef class SignalQuality:
    cdef public list names
    cdef public double[::1] low, high, rate
    cdef public signed char[::1] frozen_check, essential
    cdef public double stale_s, frozen_s, spike_hold_s
    cdef public double[::1] values
    cdef public signed char[::1] ok, quality, reason
    cdef public double[::1] raw, good_at_s, changed_at_s, frozen_ref, spike_since_s
    cdef public signed char[::1] seen
    cdef public int n_bad
    cdef public bint alarms_busy
    @cython.locals(i=int, names=list)
    cpdef update(self, dict inputs, double now_s)
    @cython.locals(i=int, n=int)
    cpdef update_image(self, double[:] values, signed char[:] oks, double now_s)
    cdef public double[::1] in_values
    cdef public signed char[::1] in_oks
    cdef public bint bound
    cpdef bind_image(self, double[::1] values, signed char[::1] oks)
    @cython.locals(i=int, n=int)
    cpdef int update_bound(self, double now_s) except -1
    @cython.locals(n=int, frozen_s=double, v=double, present=int, quality=int, low=double, high=double, frozen_check=int,
                   changed_at=double, good_at=double, rate=double, last=double, moved=bint, dt=double,
                   step=double)
    cdef inline int _run_good(self, int i, double now_s) noexcept  # no call, no byte store: the loop's arrays stay at hand
    @cython.locals(good_at=double, rate=double, dt=double, step=double)
    cdef inline void _check(self, int i, double v, bint present, double now_s) noexcept  # C arithmetic on own arrays; inline: one loop, no call per signal
    @cython.locals(good_at=double)
    cdef void _fault(self, int i, int reason, double now_s) noexcept  # out of line: the rare path stays out of the loop
    cpdef bint alarm_condition(self, int i)
    @cython.locals(i=int, k=int, busy=bint, condition=bint, limit=double)
    cpdef report_alarms(self, AlarmTable alarms, double now_s)
    cpdef dict snapshot(self)
    cpdef restore(self, object snap)
