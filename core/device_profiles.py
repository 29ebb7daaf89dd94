"""Device register maps as data, shared by the firmware's bus layer and the simulators.

PROFILES[name] = {
    "vendor", "model", "doc"          text: where the map comes from, and what is unverified
    "function_code": 3 | 4            default read function code of the points
    "address_base": 0 | 1 | 30001 | 40001   how the vendor numbers its registers (1: "register 1 is
                                      PDU 0"; Modicon numbering: "30001 is input register PDU 0")
    "max_gap": int                    registers a block read may span without a point (0: never)
    "points": {point: {
        "register": int               the number printed in the vendor's manual
        "address": int                PDU address (0-based) = register - address_base, filled here
        "function_code": 3 | 4        read function code (rw points are holding registers: 3)
        "type": "int16|uint16|int32|uint32|float32"
        "word_order": "big|little"    32-bit types: "big" = high word at the lower address
        "scale", "offset"             value = raw * scale + offset, in "unit"
        "unit": str                   engineering unit (degC, kPa, pct, kW, m3h, kWh, m3, bool, ...)
        "access": "r" | "rw"
        "sentinels": [int, ...]       raw bit patterns meaning "no value" (compared after masking
                                      to the type's width, so -32767 and 32769 are the same word)
        "min", "max"                  plausible engineering range; outside it the value is not ok
        "priority": "high" | "low"    high: read every cycle; low: round-robin
        "bit": int (optional)         boolean from one bit of a 16-bit word (value 0.0 / 1.0)
        "nonzero": True (optional)    boolean: 1.0 when the word is not 0 (alarm code registers)
        "on_value", "off_value"       boolean command words (drive control words): 1.0 -> on_value
        "ready_first": True           (kept for old profiles) off_value before on_value
        "signals": [name, ...]        core.signals names this point may be bound to
        "alarm": {code, severity, text, active: "nonzero"|"zero"} (optional)
                                      a diagnostic the device reports: the bus layer reads it
                                      whether bound or not, reports it in telemetry as
                                      <device>_<point> and raises the alarm <device>_<code>
                                      while the decoded value is nonzero (or zero)
        "report": True (optional)     a diagnostic read and reported in telemetry, no alarm
        "bit_names": {bit: text}      names of the bits of a bit-coded word (probe, alarm text)
        "scaled_by": [min_pt, max_pt] a setpoint the device maps into its own working range
                                      [min_pt, max_pt] (percent of stroke): the bus layer
                                      commands setpoint_for_position(...) so the device goes
                                      where the station means
    },
    "blocks": [{register, count, function_code, address}]
                                      ranges the vendor documents as readable in ONE request;
                                      a block read never crosses a block boundary and every
                                      point lies inside one block
    "serial": {parity, stopbits, baudrate, source}
                                      the device's factory serial settings (None: not
                                      documented / not verified); a bus without its own
                                      parity takes its devices' common factory parity
    "signature": [{register, count, function_code, min, max} | {point}]
                                      reads that only this device model answers this way:
                                      `scan` names a device by its signature, never by which
                                      profile happens to decode plausibly. Empty for generic
                                      devices, which `scan` only lists as "fits"
    "drive": {...} (drives only)      the drive's state machine as data, see DRIVE below
}

The one place where a vendor's register number becomes a PDU address is `_finish` below.
Pure data and pure functions: runs on MicroPython (struct is in its standard library).
"""

import struct

from . import signals as S

TYPES = ("int16", "uint16", "int32", "uint32", "float32")
WORD_ORDERS = ("big", "little")
WIDTH = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2}

_TEMP_SIGNALS = [
    S.OUTDOOR_TEMP_C,
    S.PRIMARY_SUPPLY_TEMP_C,
    S.PRIMARY_RETURN_TEMP_C,
    S.SECONDARY_SUPPLY_TEMP_C,
    S.SECONDARY_RETURN_TEMP_C,
]
_PRESSURE_SIGNALS = [
    S.PRIMARY_SUPPLY_PRESSURE_KPA,
    S.PRIMARY_RETURN_PRESSURE_KPA,
    S.SECONDARY_SUPPLY_PRESSURE_KPA,
    S.SECONDARY_RETURN_PRESSURE_KPA,
]
_PUMP_RUN = [S.PUMP1_RUN, S.PUMP2_RUN, S.MAKEUP_PUMP_RUN]
_PUMP_SPEED_CMD = [S.PUMP1_SPEED_CMD_PCT, S.PUMP2_SPEED_CMD_PCT, S.MAKEUP_PUMP_SPEED_CMD_PCT]
_PUMP_RUNNING = [S.PUMP1_RUNNING, S.PUMP2_RUNNING, S.MAKEUP_PUMP_RUNNING]
_PUMP_FAULT = [S.PUMP1_FAULT, S.PUMP2_FAULT, S.MAKEUP_PUMP_FAULT]
_PUMP_SPEED = [S.PUMP1_SPEED_PCT, S.PUMP2_SPEED_PCT]


def _p(register, type_="uint16", scale=1.0, unit="", access="r", lo=0.0, hi=65535.0, **extra):
    point = {
        "register": register,
        "type": type_,
        "word_order": "big",
        "scale": scale,
        "offset": 0.0,
        "unit": unit,
        "access": access,
        "sentinels": [],
        "min": lo,
        "max": hi,
        "priority": "high",
        "signals": [],
    }
    for key in extra:
        point[key] = extra[key]
    return point


def _blk(first, last=None, function_code=None):
    """A range of vendor register numbers [first, last] readable as one request."""
    last = first if last is None else last
    return {"register": first, "count": last - first + 1, "function_code": function_code}


def _serial(parity=None, stopbits=None, baudrate=None, source="not documented: check the device's settings"):
    return {"parity": parity, "stopbits": stopbits, "baudrate": baudrate, "source": source}


def _sig(register, count=1, function_code=None, lo=None, hi=None):
    """A signature read: `count` registers from `register` must be answered; with lo/hi the
    first word (uint16) must also lie in [lo, hi]."""
    return {"register": register, "count": count, "function_code": function_code, "min": lo, "max": hi}


