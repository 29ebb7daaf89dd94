"""The RTU wire rules (heatkeeper.firmware.modbus.timing), the one copy the station and the
device simulators share: CRC-16/MODBUS against frames from the spec and pymodbus' own
computation, the t1.5 / t3.5 character-time rules, and the module loading without pymodbus."""

from __future__ import annotations

import subprocess
import sys

import pytest
from heatkeeper.firmware.modbus import timing
from heatkeeper.tools.sim import rtu
from hypothesis import given
from hypothesis import strategies as st

# Complete RTU frames (address, PDU, CRC low byte first).
SPEC_FRAMES = [
    "02074112",          # Serial Line V1.02 6.2.2: slave 2, function 7, CRC 0x1241 sent as 41 12
    "1103006b00037687",  # Application Protocol V1.1b3 6.3's request (registers 108-110) to slave 17
    "010300000001840a",  # read 1 holding register at 0 from slave 1
]


@pytest.mark.parametrize("frame", SPEC_FRAMES)
def test_crc_of_frames_from_the_spec(frame: str) -> None:
    raw = bytes.fromhex(frame)
    assert timing.with_crc(raw[:-2]) == raw
    assert timing.crc_ok(raw)
    assert not timing.crc_ok(raw[:-1] + bytes((raw[-1] ^ 1,)))


@given(st.binary(min_size=0, max_size=256))
def test_crc_matches_pymodbus(body: bytes) -> None:
    from pymodbus.framer.rtu import FramerRTU

    # pymodbus returns the two wire bytes as one big-endian number
    wire = FramerRTU.compute_CRC(body).to_bytes(2, "big")
    assert timing.with_crc(body) == body + wire
    assert timing.crc_ok(body + wire) or len(body) < 2


def test_character_times_follow_the_spec() -> None:
    # 11 bits per character: 9600 baud -> 1.146 ms per character
    assert timing.char_time_s(9600) == pytest.approx(11 / 9600)
    assert timing.t35_s(9600) == pytest.approx(3.5 * 11 / 9600)
    assert timing.t15_s(9600) == pytest.approx(1.5 * 11 / 9600)
    assert timing.t35_s(19200) == pytest.approx(3.5 * 11 / 19200)  # 19200 itself still counts characters
    assert timing.t15_s(19200) == pytest.approx(1.5 * 11 / 19200)
    for baud in (38400, 57600, 115200):
        assert timing.t35_s(baud) == 0.00175
        assert timing.t15_s(baud) == 0.00075
    assert timing.t35_s(9600, bits_per_char=10) == pytest.approx(3.5 * 10 / 9600)


def test_the_station_tells_a_bad_crc_from_a_bad_frame() -> None:
    from heatkeeper.firmware.modbus.transport import CRC, FRAMING, classify_garbage

    good = timing.with_crc(bytes.fromhex("0703020064"))  # unit 7, FC 3, one register = 100
    assert classify_garbage(good, 7, 3)[0] == FRAMING  # its CRC is right: something else was wrong
    bad = good[:-1] + bytes((good[-1] ^ 0xFF,))
    assert classify_garbage(bad, 7, 3) == (CRC, "CRC mismatch in 7-byte reply")


def test_the_simulator_uses_the_same_rules() -> None:
    for name in ("crc16", "with_crc", "crc_ok", "char_time_s", "t35_s", "t15_s"):
        assert getattr(rtu, name) is getattr(timing, name), name


def test_the_wire_rules_load_without_pymodbus() -> None:
    code = ("import sys\nsys.modules['pymodbus'] = None\n"
            "from heatkeeper.firmware.modbus.timing import crc16, t35_s\n"
            "from heatkeeper.tools.sim import rtu\n"
            "assert rtu.with_crc(bytes.fromhex('0207')).hex() == '02074112'\n"
            "assert not any(m.startswith('pymodbus') and sys.modules[m] for m in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
