# Cython augmentation of heating_curve.py.
cimport cython

@cython.final
cdef class HeatingCurve:
    cdef public bint use_table
    cdef public double[::1] xs, ys  # the table's anchors (array.array)
    cdef public int n_points
    cdef public double shift_k, design_room_c, room_shift_factor, min_supply_c, max_supply_c, slope, cold_gradient
    @cython.locals(base=double, room_k=double)
    cpdef double unclamped_c(self, double outdoor_c, double room_setpoint_c) except? -1
    @cython.locals(n=int, i=int, x0=double, x1=double, y0=double, y1=double)
    cdef inline double table_c(self, double outdoor_c) except? -1
    cpdef double supply_c(self, double outdoor_c, double room_setpoint_c) except? -1