def _rtd_module():
    points = {}
    for ch in range(1, 9):
        # PM6RTD-style: degC x10, sensor break reads 32768 (upscale) or -32767 (downscale).
        points["temp_%d" % ch] = _p(ch, "int16", 0.1, "degC", lo=-50.0, hi=200.0,
                                    sentinels=[32768, -32767], signals=list(_TEMP_SIGNALS))
    for ch in range(1, 5):
        # 4-20 mA loop current in uA; the module's channel is ranged 0..1600 kPa:
        # kPa = (uA - 4000) * 1600 / 16000. Below 3.8 mA (open loop) is out of range -> not ok.
        points["pressure_%d" % ch] = _p(8 + ch, "uint16", 0.1, "kPa", lo=-20.0, hi=1620.0,
                                        offset=-400.0, sentinels=[0xFFFF], signals=list(_PRESSURE_SIGNALS))
    return {
        "vendor": "generic",
        "model": "8x RTD + 4x 4-20 mA input module",
        "doc": "Pattern of modmux PM6RTD / Seneca / Delta analogue modules (stack.md 4.7): input registers "
               "1-8 RTD degC x10, 9-12 loop current in uA. Real modules differ: check the module manual.",
        "function_code": 4,
        "address_base": 1,
        "max_gap": 8,
        "blocks": [_blk(1, 12, 4)],
        "serial": _serial(),
        "signature": [],  # a generic module: nothing distinguishes it from other I/O modules
        "points": points,
    }


DRIVE_STATES = ("unknown", "not_ready", "inhibited", "ready", "stopped", "running", "tripped", "trip_locked")
DRIVE_FLAGS = ("ready", "running", "tripped", "trip_locked", "inhibited", "local", "warning", "error", "off2", "off3")
"""A drive profile's "drive" table (read by firmware/modbus/drives.py and the simulator):

    "control": point                  the control word (written whole, any word below)
    "status": point                   the whole status word, read every cycle
    "fault_code": point | None        the drive's active/last fault code, read every cycle
    "states": [[state, mask, value]]  the drive's state: first row with status & mask == value
                                      (state names from DRIVE_STATES)
    "words": {state: [stop, run]}     the control word to send from each state when the station
                                      wants the pump stopped / running (the bus layer follows
                                      the REPORTED state, never its memory of what it wrote)
    "run_state": state                the state the run word leads to (resend while not there)
    "reset_word": word                sent while a reset is wanted: the stop word plus the
                                      vendor's reset bit, whose rising edge resets a trip
    "flags": {flag: [bit, value]}     status bits (flag set when bit == value), DRIVE_FLAGS
    "no_reset_states": [state]        trips never reset over the bus (vendor: needs a person)
    "no_reset_codes": [code]          fault codes never reset over the bus (needs fault_code)
"""


def _danfoss_fc():
    return {
        "vendor": "Danfoss",
        "model": "VLT FC series (FC 102/202/302), FC profile",
        "doc": "Register numbers 50000 CTW, 50010 REF, 50200 STW, 50210 MAV (address = number - 1) "
               "(FC 202 Design Guide MG20Z102 Table 7.15); REF/MAV 16384 = 100 %; CTW 0x047C run / 0x043C stop. "
               "CTW bits (FC 102 Design Guide MG11BC22 Table 8.33): b02 ramp, b03 no coast, b04 no quick stop, "
               "b05 use ramp, b06 start, b07 reset, b10 data valid (a word without b10 is ignored, so after a "
               "power cycle the drive stands until a valid start word arrives). STW bits (VLT HVAC Drive "
               "Design Guide MG.11.B2.02 7.11.2): b01 drive ready, b03 trip, b04 error (no trip), b06 trip "
               "lock, b07 warning, b09 bus control (0 = local Hand/Off), b11 in operation. A trip lock is "
               "never reset over the bus (it needs a mains cycle and a person); an ordinary trip is, up to "
               "the station's limit. 16-10 power = register 16100 (int32, kW x0.01, NOT verified), "
               "16-90 alarm word = register 16900.",
        "function_code": 3,
        "address_base": 1,
        "max_gap": 10,
        # Each parameter reserves 10 registers, of which only the first is described (MG20Z102
        # Table 7.15; HVAC Basic DG MG.18.C2.02 p.73-74): 50001-50009 and 50201-50209 are not
        # documented, and exception 2 answers "combination of reference number and transfer
        # length is invalid" (FC 202 DG 3.8.10.11). So each word is its own block.
        "blocks": [_blk(50000), _blk(50010), _blk(50200), _blk(50210), _blk(16100, 16101), _blk(16900, 16901)],
        # 8-33 Parity/Stop bits factory setting: even parity, 1 stop bit (FC 202 Programming Guide, as
        # transcribed by proxus.io; FC 51 DG Table 8.11). Baud rate (8-32) not verified.
        "serial": _serial("E", 1, None, "8-33 factory setting even parity, 1 stop bit (FC 202 Programming Guide, "
                                       "3rd-party transcription; FC 51 DG Table 8.11)"),
        # STW and MAV at 50200/50210 (MG20Z102 Table 7.15): a generic I/O module has no such registers.
        "signature": [_sig(50200), _sig(50210)],
        "points": {
            "control_word": _p(50000, access="rw", lo=0.0, hi=1.0, unit="bool", on_value=0x047C,
                               off_value=0x043C, signals=list(_PUMP_RUN)),
            "reference": _p(50010, "int16", 100.0 / 16384.0, "pct", "rw", 0.0, 100.0,
                            signals=list(_PUMP_SPEED_CMD)),
            "status_word": _p(50200),
            "status_running": _p(50200, lo=0.0, hi=1.0, unit="bool", bit=11, signals=list(_PUMP_RUNNING)),
            "status_trip": _p(50200, lo=0.0, hi=1.0, unit="bool", bit=3, signals=list(_PUMP_FAULT)),
            "status_error": _p(50200, lo=0.0, hi=1.0, unit="bool", bit=4),
            "status_trip_lock": _p(50200, lo=0.0, hi=1.0, unit="bool", bit=6, signals=list(_PUMP_FAULT)),
            "status_warning": _p(50200, lo=0.0, hi=1.0, unit="bool", bit=7),
            "status_bus_control": _p(50200, lo=0.0, hi=1.0, unit="bool", bit=9),
            "actual_speed": _p(50210, "int16", 100.0 / 16384.0, "pct", lo=-1.0, hi=110.0, signals=list(_PUMP_SPEED)),
            "power": _p(16100, "int32", 0.01, "kW", lo=0.0, hi=1000.0, priority="low"),
            "alarm_word": _p(16900, "uint32", 1.0, "", lo=0.0, hi=4294967295.0, priority="low"),
        },
        "drive": {
            "control": "control_word",
            "status": "status_word",
            "fault_code": None,
            "states": [["trip_locked", 0x0040, 0x0040], ["tripped", 0x0008, 0x0008],
                       ["running", 0x0800, 0x0800], ["stopped", 0x0000, 0x0000]],
            "words": {"trip_locked": [0x043C, 0x043C], "tripped": [0x043C, 0x043C],
                      "running": [0x043C, 0x047C], "stopped": [0x043C, 0x047C]},
            "run_state": "running",
            "reset_word": 0x04BC,  # 0x043C + b07
            "flags": {"ready": [1, 1], "running": [11, 1], "tripped": [3, 1], "trip_locked": [6, 1],
                      "local": [9, 0], "warning": [7, 1], "error": [4, 1]},
            "no_reset_states": ["trip_locked"],
            "no_reset_codes": [],
        },
    }


