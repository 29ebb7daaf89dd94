"""The process image: the names of every signal that crosses the core boundary.

One cycle's inputs are a dict `{"now_s": float, NAME: (value, ok), ...}` with values in the
engineering unit the name ends in. A missing name is the same as `(0.0, False)`: the signal
is not available. Booleans travel as 0.0 / 1.0. Firmware decides `ok` at the boundary (device
reachable, no sentinel, in range for the device); core then validates plausibility itself.

Outputs are a dict with the keys in OUTPUTS; `alarms` and `events` are lists of plain dicts.
Config key = attribute name = uplink field name, so these names are also the telemetry fields.
"""

# --- analogue and binary inputs (read from devices every cycle) --------------------------
OUTDOOR_TEMP_C = "outdoor_temp_c"
PRIMARY_SUPPLY_TEMP_C = "primary_supply_temp_c"
PRIMARY_RETURN_TEMP_C = "primary_return_temp_c"
PRIMARY_SUPPLY_PRESSURE_KPA = "primary_supply_pressure_kpa"
PRIMARY_RETURN_PRESSURE_KPA = "primary_return_pressure_kpa"
SECONDARY_SUPPLY_TEMP_C = "secondary_supply_temp_c"
SECONDARY_RETURN_TEMP_C = "secondary_return_temp_c"
SECONDARY_SUPPLY_PRESSURE_KPA = "secondary_supply_pressure_kpa"
SECONDARY_RETURN_PRESSURE_KPA = "secondary_return_pressure_kpa"
VALVE_POSITION_PCT = "valve_position_pct"  # feedback of the primary control valve
HEAT_POWER_KW = "heat_power_kw"  # heat meter on the primary side
PRIMARY_FLOW_M3H = "primary_flow_m3h"
HEAT_ENERGY_KWH = "heat_energy_kwh"  # meter totaliser
PUMP1_RUNNING = "pump1_running"
PUMP1_FAULT = "pump1_fault"
PUMP1_SPEED_PCT = "pump1_speed_pct"  # feedback
PUMP2_RUNNING = "pump2_running"
PUMP2_FAULT = "pump2_fault"
PUMP2_SPEED_PCT = "pump2_speed_pct"
MAKEUP_PUMP_RUNNING = "makeup_pump_running"
MAKEUP_PUMP_FAULT = "makeup_pump_fault"
MAKEUP_VOLUME_M3 = "makeup_volume_m3"  # make-up water meter totaliser
TANK_LEVEL_PCT = "tank_level_pct"
ELECTRICITY_KWH = "electricity_kwh"  # the station's electricity meter totaliser (pumps, controls)

INPUTS = (
    OUTDOOR_TEMP_C,
    PRIMARY_SUPPLY_TEMP_C,
    PRIMARY_RETURN_TEMP_C,
    PRIMARY_SUPPLY_PRESSURE_KPA,
    PRIMARY_RETURN_PRESSURE_KPA,
    SECONDARY_SUPPLY_TEMP_C,
    SECONDARY_RETURN_TEMP_C,
    SECONDARY_SUPPLY_PRESSURE_KPA,
    SECONDARY_RETURN_PRESSURE_KPA,
    VALVE_POSITION_PCT,
    HEAT_POWER_KW,
    PRIMARY_FLOW_M3H,
    HEAT_ENERGY_KWH,
    PUMP1_RUNNING,
    PUMP1_FAULT,
    PUMP1_SPEED_PCT,
    PUMP2_RUNNING,
    PUMP2_FAULT,
    PUMP2_SPEED_PCT,
    MAKEUP_PUMP_RUNNING,
    MAKEUP_PUMP_FAULT,
    MAKEUP_VOLUME_M3,
    TANK_LEVEL_PCT,
    ELECTRICITY_KWH,
)

# --- actuator commands (outputs) ---------------------------------------------------------
VALVE_CMD_PCT = "valve_cmd_pct"  # position-controlled valve (0-10 V or Modbus)
VALVE_OPEN_PULSE_S = "valve_open_pulse_s"  # 3-point actuator: drive open for this long this cycle
VALVE_CLOSE_PULSE_S = "valve_close_pulse_s"
PUMP1_RUN = "pump1_run"
PUMP1_SPEED_CMD_PCT = "pump1_speed_cmd_pct"
PUMP2_RUN = "pump2_run"
PUMP2_SPEED_CMD_PCT = "pump2_speed_cmd_pct"
MAKEUP_PUMP_RUN = "makeup_pump_run"
MAKEUP_PUMP_SPEED_CMD_PCT = "makeup_pump_speed_cmd_pct"
RELIEF_VALVE_OPEN = "relief_valve_open"

ACTUATORS = (
    VALVE_CMD_PCT,
    VALVE_OPEN_PULSE_S,
    VALVE_CLOSE_PULSE_S,
    PUMP1_RUN,
    PUMP1_SPEED_CMD_PCT,
    PUMP2_RUN,
    PUMP2_SPEED_CMD_PCT,
    MAKEUP_PUMP_RUN,
    MAKEUP_PUMP_SPEED_CMD_PCT,
    RELIEF_VALVE_OPEN,
)

# --- building branch valves (core.balancing) ----------------------------------------------
# One device per branch ([[device]] branch = "<group>" in the station TOML); not in the process
# image: the firmware hands them to StationController.set_branch_readings / branch_commands.
BRANCH_VALVE_POSITION_PCT = "branch_valve_position_pct"
BRANCH_RETURN_TEMP_C = "branch_return_temp_c"  # the building's return
BRANCH_SUPPLY_TEMP_C = "branch_supply_temp_c"
BRANCH_FLOW_M3H = "branch_flow_m3h"
BRANCH_POWER_KW = "branch_power_kw"
BRANCH_INPUTS = (BRANCH_VALVE_POSITION_PCT, BRANCH_RETURN_TEMP_C, BRANCH_SUPPLY_TEMP_C, BRANCH_FLOW_M3H, BRANCH_POWER_KW)
BRANCH_VALVE_CMD_PCT = "branch_valve_cmd_pct"
BRANCH_ACTUATORS = (BRANCH_VALVE_CMD_PCT,)

# --- other output keys -------------------------------------------------------------------
MODE = "mode"  # int, see core.modes
MODE_NAME = "mode_name"
SUPPLY_SETPOINT_C = "supply_setpoint_c"  # final secondary supply setpoint after all limiters
ALARMS = "alarms"  # list of {"code", "severity", "state", "since_s", "value", "text"}
EVENTS = "events"  # list of {"kind", "reason", ...} raised this cycle

# The diagnostics are not an output: StationController.diagnostics() builds them when asked.
OUTPUTS = ACTUATORS + (MODE, MODE_NAME, SUPPLY_SETPOINT_C, ALARMS, EVENTS)


def value_of(inputs: dict, name: str, default: float) -> float:
    """The value of `name` if present and ok, else `default`."""
    item = inputs.get(name)
    if item is None or not item[1]:
        return default
    return item[0]


def is_ok(inputs: dict, name: str) -> bool:
    """True when `name` is present and flagged ok."""
    item = inputs.get(name)
    return item is not None and bool(item[1])
