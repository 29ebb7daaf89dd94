"""Tests of core.device_profiles (run on CPython interpreted, compiled, and MicroPython)."""

import unittest

from heatkeeper.core import signals as S
from heatkeeper.core.device_profiles import (
    PROFILES,
    alarm_active,
    bits_set,
    block_of,
    check_profile,
    decode_point,
    diagnostic_points,
    encode_point,
    encode_raw,
    point_block,
    position_for_setpoint,
    raw_value,
    setpoint_for_position,
    signals_served,
    width,
)


class TestProfilesAreSound(unittest.TestCase):
    def test_every_profile_is_self_consistent(self):
        for name in PROFILES:
            self.assertEqual(check_profile(name), [], name)

    def test_sentinels_decode_not_ok(self):
        for name in PROFILES:
            for point, pt in PROFILES[name]["points"].items():
                for s in pt["sentinels"]:
                    regs = [s & 0xFFFF] if width(name, point) == 1 else [(s >> 16) & 0xFFFF, s & 0xFFFF]
                    self.assertEqual(decode_point(name, point, regs)[1], False, "%s.%s %r" % (name, point, s))

    def test_every_input_and_actuator_has_a_home(self):
        served = {}
        for name in PROFILES:
            for sig in signals_served(name):
                served[sig] = True
        for sig in S.INPUTS + S.ACTUATORS:
            if sig in (S.VALVE_OPEN_PULSE_S, S.VALVE_CLOSE_PULSE_S):
                continue  # 3-point pulses are relay outputs, not Modbus registers
            self.assertIn(sig, served)

    def test_vendor_numbers_become_pdu_addresses_once(self):
        self.assertEqual(PROFILES["danfoss_fc"]["points"]["control_word"]["address"], 49999)
        self.assertEqual(PROFILES["belimo_mod"]["points"]["relative_position"]["address"], 4)
        self.assertEqual(PROFILES["grundfos_cim200"]["points"]["setpoint"]["address"], 103)
        self.assertEqual(PROFILES["abb_acs580"]["points"]["control_word"]["address"], 0)
        self.assertEqual(PROFILES["kamstrup_multical_603"]["points"]["t1"]["address"], 6)

    def test_a_broken_profile_is_reported(self):
        bad = {"function_code": 5, "address_base": 1, "points": {
            "a": {"register": 1, "address": 0, "type": "int64", "word_order": "big", "scale": 1.0, "offset": 0.0,
                  "unit": "", "access": "r", "sentinels": [], "min": 0.0, "max": 1.0, "priority": "high",
                  "signals": [], "function_code": 3},
            "b": {"register": 1, "address": 0, "type": "uint16", "word_order": "big", "scale": 1.0, "offset": 0.0,
                  "unit": "", "access": "rw", "sentinels": [], "min": 0.0, "max": 1.0, "priority": "high",
                  "signals": [S.OUTDOOR_TEMP_C, "no_such_signal"], "function_code": 3},
            "c": {"register": 1, "address": 0, "type": "uint16", "word_order": "big", "scale": 1.0, "offset": 0.0,
                  "unit": "", "access": "r", "sentinels": [], "min": 2.0, "max": 1.0, "priority": "high",
                  "signals": [], "function_code": 3}}}
        problems = check_profile(bad)
        text = "\n".join(problems)
        self.assertIn("function_code=5", text)
        self.assertIn("points.a.type='int64'", text)
        self.assertIn("no_such_signal", text)
        self.assertIn("overlapping points b, c", text)
        self.assertIn("min 2.0 must be below max 1.0", text)


