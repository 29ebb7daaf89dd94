"""The benchmark's baseline station controllers and its season recorder (compiled).

`SupplyLoop` is what many stations run today: a supply temperature setpoint from a heating
curve of the measured outdoor temperature (or one constant, "habitual heating") and a plain
PI controller on the valve position, pumps at constant speed. `Recorder` collects what the
season benchmark reports: supply tracking error histogram and hourly traces.

Both work on the plant's core directly (no dicts per step) so a season at a 1 s control
period costs well under a microsecond per step for the controller. `StationLoop` closes the
loop the same way around heatkeeper's own `StationController` (its array entry, step_image).
"""

from array import array

from heatkeeper.core.signals import INPUTS
from heatkeeper.tools.plant.model import PlantCore


class SupplyLoop:
    """Heating curve (or constant) setpoint and PI on the valve position."""

    def __init__(self, curve_outdoor_c, curve_supply_c, constant_c, kp_pct_k, ti_s, neutral_zone_k):
        if len(curve_outdoor_c) != len(curve_supply_c) or (constant_c <= 0.0 and len(curve_outdoor_c) < 2):
            raise ValueError("curve: need >= 2 (outdoor, supply) anchors of equal count, or a constant setpoint")
        self.curve_x = array("d", curve_outdoor_c)
        self.curve_y = array("d", curve_supply_c)
        self.n_points = len(curve_outdoor_c)
        self.constant_c = constant_c
        self.kp = kp_pct_k
        self.ti_s = ti_s
        self.half_zone = 0.5 * neutral_zone_k
        self.integral = 0.0
        self.valve_pct = 0.0

    def setpoint(self, outdoor_c):
        """Supply setpoint (degC) for a measured outdoor temperature."""
        if self.constant_c > 0.0:
            return self.constant_c
        if outdoor_c <= self.curve_x[0]:
            return self.curve_y[0]
        for i in range(1, self.n_points):
            if outdoor_c <= self.curve_x[i]:
                x0 = self.curve_x[i - 1]
                y0 = self.curve_y[i - 1]
                return y0 + (self.curve_y[i] - y0) * (outdoor_c - x0) / (self.curve_x[i] - x0)
        return self.curve_y[self.n_points - 1]

    def run(self, plant, recorder, n_steps, dt_s):
        """Close the loop for `n_steps` control periods of `dt_s` seconds on `plant`."""
        for _k in range(n_steps):
            outdoor = plant.m_outdoor + plant.noise_k * plant._g()
            supply = plant.m_ts + plant.noise_k * plant._g()
            sp = self.setpoint(outdoor)
            err = sp - supply
            if -self.half_zone < err < self.half_zone:
                err = 0.0
            p = self.kp * err
            self.integral += self.kp * dt_s / self.ti_s * err
            # anti-windup: the integral never pushes the output past its limits
            if p + self.integral > 100.0:
                self.integral = 100.0 - p if p < 100.0 else 0.0
            elif p + self.integral < 0.0:
                self.integral = -p if p > 0.0 else 0.0
            u = p + self.integral
            if u > 100.0:
                u = 100.0
            elif u < 0.0:
                u = 0.0
            self.valve_pct = u
            plant.valve_cmd = u / 100.0
            plant.step_fast(dt_s)
            recorder.record(plant, sp)


class StationLoop:
    """heatkeeper's StationController on the plant: the process image goes from the plant's
    instruments into the controller as arrays (step_image, the same cycle as step()), its
    commands back as numbers; room readings reach it every `room_period_s`, as the
    supervisor relays the collectors (as arrays: set_room_temps, the same state as the dicts
    of room_readings through set_room_readings)."""

    def __init__(self, controller, plant, room_period_s):
        self.ctl = controller
        self.values = array("d", [0.0] * len(INPUTS))
        self.oks = array("b", [0] * len(INPUTS))
        self.room_period_s = room_period_s
        self.next_room_s = plant.time_s
        self.events = 0
        self.readings = []  # type: list
        # the collectors' ids and groups, in the plant's order: each relay hands the controller
        # their temperatures as an array (set_room_temps), the same as room_readings' dicts
        self.room_ids, self.room_groups = plant.collector_ids()

    def room_readings(self, plant):
        """The collectors' readings as the supervisor relays them, [{"collector", "group", "temp_c",
        "age_s"}]: the same dicts each time with this time's temperatures (the controller copies
        what it keeps), new ones when the collectors differ."""
        rows = plant.collector_readings()
        readings = self.readings
        same = len(readings) == len(rows)
        if same:
            for i in range(len(rows)):
                r = readings[i]
                cid, group, temp = rows[i]
                if r["collector"] != cid or r["group"] != group:
                    same = False
                    break
                r["temp_c"] = temp
                r["age_s"] = 0.0
        if not same:
            readings = [{"collector": cid, "group": group, "temp_c": temp, "age_s": 0.0} for cid, group, temp in rows]
            self.readings = readings
        return readings

    def run(self, plant, recorder, n_steps, dt_s):
        """Close the loop for `n_steps` control periods of `dt_s` seconds on `plant`."""
        ctl = self.ctl
        values = self.values
        oks = self.oks
        ctl.bind_image(values, oks)  # step_bound and fill_bound: the arrays once, not with every cycle
        PlantCore.bind_image(plant, values, oks)
        for _k in range(n_steps):
            if plant.time_s >= self.next_room_s:
                ctl.set_room_temps(self.room_ids, self.room_groups, plant.collector_temps_now(), plant.time_s)
                self.next_room_s += self.room_period_s
            # PlantCore's own methods, called directly: compiled, no look for a Python override
            # on each call (Plant, a Python subclass, overrides none of these three)
            PlantCore.fill_bound(plant)
            if ctl.step_bound(plant.time_s) > 0:
                self.events += len(ctl.take_events())
            act = ctl.act
            PlantCore.set_actuators(plant, act.valve_cmd_pct, act.valve_open_pulse_s, act.valve_close_pulse_s,
                                    act.pump1_run, act.pump1_speed_cmd_pct, act.pump2_run, act.pump2_speed_cmd_pct,
                                    act.makeup_pump_run, act.makeup_pump_speed_cmd_pct, act.relief_valve_open)
            PlantCore.advance(plant, dt_s)
            recorder.record(plant, ctl.supply_setpoint_c)


