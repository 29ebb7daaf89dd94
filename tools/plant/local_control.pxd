# Cython augmentation of local_control.py: the baseline loop runs on the plant core in C.
import cython
from heatkeeper.core.interlocks cimport Actuators
from heatkeeper.core.station cimport StationController
from heatkeeper.tools.plant.model cimport PlantCore

cdef class SupplyLoop:
    cdef public double[:] curve_x, curve_y
    cdef public int n_points
    cdef public double constant_c, kp, ti_s, half_zone, integral, valve_pct

    @cython.locals(i=cython.int, x0=cython.double, y0=cython.double)
    cpdef double setpoint(self, double outdoor_c)
    @cython.locals(_k=cython.long, outdoor=cython.double, supply=cython.double, sp=cython.double,
                   err=cython.double, p=cython.double, u=cython.double)
    cpdef void run(self, PlantCore plant, Recorder recorder, long n_steps, double dt_s)

@cython.final
cdef class StationLoop:
    cdef public StationController ctl
    cdef public double[::1] values
    cdef public signed char[::1] oks
    cdef public double room_period_s, next_room_s
    cdef public long events
    cdef public list readings, room_ids, room_groups
    @cython.locals(rows=list, readings=list, same=cython.bint, i=cython.int, r=dict)
    cpdef list room_readings(self, PlantCore plant)
    @cython.locals(_k=cython.long, act=Actuators, ctl=StationController, values="double[::1]", oks="signed char[::1]")
    cpdef void run(self, PlantCore plant, Recorder recorder, long n_steps, double dt_s)

@cython.final
cdef class Recorder:
    cdef public double bin_k
    cdef public int n_bins
    cdef public double[:] hist, hist_all
    cdef public double err_sq_sum
    cdef public long n_err, n_seated
    cdef public double next_hour_s, acc_sp, acc_ts
    cdef public long acc_n
    cdef public dict trace

    @cython.locals(ts=cython.double, err=cython.double, b=cython.int, seated=cython.bint)
    cpdef int record(self, PlantCore plant, double setpoint_c) except -1
    @cython.locals(rooms=list, j=cython.int, n=cython.long, trace=dict)
    cpdef void hour(self, PlantCore plant)
    cpdef double percentile_k(self, double q)
    cpdef double percentile_all_k(self, double q)
    @cython.locals(target=cython.double, seen=cython.double, b=cython.int)
    cdef double _quantile(self, double[:] hist, long n, double q)
    cpdef double rms_k(self)