class TestDecode(unittest.TestCase):
    def test_rtd_scale_and_burnout(self):
        self.assertEqual(decode_point("generic_rtd8_ai4", "temp_1", [215]), (21.5, True))
        v, ok = decode_point("generic_rtd8_ai4", "temp_1", [0xFF38])  # -200 -> -20.0
        self.assertAlmostEqual(v, -20.0, delta=1e-9)
        self.assertTrue(ok)
        self.assertEqual(decode_point("generic_rtd8_ai4", "temp_1", [32768])[1], False)
        self.assertEqual(decode_point("generic_rtd8_ai4", "temp_1", [0x8001])[1], False)  # -32767
        self.assertEqual(decode_point("generic_rtd8_ai4", "temp_1", [2500])[1], False)  # 250 degC implausible
        self.assertEqual(decode_point("generic_rtd8_ai4", "temp_1", []), (0.0, False))
        self.assertEqual(decode_point("generic_rtd8_ai4", "temp_1", None), (0.0, False))

    def test_loop_current_to_kpa_and_open_loop(self):
        v, ok = decode_point("generic_rtd8_ai4", "pressure_1", [12000])  # 12 mA = mid range
        self.assertAlmostEqual(v, 800.0, delta=1e-6)
        self.assertTrue(ok)
        self.assertEqual(decode_point("generic_rtd8_ai4", "pressure_1", [1000])[1], False)  # 1 mA: open loop

    def test_drive_words(self):
        self.assertEqual(encode_point("danfoss_fc", "control_word", 1.0), [0x047C])
        self.assertEqual(encode_point("danfoss_fc", "control_word", 0.0), [0x043C])
        self.assertEqual(encode_point("danfoss_fc", "reference", 100.0), [16384])
        self.assertEqual(encode_point("abb_acs580", "control_word", 1.0), [0x047F])
        self.assertEqual(encode_point("abb_acs580", "control_word", 0.0), [0x0476])
        self.assertEqual(encode_point("abb_acs580", "reference_1", 50.0), [10000])
        self.assertEqual(decode_point("danfoss_fc", "control_word", [0x047C]), (1.0, True))
        self.assertEqual(decode_point("danfoss_fc", "control_word", [0x1234]), (0.0, False))
        self.assertEqual(decode_point("danfoss_fc", "status_running", [1 << 11]), (1.0, True))
        self.assertEqual(decode_point("danfoss_fc", "status_trip", [1 << 11]), (0.0, True))
        v, ok = decode_point("danfoss_fc", "actual_speed", [8192])
        self.assertAlmostEqual(v, 50.0, delta=1e-9)
        self.assertEqual(decode_point("grundfos_cim200", "alarm_code", [17]), (1.0, True))
        self.assertEqual(decode_point("grundfos_cim200", "alarm_code", [0xFFFF])[1], False)
        self.assertEqual(decode_point("grundfos_cim200", "status_rotation", [0xFFFF])[1], False)

    def test_float32_both_word_orders(self):
        regs = encode_raw("kamstrup_multical_603", "t1", 85.25)
        self.assertEqual(regs, [0x42AA, 0x8000])
        self.assertEqual(decode_point("kamstrup_multical_603", "t1", regs), (85.25, True))
        self.assertEqual(raw_value("float32", [0x8000, 0x42AA], "little"), 85.25)
        nan = [0x7FC0, 0x0000]
        self.assertEqual(decode_point("kamstrup_multical_603", "t1", nan)[1], False)

    def test_uint32_little_word_order(self):
        regs = encode_raw("makeup_io", "water_volume", 70.0)  # 70000 litres = 0x00011170
        self.assertEqual(regs, [0x1170, 0x0001])
        v, ok = decode_point("makeup_io", "water_volume", regs)
        self.assertAlmostEqual(v, 70.0, delta=1e-9)
        self.assertTrue(ok)
        self.assertEqual(raw_value("int32", [0xFFFF, 0xFFFE], "big"), -2)

    def test_encode_rejects_out_of_range_and_read_only(self):
        self.assertRaises(ValueError, encode_point, "belimo_mod", "setpoint", 101.0)
        self.assertRaises(ValueError, encode_point, "belimo_mod", "relative_position", 50.0)
        self.assertRaises(ValueError, encode_point, "belimo_mod", "nope", 50.0)
        self.assertRaises(ValueError, encode_point, "no_profile", "setpoint", 50.0)
        self.assertEqual(encode_point("belimo_mod", "setpoint", 42.5), [4250])

    def test_round_trip_every_point(self):
        for name in PROFILES:
            for point, pt in PROFILES[name]["points"].items():
                value = pt["max"] if pt["unit"] == "bool" else (pt["min"] + pt["max"]) / 2.0
                if pt["type"] == "float32":
                    value = 12.5
                regs = encode_raw(name, point, value)
                got, ok = decode_point(name, point, regs)
                self.assertTrue(ok, "%s.%s" % (name, point))
                self.assertAlmostEqual(got, value, delta=abs(pt["scale"]) + 1e-6)


