# Cython augmentation of valve_actuator.py.
cimport cython

@cython.final
cdef class ValveActuator:
    cdef public int kind, drive_dir, synced_end
    cdef public double run_time_s, min_pulse_s, overdrive_s, start_delay_s, shut_below_pct
    cdef public bint last_full, initial_sync, floating, shut
    cdef public double estimate_pct, cmd_pct, open_pulse_s, close_pulse_s, drive_run_s, end_drive_s, travel_pct
    @cython.locals(fb=bint, before=double, max_step=double, d=double, est=double, drive_s=double, to_end=bint,
                   direction=int, want_end=int, remaining_s=double, pulse_s=double, delay_s=double, sent_s=double, beyond_s=double, delta=double)
    cpdef step(self, double dt_s, double target_pct, double feedback_pct, bint feedback_ok)
    cpdef dict snapshot(self)
    cpdef restore(self, dict d)