def _abb_acs580():
    return {
        "vendor": "ABB",
        "model": "ACS580 embedded fieldbus, ABB Drives profile",
        "doc": "400001 CW, 400002 REF1 (+-20000 = +-par 46.01), 400004 SW, 400005 ACT1 (ACH580 EFB manual "
               "p.143/145); 04.01 tripping fault = 400401 (400000 + 100 x group + index, ACS850 firmware "
               "manual p.329). SW (FDNA-01 manual p.91): b0 RDY_ON, b1 RDY_RUN, b2 RDY_REF (running), b3 "
               "TRIPPED, b4 OFF_2_STA, b5 OFF_3_STA (1 = inactive), b6 SWC_ON_INHIB, b7 ALARM, b9 REMOTE. "
               "State machine (ACS355 EFB state diagram p.319, ACS380 CW table p.437): after power-up, and "
               "after OFF2/OFF3 or a fault reset, the drive is SWITCH-ON INHIBITED and needs 0x0476 (ready, "
               "b0 = 0) before 0x047F (run); CW b7 0 -> 1 resets a fault; without CW b10 only the OFF bits "
               "get through. Fault codes are DRIVECOM hex codes (ACS550-02 user manual p.259: 2330 earth "
               "fault, 2340 short circuit, 2211 current measurement, 4310 motor over temperature, 5400 drive "
               "ID); these are never reset over the bus. NOT verified: the ACS580's own fault listing.",
        "function_code": 3,
        "address_base": 1,
        "max_gap": 4,
        # Classic profile table 400001-400006 (ACH580 EFB manual p.143/145; ACS850 FW manual p.329);
        # parameters at 400000 + 100 x group + index: 04.01 -> 400401 (ACS850 FW manual p.329).
        "blocks": [_blk(1, 6), _blk(401)],
        "serial": _serial(source="58.04/58.05 factory settings not in the cited documents: check the drive"),
        # The parameter register 04.01 (400401) answers only on a drive with ABB's parameter map; the
        # classic table alone (400001-400006) is readable on many generic modules.
        "signature": [_sig(1, 6), _sig(401)],
        "points": {
            "control_word": _p(1, access="rw", lo=0.0, hi=1.0, unit="bool", on_value=0x047F,
                               off_value=0x0476, signals=list(_PUMP_RUN)),
            "reference_1": _p(2, "int16", 0.005, "pct", "rw", 0.0, 100.0, signals=list(_PUMP_SPEED_CMD)),
            "status_word": _p(4),
            "status_running": _p(4, lo=0.0, hi=1.0, unit="bool", bit=2, signals=list(_PUMP_RUNNING)),
            "status_tripped": _p(4, lo=0.0, hi=1.0, unit="bool", bit=3, signals=list(_PUMP_FAULT)),
            "status_inhibited": _p(4, lo=0.0, hi=1.0, unit="bool", bit=6),
            "status_alarm": _p(4, lo=0.0, hi=1.0, unit="bool", bit=7),
            "status_remote": _p(4, lo=0.0, hi=1.0, unit="bool", bit=9),
            "actual_1": _p(5, "int16", 0.005, "pct", lo=-1.0, hi=110.0, signals=list(_PUMP_SPEED)),
            "fault_code": _p(401, lo=0.0, hi=65535.0),
        },
        "drive": {
            "control": "control_word",
            "status": "status_word",
            "fault_code": "fault_code",
            "states": [["tripped", 0x0008, 0x0008], ["inhibited", 0x0040, 0x0040], ["running", 0x0004, 0x0004],
                       ["ready", 0x0001, 0x0001], ["not_ready", 0x0000, 0x0000]],
            "words": {"tripped": [0x0476, 0x0476], "inhibited": [0x0476, 0x0476], "running": [0x0476, 0x047F],
                      "ready": [0x0476, 0x047F], "not_ready": [0x0476, 0x0476]},
            "run_state": "running",
            "reset_word": 0x04F6,  # 0x0476 + b7
            "flags": {"ready": [0, 1], "running": [2, 1], "tripped": [3, 1], "off2": [4, 0], "off3": [5, 0],
                      "inhibited": [6, 1], "warning": [7, 1], "local": [9, 0]},
            "no_reset_states": [],
            "no_reset_codes": [0x2330, 0x2340, 0x2211, 0x4310, 0x5400],
        },
    }


def _grundfos_cim200():
    na = [0xFFFF]
    return {
        "vendor": "Grundfos",
        "model": "E-pump with CIM/CIU 200 Modbus RTU",
        "doc": "Registers 00101 control (b0 remote access, b1 on/off), 00104 setpoint 0..10000 = 0..100 %, "
               "00201 status, 00205 alarm code, 003xx data; 0xFFFF = not available; numbers are 1-based. "
               "Status bit positions (b2 rotation) follow the pump profile's layout: confirm per model.",
        "function_code": 3,
        "address_base": 1,
        "max_gap": 8,
        # Pump control block 00101-00104, status block 00201-00206, data block 00301-00303 (Modbus for
        # Grundfos pumps, CIM/CIU 200/260/500 functional profile p.15-21; stack.md 4.4).
        "blocks": [_blk(101, 104), _blk(201, 206), _blk(301, 303)],
        "serial": _serial(),
        # 00203 ControlMode is 0..8, 128 or 129 (functional profile p.21).
        "signature": [_sig(101, 4), _sig(203, 1, None, 0, 129)],
        "points": {
            "control": _p(101, access="rw", lo=0.0, hi=1.0, unit="bool", on_value=0x0003, off_value=0x0001,
                          signals=list(_PUMP_RUN)),
            "setpoint": _p(104, "uint16", 0.01, "pct", "rw", 0.0, 100.0, signals=list(_PUMP_SPEED_CMD)),
            "status_rotation": _p(201, lo=0.0, hi=1.0, unit="bool", bit=2, sentinels=na, signals=list(_PUMP_RUNNING)),
            "alarm_code": _p(205, lo=0.0, hi=1.0, unit="bool", nonzero=True, sentinels=na, signals=list(_PUMP_FAULT)),
            "head": _p(301, "uint16", 0.01, "m", lo=0.0, hi=200.0, sentinels=na, priority="low"),
            "flow": _p(302, "uint16", 0.1, "m3h", lo=0.0, hi=1000.0, sentinels=na, priority="low"),
            "relative_speed": _p(303, "uint16", 0.01, "pct", lo=0.0, hi=110.0, sentinels=na, signals=list(_PUMP_SPEED)),
        },
    }


_BELIMO_DOC = ("Belimo 'VAV-Compact Modbus Register' en-gb 2019-03 p.4-5 (manualshelf.com systemair/116727, "
               "116728)")