class TestBlocksSerialSignature(unittest.TestCase):
    def test_danfoss_blocks_never_span_the_undocumented_registers(self):
        # 50001-50009 and 50201-50209 are reserved, not described: no block may include them
        for register in list(range(50001, 50010)) + list(range(50201, 50210)):
            self.assertEqual(block_of("danfoss_fc", 3, register - 1), -1, register)
        self.assertEqual(block_of("danfoss_fc", 3, 50199, 11), -1)  # STW..MAV in one read: not documented
        self.assertTrue(point_block("danfoss_fc", "status_trip") >= 0)
        self.assertEqual(point_block("danfoss_fc", "status_trip"), point_block("danfoss_fc", "status_running"))
        self.assertTrue(point_block("danfoss_fc", "actual_speed") != point_block("danfoss_fc", "status_trip"))

    def test_every_point_lies_in_one_block_and_blocks_are_documented(self):
        for name in PROFILES:
            self.assertTrue(len(PROFILES[name]["blocks"]) > 0, name)
            for point in PROFILES[name]["points"]:
                self.assertTrue(point_block(name, point) >= 0, "%s.%s" % (name, point))

    def test_a_point_outside_every_block_is_reported(self):
        prof = {"function_code": 3, "address_base": 1, "serial": {"parity": None, "stopbits": None},
                "signature": [], "blocks": [{"register": 1, "count": 1, "function_code": 3, "address": 0}],
                "points": {"a": {"register": 3, "address": 2, "type": "uint16", "word_order": "big", "scale": 1.0,
                                 "offset": 0.0, "unit": "", "access": "r", "sentinels": [], "min": 0.0, "max": 1.0,
                                 "priority": "high", "signals": [], "function_code": 3}}}
        self.assertIn("points.a: register 3 is not inside one of the profile's blocks", "\n".join(check_profile(prof)))

    def test_danfoss_factory_serial_is_even_parity_one_stop_bit(self):
        self.assertEqual(PROFILES["danfoss_fc"]["serial"]["parity"], "E")
        self.assertEqual(PROFILES["danfoss_fc"]["serial"]["stopbits"], 1)

    def test_signatures_distinguish_the_drive_from_a_generic_module(self):
        self.assertEqual(PROFILES["makeup_io"]["signature"], [])
        self.assertEqual(PROFILES["generic_rtd8_ai4"]["signature"], [])
        addresses = [s["address"] for s in PROFILES["abb_acs580"]["signature"]]
        self.assertIn(400, addresses)  # parameter 04.01


