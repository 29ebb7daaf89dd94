# Cython augmentation of alarms.py (the per-alarm arrays are contiguous memoryviews: array.array).
cimport cython

cdef int _S_NONE, _S_ACTIVE, _S_ACKED, _S_CLEARED_UNACKED
cdef double _NO_LIMIT
cdef int _BUSY_BITS

@cython.final
cdef class AlarmTable:
    cdef public int n
    cdef public list codes, severity, text
    cdef public signed char[::1] latching
    cdef public double[::1] delay_s
    cdef public double clear_delay_s
    cdef public dict index
    cdef public signed char[::1] state
    cdef public double[::1] since_s, value, limit, on_since_s, off_since_s
    cdef public list events, listing
    cdef public bint dirty
    cdef public long busy
    @cython.locals(state=int)
    cpdef update(self, int i, bint condition, double value, double limit, double now_s)
    @cython.locals(limit=double)
    cpdef object limit_of(self, int i)
    cpdef str ack(self, str code, double now_s)
    cpdef bint is_on(self, int i)
    cdef _event(self, int i, str reason, double now_s)
    @cython.locals(bit=long)
    cdef void _track(self, int i) noexcept
    cpdef list listing_now(self)
    cpdef list snapshot(self, double now_s)
    cpdef restore(self, object rows, double now_s)