_BELIMO_105 = {
    1: "mechanical travel increased",
    2: "actuator cannot move",
    8: "internal activity",
    9: "gear disengaged",
    10: "bus watchdog triggered",
}


def _belimo_valve():
    def bit(b, alarm=None, report=False):
        extra = {"alarm": alarm} if alarm else {"report": True} if report else {}
        return _p(105, lo=0.0, hi=1.0, unit="bool", bit=b, **extra)

    return {
        "vendor": "Belimo",
        "model": "Modbus RTU valve actuator (...-MOD)",
        "doc": "%s: No. 1 (addr 0) setpoint 0..10000 = 0..100 %% of the range between Min (No. 106) and Max "
               "(No. 107); No. 2 override (0 none, 1 open, 2 close, 3 min, 4 mid, 5 max); No. 5 relative "
               "position 0..10000; No. 105 malfunction and service bits (b1 mechanical travel increased, "
               "b2 actuator cannot move, b8 internal activity, b9 gear disengaged, b10 bus watchdog "
               "triggered); No. 106 Min, No. 107 Max (> 20 %%); address = No. - 1. NOT verified: whether "
               "the relative position is of the full stroke (assumed here) or of Min..Max; factory serial "
               "settings; a valve-actuator (LR/NR..-MOD) specific document." % _BELIMO_DOC,
        "function_code": 3,
        "address_base": 1,
        "max_gap": 4,
        # No. 1-6 and No. 105-107 are the documented runs of the table (p.4, p.5).
        "blocks": [_blk(1, 6), _blk(105, 107)],
        "serial": _serial(),
        # No. 105-107 answer, and Max (No. 107) is above 20 % by definition (p.5).
        "signature": [_sig(1, 6), _sig(105, 3), _sig(107, 1, None, 2000, 10000)],
        "points": {
            "setpoint": _p(1, "uint16", 0.01, "pct", "rw", 0.0, 100.0, signals=[S.VALVE_CMD_PCT],
                           scaled_by=["min_limit", "max_limit"]),
            "override": _p(2, "uint16", 1.0, "", "rw", 0.0, 5.0, priority="low"),
            "relative_position": _p(5, "uint16", 0.01, "pct", lo=0.0, hi=100.0, signals=[S.VALVE_POSITION_PCT]),
            # read every cycle: a blocked actuator must be an alarm within seconds, not a position
            # mismatch minutes later
            "malfunction": _p(105, lo=0.0, hi=65535.0, bit_names=dict(_BELIMO_105), report=True),
            "travel_increased": bit(1, {"code": "actuator_travel_increased", "severity": "minor",
                                        "text": "valve actuator: mechanical travel increased (Belimo No. 105 b1)"}),
            "cannot_move": bit(2, {"code": "actuator_blocked", "severity": "major",
                                   "text": "valve actuator cannot move: blocked (Belimo No. 105 b2)"}),
            "internal_activity": bit(8, report=True),
            "gear_disengaged": bit(9, {"code": "actuator_gear_disengaged", "severity": "major",
                                       "text": "valve actuator gear disengaged: the valve is not driven "
                                               "(Belimo No. 105 b9)"}),
            "bus_watchdog": bit(10, {"code": "actuator_bus_watchdog", "severity": "minor",
                                     "text": "valve actuator bus watchdog triggered: it went to its bus-fail "
                                             "position (Belimo No. 105 b10)"}),
            "min_limit": _p(106, "uint16", 0.01, "pct", lo=0.0, hi=100.0, report=True),
            "max_limit": _p(107, "uint16", 0.01, "pct", lo=20.0, hi=100.0, report=True),
        },
    }


def _belimo_uk24mod():
    return {
        "vendor": "Belimo",
        "model": "UK24MOD gateway MP-Bus to Modbus RTU (one MP actuator per Modbus address)",
        "doc": "Belimo UK24MOD product information v1.7 02.2014 p.13 (manualshive.com/ru/manual/belimo/uk24mod/"
               "2726133?page=13) and p.15: register 1 setpoint 0..10000 = 0..100 %, 2 override (0 none, 1 open, "
               "2 close, 3 min, 4 mid, 5 max, 6 fast close), 3 command (4 reset actuator malfunctions), 4 actual "
               "position 0..10000, 5 relative volumetric flow (65535 for non-VAV), 12 actuator type (0 = not "
               "connected: the gateway drops an actuator after 10 s without MP-Bus contact), 14 Min, 15 Max "
               "(20..100 %). NOT verified: register 1 = PDU address 0 (as the MOD actuators), and that the "
               "setpoint is scaled into Min..Max as on the MOD actuators (assumed here; with Min 0 / Max 100 "
               "both readings agree).",
        "function_code": 3,
        "address_base": 1,
        "max_gap": 4,
        "blocks": [_blk(1, 5), _blk(12, 17)],
        "serial": _serial(),
        # register 12 actuator type is 0..6 and register 15 Max is 2000..10000 (p.15)
        "signature": [_sig(1, 5), _sig(12, 1, None, 0, 6), _sig(15, 1, None, 2000, 10000)],
        "points": {
            "setpoint": _p(1, "uint16", 0.01, "pct", "rw", 0.0, 100.0, signals=[S.VALVE_CMD_PCT],
                           scaled_by=["min_limit", "max_limit"]),
            "override": _p(2, "uint16", 1.0, "", "rw", 0.0, 6.0, priority="low"),
            "actual_position": _p(4, "uint16", 0.01, "pct", lo=0.0, hi=100.0, signals=[S.VALVE_POSITION_PCT]),
            "relative_flow": _p(5, "uint16", 0.01, "pct", lo=0.0, hi=100.0, sentinels=[0xFFFF], priority="low"),
            "actuator_type": _p(12, lo=0.0, hi=6.0, alarm={
                "code": "actuator_lost", "severity": "major", "active": "zero",
                "text": "valve actuator not connected to the UK24MOD gateway (register 12 actuator type 0)"}),
            "min_limit": _p(14, "uint16", 0.01, "pct", lo=0.0, hi=100.0, report=True),
            "max_limit": _p(15, "uint16", 0.01, "pct", lo=20.0, hi=100.0, report=True),
        },
    }


_EV_DOC = ("Belimo 'Modbus-Register Energy-Valve' V4 (https://www.belimo.com/mam/general-documents/"
           "system_integration/Modbus/belimo_Modbus-Register_Energy-Valve_v4_01_en-gb.pdf)")