class TestDeviceDiagnostics(unittest.TestCase):
    def test_tripped_danfoss_status_word_names_every_set_bit(self):
        bits = bits_set("danfoss_fc", 3, 50199, 0x0708)
        self.assertEqual([b for b, _n in bits], [3, 8, 9, 10])
        self.assertIn((3, "status_trip"), bits)
        self.assertEqual(decode_point("danfoss_fc", "status_running", [0x0708]), (0.0, True))

    def test_belimo_105_bits(self):
        word = (1 << 2) | (1 << 9)
        self.assertEqual(decode_point("belimo_mod", "cannot_move", [word]), (1.0, True))
        self.assertEqual(decode_point("belimo_mod", "gear_disengaged", [word]), (1.0, True))
        self.assertEqual(decode_point("belimo_mod", "bus_watchdog", [word]), (0.0, True))
        self.assertEqual(bits_set("belimo_mod", 3, 104, word), [(2, "cannot_move"), (9, "gear_disengaged")])
        self.assertTrue(alarm_active("belimo_mod", "cannot_move", 1.0))
        self.assertEqual(alarm_active("belimo_mod", "cannot_move", 0.0), False)
        self.assertIn("cannot_move", diagnostic_points("belimo_mod"))
        self.assertIn("info_code", diagnostic_points("kamstrup_multical_603"))
        self.assertTrue(alarm_active("kamstrup_multical_603", "info_code", 10000000.0))
        self.assertTrue(alarm_active("belimo_uk24mod", "actuator_type", 0.0))
        self.assertEqual(alarm_active("belimo_uk24mod", "actuator_type", 2.0), False)

    def test_belimo_setpoint_maps_into_min_max(self):
        # Max 70 %: a 90 % setpoint puts the valve at 63 %; to stand at 63 % the setpoint is 90 %
        self.assertAlmostEqual(position_for_setpoint(90.0, 0.0, 70.0), 63.0, delta=1e-9)
        sp, ok = setpoint_for_position(63.0, 0.0, 70.0)
        self.assertAlmostEqual(sp, 90.0, delta=1e-9)
        self.assertTrue(ok)
        self.assertEqual(setpoint_for_position(90.0, 0.0, 70.0), (100.0, False))  # beyond Max: unreachable
        self.assertEqual(setpoint_for_position(5.0, 10.0, 100.0), (0.0, False))
        self.assertEqual(setpoint_for_position(50.0, 50.0, 50.0), (0.0, False))
        sp, ok = setpoint_for_position(55.0, 10.0, 100.0)
        self.assertAlmostEqual(sp, 50.0, delta=1e-9)

    def test_uk24mod_gateway_map(self):
        self.assertEqual(PROFILES["belimo_uk24mod"]["points"]["setpoint"]["address"], 0)
        self.assertEqual(PROFILES["belimo_uk24mod"]["points"]["actual_position"]["address"], 3)
        self.assertEqual(decode_point("belimo_uk24mod", "relative_flow", [65535])[1], False)

    def test_energy_valve_branch_map(self):
        ev = PROFILES["belimo_energy_valve"]["points"]
        # No. 1 setpoint, No. 5 relative position, No. 8 flow, No. 20/22 T1/T2, No. 34 power: address = No. - 1
        self.assertEqual([ev[p]["address"] for p in ("setpoint", "relative_position", "flow", "t1_supply", "t2_return",
                                                     "heating_power")], [0, 4, 7, 19, 21, 33])
        self.assertEqual(ev["setpoint"]["signals"], [S.BRANCH_VALVE_CMD_PCT])
        self.assertEqual(ev["t2_return"]["signals"], [S.BRANCH_RETURN_TEMP_C])
        self.assertEqual(decode_point("belimo_energy_valve", "relative_position", [6250]), (62.5, True))
        self.assertEqual(decode_point("belimo_energy_valve", "t2_return", [4321]), (43.21, True))
        self.assertEqual(decode_point("belimo_energy_valve", "flow", [10000])[0], 36.0)  # 10 l/s
        value, ok = decode_point("belimo_energy_valve", "heating_power", [0x86A0, 0x0001])  # 100000 W, low word first
        self.assertTrue(ok)
        self.assertAlmostEqual(value, 100.0, delta=1e-9)
        # branch signals only on a branch valve's points; a station signal is no branch signal
        self.assertFalse(S.VALVE_CMD_PCT in ev["setpoint"]["signals"])
        bad = {"vendor": "x", "model": "y", "function_code": 3, "address_base": 1, "blocks": [{"register": 1, "count": 1,
               "function_code": 3, "address": 0}], "serial": {"parity": None, "stopbits": None}, "signature": [],
               "points": {"a": {"register": 1, "address": 0, "type": "uint16", "word_order": "big", "scale": 1.0,
                                "offset": 0.0, "unit": "", "access": "r", "sentinels": [], "min": 0.0, "max": 1.0,
                                "priority": "high", "signals": [S.BRANCH_VALVE_CMD_PCT], "function_code": 3}}}
        self.assertIn("branch_valve_cmd_pct", "\n".join(check_profile(bad)))  # a command needs a writable point


if __name__ == "__main__":
    unittest.main()
