# Cython augmentation of season.py.

cdef class SeasonCalendar:
    cdef public str city, last_problem
    cdef public long long version
    cdef public double issued_s, start_s, end_s, preheat_s
    cdef public int accepted, refused
    cpdef bint known(self)
    cpdef str accept(self, object msg, double wall_s)
    cdef void _take(self, object msg)
    cpdef bint in_season(self, double wall_s)
    cpdef bint in_preheat(self, double wall_s)
    cpdef bint heating_allowed(self, double wall_s)
    cpdef double first_day_s(self, double wall_s)
    cpdef dict telemetry(self, double wall_s)
    cpdef dict snapshot(self)
    cpdef bint restore(self, object d)