def _belimo_energy_valve():
    return {
        "vendor": "Belimo",
        "model": "Energy Valve V4 (EV..R2+BAC / EV..R3+BAC) on Modbus RTU, as a building branch valve",
        "doc": "%s, as cited by public integration code (the document itself was not retrieved: no page "
               "numbers): No. 1 (addr 0) setpoint 0..10000 = 0..100 %%, No. 5 (addr 4) relative position "
               "0..10000, No. 8 (addr 7) absolute volumetric flow '0..45 l/s (0..45000)', No. 20 (addr 19) "
               "temperature 1 (external, the remote sensor: supply), No. 22 (addr 21) temperature 2 "
               "(integrated in the valve: return, the valve sits in the return) x0.01 degC, No. 34-35 "
               "(addr 33) absolute heating power (uint32, low word first), No. 104 firmware version (4.xx "
               "for V4: Belimo 'Energy Valve Replacement Guide' 2023-01/A p.4). NOT verified against the "
               "register document: every scale and type (flow: the integration code's own comment and its "
               "factor disagree by x10; heating power: kW in the name, W in the code, taken here as W), "
               "whether the setpoint is a position in the valve's position-control mode (assumed: set the "
               "valve to position control on site), temperatures as signed, factory serial settings; "
               "confirm with `heatkeeper probe` before use." % _EV_DOC,
        "function_code": 3,
        "address_base": 1,
        "max_gap": 2,
        "blocks": [_blk(1, 8), _blk(20, 22), _blk(34, 35)],
        "serial": _serial(),
        # the three documented runs answer, and the relative position is 0..10000
        "signature": [_sig(1, 8), _sig(5, 1, None, 0, 10000), _sig(20, 3), _sig(34, 2)],
        "points": {
            "setpoint": _p(1, "uint16", 0.01, "pct", "rw", 0.0, 100.0, signals=[S.BRANCH_VALVE_CMD_PCT]),
            "relative_position": _p(5, "uint16", 0.01, "pct", lo=0.0, hi=100.0, signals=[S.BRANCH_VALVE_POSITION_PCT]),
            "flow": _p(8, "uint16", 0.0036, "m3h", lo=0.0, hi=162.0, signals=[S.BRANCH_FLOW_M3H]),  # 0.001 l/s
            "t1_supply": _p(20, "int16", 0.01, "degC", lo=-20.0, hi=150.0, signals=[S.BRANCH_SUPPLY_TEMP_C]),
            "t2_return": _p(22, "int16", 0.01, "degC", lo=-20.0, hi=150.0, signals=[S.BRANCH_RETURN_TEMP_C]),
            "heating_power": _p(34, "uint32", 0.001, "kW", lo=0.0, hi=100000.0, word_order="little",
                                priority="low", signals=[S.BRANCH_POWER_KW]),
        },
    }


def _kamstrup_603():
    def f(register, unit, scale, lo, hi, signals, priority="high"):
        return _p(register, "float32", scale, unit, lo=lo, hi=hi, signals=signals, priority=priority)

    return {
        "vendor": "Kamstrup",
        "model": "MULTICAL 603 with HC-003-67 Modbus RTU module",
        "doc": "Data sheet 58101758_B1_GB_02.2021: register 1 flow V1, 3 flow V2, 5 power, 7 t1, 9 t2, 11 t3, 13 t4 as "
               "IEEE float32 over two registers (register 1 = address 0). Flow is read in l/h (scaled to m3/h "
               "here), energy E1 in kWh at register 15 and the info code at 17 in this map: NOT verified (the "
               "data sheet's table continues with other content): confirm register, word order and units on "
               "site with `heatkeeper probe`, which shows both word orders. The info code is the 8-digit code "
               "of the display (MULTICAL 603 data sheet 58101516_F1_GB_07.2019 p.11 'Information code types "
               "in display': digits Info t1 t2 t3 V1 V2 In-A In-B); anything but 0 flashes INFO on the meter.",
        "function_code": 4,
        "address_base": 1,
        "max_gap": 2,
        # registers 1-14 are the documented default datagram (58101758); 15-16 and 17-18 are this map's own.
        "blocks": [_blk(1, 14), _blk(15, 16), _blk(17, 18)],
        "serial": _serial(source="HC-003-67 factory settings not in the cited documents: check the module"),
        # FC4 over the documented datagram, and t1 a finite float in 0..160 degC.
        "signature": [_sig(1, 14, 4), {"point": "t1"}],
        "points": {
            "flow_v1": f(1, "m3h", 0.001, 0.0, 500.0, [S.PRIMARY_FLOW_M3H]),
            "flow_v2": f(3, "m3h", 0.001, 0.0, 500.0, []),
            "power": f(5, "kW", 1.0, 0.0, 50000.0, [S.HEAT_POWER_KW]),
            "t1": f(7, "degC", 1.0, 0.0, 160.0, [S.PRIMARY_SUPPLY_TEMP_C]),
            "t2": f(9, "degC", 1.0, 0.0, 160.0, [S.PRIMARY_RETURN_TEMP_C]),
            "energy_e1": f(15, "kWh", 1.0, 0.0, 1.0e10, [S.HEAT_ENERGY_KWH], "low"),
            "info_code": _p(17, "uint32", 1.0, "", lo=0.0, hi=4294967295.0, priority="low", alarm={
                "code": "meter_info_code", "severity": "major",
                "text": "heat meter reports an info code (sensor, flow or supply error): see the meter's INFO"}),
        },
    }


def _eastron_sdm72d():
    def f(register, unit, lo, hi, signals, priority="high"):
        return _p(register, "float32", 1.0, unit, lo=lo, hi=hi, signals=signals, priority=priority)

    return {
        "vendor": "Eastron",
        "model": "SDM72D-M three-phase electricity meter (Modbus RTU)",
        "doc": "EASTRON SDM72D-M User Manual V1.5 (B+G e-tech) p.14 'PART 3 Modbus Protocol', Input Registers "
               "(https://www.easymanua.ls/eastron/sdm72d-m/manual?p=14): function code 04 for every parameter, "
               "each parameter two consecutive registers holding an IEEE 754 float (hi word first), at most 30 "
               "parameters per request (a Modbus exception beyond); 30053 (start address 0x0034) total system "
               "power W, 30073 (0x0048) total import kWh, 30075 (0x004A) total export kWh, 30343 (0x0156) total "
               "kWh = import + export. The station's consumption is the import totaliser. Serial factory "
               "settings (9600 baud, even parity, 1 stop bit, address 1) are from a third-party page "
               "(ob121.com 'Eastron Modbus maps'), NOT the manual: check the meter's set-up menu on site.",
        "function_code": 4,
        "address_base": 30001,
        "max_gap": 2,
        # each documented parameter is readable alone; 30053-30076 is 12 parameters, inside the 30 limit
        "blocks": [_blk(30053, 30054), _blk(30073, 30076), _blk(30343, 30344)],
        "serial": _serial("E", 1, 9600, source="ob121.com 'Eastron Modbus maps' (third party): not in the "
                          "cited manual; check the meter"),
        # FC4 import kWh answered, and a finite non-negative float
        "signature": [_sig(30073, 2, 4), {"point": "import_kwh"}],
        "points": {
            "power_w": f(30053, "W", -1.0e7, 1.0e7, [], "low"),
            "import_kwh": f(30073, "kWh", 0.0, 1.0e9, [S.ELECTRICITY_KWH]),
            "export_kwh": f(30075, "kWh", 0.0, 1.0e9, [], "low"),
            "total_kwh": f(30343, "kWh", 0.0, 2.0e9, [], "low"),
        },
    }


