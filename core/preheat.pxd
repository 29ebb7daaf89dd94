# Cython augmentation of preheat.py.

cdef class Preheat:
    cdef public bint enabled, ff_enabled
    cdef public double margin_k, margin_h, supply_c, k_l, replan_s, fallback_lead_h
    cdef public double ff_horizon_h, ff_gain, ff_drop_k, ff_max_k, ff_travel_pct
    cdef public int phase
    cdef public double ff_k, next_s, needed_h, left_h, f, heat_since_s, heat_t0_c, heat_pred_k
    cpdef double rate_k_per_h(self, double room_c, double outdoor_c, double supply_c, double k_h)
    cpdef double hours_needed(self, double room_c, double target_c, double supply_c, double k_h, object forecast,
                              double wall_s, double fallback_out_c)
    cpdef plan(self, double now_s, double wall_s, bint wall_ok, object calendar, object forecast, double room_low_c,
               bint room_ok, double floor_c, double outdoor_c, double ref_c, object curve, double room_setpoint_c,
               double room_trim_k, double valve_pct)
    cpdef double emitter_gain(self, object curve)
    cdef void _learn(self, double now_s, double room_c)
    cdef void _phase(self, int phase, double now_s)
    cpdef double feed_forward(self, double wall_s, object forecast, double outdoor_c, object curve,
                              double room_setpoint_c, double room_trim_k, double valve_pct, bint rooms_warm)
    cpdef bint holds_off(self)
    cpdef dict telemetry(self)
    cpdef dict snapshot(self)
    cpdef restore(self, object d)