class Recorder:
    """Tracking-error histogram and hourly traces of one season run.

    The tracking error is counted while a supply setpoint is set (setpoint 0 = heating off),
    except while the valve is on its seat and the supply is above the setpoint: the station
    then already delivers no heat, and no valve action can bring the supply below what the
    network water has (warm rooms on mild days return it above a 20 degC minimum setpoint).
    Those cycles are counted in `n_seated`; `hist_all` keeps every cycle with a setpoint.
    """

    def __init__(self, start_s, bin_k=0.02, n_bins=2000):
        self.bin_k = bin_k
        self.n_bins = n_bins
        self.hist = array("d", [0.0] * n_bins)
        self.hist_all = array("d", [0.0] * n_bins)
        self.err_sq_sum = 0.0
        self.n_err = 0
        self.n_seated = 0
        self.next_hour_s = start_s + 3600.0
        self.acc_sp = 0.0
        self.acc_ts = 0.0
        self.acc_n = 0
        self.trace = {"hour": [], "outdoor_c": [], "setpoint_c": [], "supply_c": [], "coldest_room_c": [],
                      "median_room_c": [], "heat_kwh": []}  # type: dict

    def record(self, plant, setpoint_c):
        """Account one control period: setpoint vs the true supply temperature."""
        ts = plant.ts_station
        if setpoint_c > 0.0:
            err = setpoint_c - ts
            seated = err < 0.0 and plant.stem <= 0.0
            if err < 0.0:
                err = -err
            b = int(err / self.bin_k)
            if b >= self.n_bins:
                b = self.n_bins - 1
            self.hist_all[b] += 1.0
            if seated:
                self.n_seated += 1
            else:
                self.hist[b] += 1.0
                self.err_sq_sum += err * err
                self.n_err += 1
        self.acc_sp += setpoint_c
        self.acc_ts += ts
        self.acc_n += 1
        if plant.time_s >= self.next_hour_s:
            self.hour(plant)

    def hour(self, plant):
        """Close one hour of the trace."""
        rooms = []
        for j in range(plant.n_groups):
            rooms.append(plant.g_ta[j])
        rooms.sort()
        n = self.acc_n if self.acc_n > 0 else 1
        trace = self.trace
        trace["hour"].append(self.next_hour_s / 3600.0)
        trace["outdoor_c"].append(plant.outdoor_c)
        trace["setpoint_c"].append(self.acc_sp / n)
        trace["supply_c"].append(self.acc_ts / n)
        trace["coldest_room_c"].append(rooms[0])
        trace["median_room_c"].append(rooms[len(rooms) // 2])
        trace["heat_kwh"].append(plant.heat_kwh)
        self.acc_sp = 0.0
        self.acc_ts = 0.0
        self.acc_n = 0
        self.next_hour_s += 3600.0

    def percentile_k(self, q):
        """The q-quantile (0..1) of the absolute tracking error (K), from the histogram."""
        return self._quantile(self.hist, self.n_err, q)

    def percentile_all_k(self, q):
        """The same over every cycle with a setpoint, valve-seated cycles included."""
        return self._quantile(self.hist_all, self.n_err + self.n_seated, q)

    def _quantile(self, hist, n, q):
        if n == 0:
            return 0.0
        target = q * n
        seen = 0.0
        for b in range(self.n_bins):
            seen += hist[b]
            if seen >= target:
                return (b + 1) * self.bin_k
        return self.n_bins * self.bin_k

    def rms_k(self):
        """Root-mean-square tracking error (K)."""
        return (self.err_sq_sum / self.n_err) ** 0.5 if self.n_err else 0.0