def _makeup_io():
    return {
        "vendor": "generic",
        "model": "make-up and tank I/O module",
        "doc": "Station I/O module for the pressure-holding set: holding registers 1 tank level x0.1 %, "
               "2 make-up pump running, 3 make-up pump fault, 4-5 make-up water meter (uint32 litres, "
               "low word first), 11 make-up pump run, 12 speed x0.1 %, 13 relief valve open.",
        "function_code": 3,
        "address_base": 1,
        "max_gap": 8,
        "blocks": [_blk(1, 5), _blk(11, 13)],
        "serial": _serial(),
        "signature": [],  # a generic module: nothing distinguishes it from other I/O modules
        "points": {
            "tank_level": _p(1, "uint16", 0.1, "pct", lo=0.0, hi=100.0, sentinels=[0xFFFF], signals=[S.TANK_LEVEL_PCT]),
            "pump_running": _p(2, lo=0.0, hi=1.0, unit="bool", signals=[S.MAKEUP_PUMP_RUNNING]),
            "pump_fault": _p(3, lo=0.0, hi=1.0, unit="bool", signals=[S.MAKEUP_PUMP_FAULT]),
            "water_volume": _p(4, "uint32", 0.001, "m3", lo=0.0, hi=4294967.0, word_order="little",
                               priority="low", signals=[S.MAKEUP_VOLUME_M3]),
            "pump_run": _p(11, access="rw", lo=0.0, hi=1.0, unit="bool", signals=[S.MAKEUP_PUMP_RUN]),
            "pump_speed_cmd": _p(12, "uint16", 0.1, "pct", "rw", 0.0, 100.0, signals=[S.MAKEUP_PUMP_SPEED_CMD_PCT]),
            "relief_valve": _p(13, access="rw", lo=0.0, hi=1.0, unit="bool", signals=[S.RELIEF_VALVE_OPEN]),
        },
    }


def _finish(profile):
    """Fill in each point's, block's and signature read's PDU address (the ONE vendor-number ->
    PDU conversion) and defaults."""
    base = profile["address_base"]
    for point in profile["points"].values():
        point["address"] = point["register"] - base
        if "function_code" not in point:
            point["function_code"] = 3 if point["access"] == "rw" else profile["function_code"]
    for item in profile.get("blocks", []) + profile.get("signature", []):
        if "register" in item:
            item["address"] = item["register"] - base
            if item["function_code"] is None:
                item["function_code"] = profile["function_code"]
    return profile


PROFILES = {
    "generic_rtd8_ai4": _finish(_rtd_module()),
    "danfoss_fc": _finish(_danfoss_fc()),
    "abb_acs580": _finish(_abb_acs580()),
    "grundfos_cim200": _finish(_grundfos_cim200()),
    "belimo_mod": _finish(_belimo_valve()),
    "belimo_uk24mod": _finish(_belimo_uk24mod()),
    "belimo_energy_valve": _finish(_belimo_energy_valve()),
    "kamstrup_multical_603": _finish(_kamstrup_603()),
    "eastron_sdm72d": _finish(_eastron_sdm72d()),
    "makeup_io": _finish(_makeup_io()),
}


def _profile(profile):
    if isinstance(profile, str):
        if profile not in PROFILES:
            raise ValueError("profile=%r: must be one of %s" % (profile, ", ".join(sorted(PROFILES))))
        return PROFILES[profile]
    return profile


def get_point(profile, point):
    """The point dict, or ValueError naming the points the profile has."""
    prof = _profile(profile)
    if point not in prof["points"]:
        raise ValueError("point=%r: must be one of %s" % (point, ", ".join(sorted(prof["points"]))))
    return prof["points"][point]


def width(profile, point):
    """Number of 16-bit registers the point occupies."""
    return WIDTH[get_point(profile, point)["type"]]


def _combine(words, word_order):
    if word_order == "big":
        return ((words[0] & 0xFFFF) << 16) | (words[1] & 0xFFFF)
    return ((words[1] & 0xFFFF) << 16) | (words[0] & 0xFFFF)


def _split(raw32, word_order):
    hi = (raw32 >> 16) & 0xFFFF
    lo = raw32 & 0xFFFF
    if word_order == "big":
        return [hi, lo]
    return [lo, hi]


def raw_value(type_, words, word_order="big"):
    """Interpret 16-bit words as `type_` (no scaling). float32 may return nan/inf."""
    if type_ == "uint16":
        return words[0] & 0xFFFF
    if type_ == "int16":
        w = words[0] & 0xFFFF
        return w - 0x10000 if w >= 0x8000 else w
    raw = _combine(words, word_order)
    if type_ == "uint32":
        return raw
    if type_ == "int32":
        return raw - 0x100000000 if raw >= 0x80000000 else raw
    if type_ == "float32":
        return struct.unpack(">f", struct.pack(">I", raw))[0]
    raise ValueError("type=%r: must be one of %s" % (type_, ", ".join(TYPES)))


def _bits(type_, words, word_order):
    if WIDTH[type_] == 1:
        return words[0] & 0xFFFF
    return _combine(words, word_order)


def decode_point(profile, point, registers):
    """(value, ok) from the point's registers (a list of 1 or 2 words, in address order).

    ok is False for a wrong register count, a sentinel, a non-finite float, or a value outside
    the point's plausible [min, max]. Never raises on device data; unknown names raise ValueError.
    """
    pt = get_point(profile, point)
    type_ = pt["type"]
    n = WIDTH[type_]
    if registers is None or len(registers) != n:
        return (0.0, False)
    words = [int(w) & 0xFFFF for w in registers]
    bits = _bits(type_, words, pt["word_order"])
    mask = 0xFFFF if n == 1 else 0xFFFFFFFF
    for s in pt["sentinels"]:
        if (s & mask) == bits:
            return (0.0, False)
    if "bit" in pt:
        return (1.0 if (words[0] >> pt["bit"]) & 1 else 0.0, True)
    if pt.get("nonzero"):
        return (1.0 if words[0] != 0 else 0.0, True)
    if "on_value" in pt:
        if words[0] == pt["on_value"]:
            return (1.0, True)
        if words[0] == pt["off_value"]:
            return (0.0, True)
        return (0.0, False)
    raw = raw_value(type_, words, pt["word_order"])
    value = raw * pt["scale"] + pt["offset"]
    if value != value or value in (float("inf"), float("-inf")):
        return (0.0, False)
    if value < pt["min"] or value > pt["max"]:
        return (value, False)
    return (value, True)


