"""The drives' state machines as profile data (core.device_profiles "drive" tables): status
words from the manuals decode to the right state and flags, and each state names the word the
manual says to send next."""

import unittest

from heatkeeper.core import device_profiles as dp


def word(profile, status, run):
    drive = dp.PROFILES[profile]["drive"]
    return drive["words"][dp.drive_state(drive, status)][1 if run else 0]


class TestAbbAcs580(unittest.TestCase):
    drive = dp.PROFILES["abb_acs580"]["drive"]

    def test_power_up_inhibited_then_ready_then_run(self):
        # SW after power-up: OFF_2_STA, OFF_3_STA (inactive), SWC_ON_INHIB, REMOTE.
        inhibited = 0x0010 | 0x0020 | 0x0040 | 0x0200
        self.assertEqual(dp.drive_state(self.drive, inhibited), "inhibited")
        self.assertEqual(word("abb_acs580", inhibited, True), 0x0476)  # ready word, never the run word
        ready = 0x0001 | 0x0010 | 0x0020 | 0x0200  # RDY_ON
        self.assertEqual(dp.drive_state(self.drive, ready), "ready")
        self.assertEqual(word("abb_acs580", ready, True), 0x047F)
        running = ready | 0x0002 | 0x0004 | 0x0100
        self.assertEqual(dp.drive_state(self.drive, running), "running")
        self.assertEqual(word("abb_acs580", running, True), 0x047F)
        self.assertEqual(word("abb_acs580", running, False), 0x0476)

    def test_trip_wins_and_reset_is_the_stop_word_with_bit_7(self):
        tripped = 0x0008 | 0x0010 | 0x0020 | 0x0200
        self.assertEqual(dp.drive_state(self.drive, tripped), "tripped")
        self.assertEqual(word("abb_acs580", tripped, True), 0x0476)
        self.assertEqual(self.drive["reset_word"], 0x0476 | 0x0080)
        self.assertIn(0x2340, self.drive["no_reset_codes"])  # short circuit: never reset over the bus

    def test_flags(self):
        flags = dp.drive_flags(self.drive, 0x0080 | 0x0040)  # ALARM, inhibited, REMOTE = 0
        self.assertTrue(flags["warning"] and flags["inhibited"] and flags["local"])
        self.assertTrue(flags["off2"] and flags["off3"])  # OFF_2_STA = 0: OFF2 active
        self.assertTrue(not dp.drive_flags(self.drive, 0x0200)["local"])


class TestDanfossFc(unittest.TestCase):
    drive = dp.PROFILES["danfoss_fc"]["drive"]

    def test_stopped_gets_the_start_word_with_data_valid(self):
        stopped = 0x0001 | 0x0002 | 0x0200
        self.assertEqual(dp.drive_state(self.drive, stopped), "stopped")
        run = word("danfoss_fc", stopped, True)
        self.assertEqual(run, 0x047C)
        self.assertTrue(run & 0x0400 and run & 0x0040)  # b10 data valid, b06 start

    def test_trip_lock_is_its_own_state_and_never_reset(self):
        locked = 0x0001 | 0x0008 | 0x0040 | 0x0200
        self.assertEqual(dp.drive_state(self.drive, locked), "trip_locked")
        self.assertIn("trip_locked", self.drive["no_reset_states"])
        self.assertEqual(dp.drive_state(self.drive, 0x0001 | 0x0008 | 0x0200), "tripped")
        self.assertEqual(self.drive["reset_word"], 0x043C | 0x0080)

    def test_local_warning_error(self):
        flags = dp.drive_flags(self.drive, 0x0001 | 0x0010 | 0x0080)  # b09 = 0: Hand/Off
        self.assertTrue(flags["local"] and flags["warning"] and flags["error"])
        self.assertTrue(not dp.drive_flags(self.drive, 0x0200)["local"])


class TestCheck(unittest.TestCase):
    def test_drive_tables_are_sound_and_a_broken_one_is_reported(self):
        for name in ("abb_acs580", "danfoss_fc"):
            self.assertEqual(dp.check_drive(name), [])
        broken = {"points": dict(dp.PROFILES["abb_acs580"]["points"]), "address_base": 1, "function_code": 3}
        drive = dict(dp.PROFILES["abb_acs580"]["drive"])
        drive["words"] = {"tripped": [0x0476, 0x0476]}
        drive["control"] = "status_word"
        drive["states"] = [["tripped", 8, 8], ["flying", 4, 4]]
        broken["drive"] = drive
        problems = dp.check_drive(broken)
        self.assertTrue(any("must be writable" in p for p in problems), problems)
        self.assertTrue(any("'flying'" in p for p in problems), problems)
        self.assertTrue(any("last row" in p for p in problems), problems)
        self.assertTrue(any("drive.words.flying" in p for p in problems), problems)


if __name__ == "__main__":
    unittest.main()