def encode_point(profile, point, value):
    """The registers (address order) that command `value` in engineering units.

    Raises ValueError (with the point, value, unit and allowed range) for a read-only point or
    a value outside [min, max]: a command the device must not receive.
    """
    pt = get_point(profile, point)
    if pt["access"] != "rw":
        raise ValueError("point=%r is read-only" % point)
    if value != value or value < pt["min"] or value > pt["max"]:
        raise ValueError("%s=%r %s: must be in [%s, %s]" % (point, value, pt["unit"], pt["min"], pt["max"]))
    if "on_value" in pt:
        return [pt["on_value"] if value >= 0.5 else pt["off_value"]]
    if "bit" in pt or pt.get("nonzero"):
        raise ValueError("point=%r is a status bit and cannot be written" % point)
    type_ = pt["type"]
    if type_ == "float32":
        raw32 = struct.unpack(">I", struct.pack(">f", (value - pt["offset"]) / pt["scale"]))[0]
        return _split(raw32, pt["word_order"])
    raw = int(round((value - pt["offset"]) / pt["scale"]))
    lo, hi = {"int16": (-32768, 32767), "uint16": (0, 65535), "int32": (-2147483648, 2147483647),
              "uint32": (0, 4294967295)}[type_]
    if raw < lo or raw > hi:
        raise ValueError("%s=%r %s: raw %d outside %s" % (point, value, pt["unit"], raw, type_))
    if WIDTH[type_] == 1:
        return [raw & 0xFFFF]
    return _split(raw & 0xFFFFFFFF, pt["word_order"])


def encode_raw(profile, point, value):
    """Registers a device (or simulator) holds for a measured `value` (inverse of decode_point).

    Unlike encode_point this accepts read-only points and does not check [min, max], so a
    simulator can serve out-of-range and status values; bit points set only their bit.
    """
    pt = get_point(profile, point)
    type_ = pt["type"]
    if "bit" in pt:
        return [(1 << pt["bit"]) if value >= 0.5 else 0]
    if pt.get("nonzero"):
        return [1 if value >= 0.5 else 0]
    if "on_value" in pt:
        return [pt["on_value"] if value >= 0.5 else pt["off_value"]]
    raw_f = (value - pt["offset"]) / pt["scale"]
    if type_ == "float32":
        return _split(struct.unpack(">I", struct.pack(">f", raw_f))[0], pt["word_order"])
    raw = int(round(raw_f))
    if WIDTH[type_] == 1:
        return [raw & 0xFFFF]
    return _split(raw & 0xFFFFFFFF, pt["word_order"])


def block_of(profile, fc, address, count=1):
    """Index of the profile's block holding registers [address, address + count) read with
    `fc`, or -1 when no single block does (the device may answer exception 2)."""
    prof = _profile(profile)
    blocks = prof.get("blocks", [])
    for i in range(len(blocks)):
        blk = blocks[i]
        if blk["function_code"] == fc and blk["address"] <= address and address + count <= blk["address"] + blk["count"]:
            return i
    return -1


def point_block(profile, point):
    """Index of the block holding the point (-1: none, a profile error check_profile reports)."""
    pt = get_point(profile, point)
    return block_of(profile, pt["function_code"], pt["address"], WIDTH[pt["type"]])


def diagnostic_points(profile):
    """Names of the points the device reports its own condition with (alarm or report)."""
    prof = _profile(profile)
    return [n for n in sorted(prof["points"]) if "alarm" in prof["points"][n] or prof["points"][n].get("report")]


def alarm_active(profile, point, value):
    """True when the decoded `value` of an alarm point means its alarm is on."""
    spec = get_point(profile, point).get("alarm")
    if not spec:
        return False
    if spec.get("active", "nonzero") == "zero":
        return value == 0
    return value != 0


def bits_set(profile, fc, address, word):
    """[(bit, name)] of every set bit of the 16-bit `word` at `address`: a bit point's name,
    else a bit_names text of a whole-word point there, else "bit N"."""
    prof = _profile(profile)
    names = {}
    for name in sorted(prof["points"]):
        pt = prof["points"][name]
        if pt["function_code"] != fc or pt["address"] != address or WIDTH[pt["type"]] != 1:
            continue
        if "bit" in pt:
            names[pt["bit"]] = name
        for b in pt.get("bit_names", {}):
            names.setdefault(int(b), pt["bit_names"][b])
    out = []
    for b in range(16):
        if (word >> b) & 1:
            out.append((b, names.get(b, "bit %d" % b)))
    return out


def setpoint_for_position(position_pct, min_pct, max_pct):
    """The setpoint (0..100 %) that puts a device which maps its setpoint onto [min, max] at
    `position_pct` (Belimo No. 1 "between Min (No. 106) and Max (No. 107)"), and whether the
    position is reachable: (setpoint_pct, True) or the nearest end and False."""
    span = max_pct - min_pct
    if not span > 0:
        return (0.0, False)
    sp = (position_pct - min_pct) * 100.0 / span
    if sp < 0.0:
        return (0.0, position_pct >= min_pct - 1e-9)
    if sp > 100.0:
        return (100.0, False)
    return (sp, True)


def position_for_setpoint(setpoint_pct, min_pct, max_pct):
    """Where such a device goes for `setpoint_pct` (inverse of setpoint_for_position)."""
    return min_pct + setpoint_pct * (max_pct - min_pct) / 100.0


def signals_served(profile):
    """{signal: [point, ...]}: which core.signals names the profile's points can serve."""
    prof = _profile(profile)
    served = {}  # type: dict
    for name in sorted(prof["points"]):
        for sig in prof["points"][name]["signals"]:
            served.setdefault(sig, []).append(name)
    return served


def check_profile(profile):
    """Every self-consistency problem of one profile as a list of strings (empty when sound)."""
    prof = _profile(profile)
    problems = []
    if prof.get("function_code") not in (3, 4):
        problems.append("function_code=%r: must be 3 or 4" % prof.get("function_code"))
    if prof.get("address_base") not in (0, 1, 30001, 40001):
        problems.append("address_base=%r: must be 0, 1, 30001 or 40001 (Modicon numbering)" % prof.get("address_base"))
    blocks = prof.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        problems.append("blocks=%r: every profile declares the ranges readable as one request" % (blocks,))
        blocks = []
    for i in range(len(blocks)):
        blk = blocks[i]
        if (blk.get("function_code") not in (3, 4) or not 1 <= blk.get("count", 0) <= 125
                or "address" not in blk):
            problems.append("blocks[%d]=%r: function_code 3 or 4, count 1..125" % (i, blk))
            continue
        for j in range(i):
            other = blocks[j]
            if "address" in other and (other["function_code"] == blk["function_code"] and blk["address"] < other["address"] + other["count"]
                    and other["address"] < blk["address"] + blk["count"]):
                problems.append("blocks[%d] and blocks[%d] overlap" % (j, i))
    serial = prof.get("serial")
    if not isinstance(serial, dict):
        problems.append("serial=%r: must be {parity, stopbits, baudrate, source}" % (serial,))
    else:
        if serial.get("parity") not in (None, "N", "E", "O"):
            problems.append("serial.parity=%r: must be N, E, O or None" % serial.get("parity"))
        if serial.get("stopbits") not in (None, 1, 2):
            problems.append("serial.stopbits=%r: must be 1, 2 or None" % serial.get("stopbits"))
    signature = prof.get("signature")
    if not isinstance(signature, list):
        problems.append("signature=%r: must be a list (empty for a generic device)" % (signature,))
        signature = []
    for i in range(len(signature)):
        item = signature[i]
        if "point" in item:
            if item["point"] not in prof["points"]:
                problems.append("signature[%d].point=%r: no such point" % (i, item["point"]))
        elif block_of(prof, item.get("function_code"), item.get("address", -1), item.get("count", 1)) < 0:
            problems.append("signature[%d]: register %r+%r is not inside one block" % (i, item.get("register"),
                                                                                     item.get("count")))
    used = {}  # type: dict
    for name in sorted(prof["points"]):
        pt = prof["points"][name]
        where = "points.%s" % name
        if blocks and pt["type"] in TYPES and block_of(prof, pt["function_code"], pt["address"],
                                                       WIDTH[pt["type"]]) < 0:
            problems.append("%s: register %d is not inside one of the profile's blocks" % (where, pt["register"]))
        for key in pt.get("scaled_by", []):
            if key not in prof["points"]:
                problems.append("%s.scaled_by: no point %r" % (where, key))
        alarm = pt.get("alarm")
        if alarm is not None and (not isinstance(alarm, dict) or not alarm.get("code") or not alarm.get("text")
                                  or alarm.get("active", "nonzero") not in ("nonzero", "zero")):
            problems.append("%s.alarm=%r: needs code, severity, text, active nonzero|zero" % (where, alarm))
        if pt["type"] not in TYPES:
            problems.append("%s.type=%r: must be one of %s" % (where, pt["type"], ", ".join(TYPES)))
            continue
        if pt["word_order"] not in WORD_ORDERS:
            problems.append("%s.word_order=%r: must be big or little" % (where, pt["word_order"]))
        if pt["access"] not in ("r", "rw"):
            problems.append("%s.access=%r: must be r or rw" % (where, pt["access"]))
        if pt["access"] == "rw" and pt["function_code"] != 3:
            problems.append("%s: writable points are holding registers (function_code 3)" % where)
        if pt["function_code"] not in (3, 4):
            problems.append("%s.function_code=%r: must be 3 or 4" % (where, pt["function_code"]))
        if pt["address"] < 0 or pt["address"] + WIDTH[pt["type"]] > 65536:
            problems.append("%s.address=%r: outside 0..65535" % (where, pt["address"]))
        if not pt["min"] < pt["max"]:
            problems.append("%s: min %r must be below max %r" % (where, pt["min"], pt["max"]))
        if pt["scale"] == 0:
            problems.append("%s.scale=0" % where)
        if pt["priority"] not in ("high", "low"):
            problems.append("%s.priority=%r: must be high or low" % (where, pt["priority"]))
        if pt.get("ready_first") and "on_value" not in pt:
            problems.append("%s: ready_first needs on_value/off_value" % where)
        if ("bit" in pt or pt.get("nonzero") or "on_value" in pt) and WIDTH[pt["type"]] != 1:
            problems.append("%s: boolean points must be 16-bit" % where)
        for sig in pt["signals"]:
            if sig in S.INPUTS or sig in S.BRANCH_INPUTS:
                continue
            if (sig in S.ACTUATORS or sig in S.BRANCH_ACTUATORS) and pt["access"] == "rw":
                continue
            problems.append("%s.signals: %r is not an input, or an actuator on a writable point" % (where, sig))
        for i in range(WIDTH[pt["type"]]):
            key = (pt["function_code"], pt["address"] + i)
            used.setdefault(key, []).append(name)
    if "drive" in prof:
        problems.extend(check_drive(prof))
    for key in sorted(used):
        names = used[key]
        if len(names) < 2:
            continue
        # Several points may share one word only as distinct bits / views of a read-only status word.
        pts = [prof["points"][n] for n in names]
        bit_list = [p["bit"] for p in pts if "bit" in p]
        whole = [p for p in pts if "bit" not in p]
        if (any(p["access"] != "r" or WIDTH[p["type"]] != 1 for p in pts) or len(whole) > 1
                or len(set(bit_list)) != len(bit_list)):
            problems.append("fc%d address %d: overlapping points %s" % (key[0], key[1], ", ".join(names)))
    return problems


def drive_state(drive, status_word):
    """The drive's state name from its status word (first matching row of drive["states"])."""
    for row in drive["states"]:
        if status_word & row[1] == row[2]:
            return row[0]
    return "unknown"


def drive_flags(drive, status_word):
    """{flag: bool} of every flag the drive's status word carries."""
    out = {}
    for flag in drive["flags"]:
        bit, value = drive["flags"][flag]
        out[flag] = ((status_word >> bit) & 1) == value
    return out


def check_drive(profile):
    """Problems of a profile's "drive" table (points exist, every state has its words)."""
    prof = _profile(profile)
    drive = prof["drive"]
    points = prof["points"]
    problems = []
    for key in ("control", "status", "fault_code"):
        name = drive.get(key)
        if name is None and key == "fault_code":
            continue
        if name not in points:
            problems.append("drive.%s=%r: no such point" % (key, name))
    if drive.get("control") in points and points[drive["control"]]["access"] != "rw":
        problems.append("drive.control=%r: must be writable" % drive["control"])
    states = [row[0] for row in drive["states"]]
    for name in states + [drive["run_state"]] + list(drive["no_reset_states"]):
        if name not in DRIVE_STATES:
            problems.append("drive state %r: must be one of %s" % (name, ", ".join(DRIVE_STATES)))
    if not drive["states"] or drive["states"][-1][1] != 0:
        problems.append("drive.states: the last row must match every word (mask 0)")
    for name in states:
        words = drive["words"].get(name)
        if not (isinstance(words, list) and len(words) == 2):
            problems.append("drive.words.%s: must be [stop word, run word]" % name)
    for flag in drive["flags"]:
        bit, value = drive["flags"][flag]
        if flag not in DRIVE_FLAGS or not 0 <= bit <= 15 or value not in (0, 1):
            problems.append("drive.flags.%s=%r: unknown flag, or bit outside 0..15" % (flag, [bit, value]))
    if drive["no_reset_codes"] and drive.get("fault_code") is None:
        problems.append("drive.no_reset_codes needs drive.fault_code")
    return problems
