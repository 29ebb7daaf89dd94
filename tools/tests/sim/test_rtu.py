"""RTU framing: CRC vectors from the spec, content framing, garbage and bad CRCs."""

from heatkeeper.tools.sim import rtu


def test_crc_matches_the_specification_example() -> None:
    # MODBUS over Serial Line V1.02, and every device manual: 01 03 00 00 00 01 -> CRC 84 0A.
    assert rtu.with_crc(bytes.fromhex("010300000001")) == bytes.fromhex("010300000001840a")
    assert rtu.crc_ok(bytes.fromhex("010300000001840a"))
    assert not rtu.crc_ok(bytes.fromhex("010300000001840b"))


def test_framer_splits_frames_fed_byte_by_byte_and_back_to_back() -> None:
    read = rtu.with_crc(bytes.fromhex("0503000a0004"))
    write = rtu.with_crc(bytes.fromhex("0710000000020400640065"))
    framer = rtu.RequestFramer()
    got = []
    for byte in read + write:
        got.extend(framer.feed(bytes((byte,))))
    assert [(r.unit_id, r.function_code, r.address, r.count) for r in got] == [(5, 3, 10, 4), (7, 16, 0, 2)]
    assert got[1].values == [100, 101]
    both = framer.feed(read + write)
    assert len(both) == 2 and framer.crc_errors == 0


def test_bad_crc_is_counted_and_never_answered() -> None:
    framer = rtu.RequestFramer()
    bad = rtu.corrupt(rtu.with_crc(bytes.fromhex("010300000001")))
    assert framer.feed(bad) == []
    assert framer.crc_errors == 1
    # The framer is back in sync for the next good frame.
    assert len(framer.feed(rtu.with_crc(bytes.fromhex("010300000001")))) == 1


def test_garbage_with_unknown_function_code_is_flushed_on_silence() -> None:
    framer = rtu.RequestFramer()
    assert framer.feed(b"\x01\x63\xff\xff\xff") == []
    assert framer.pending() == 5
    assert framer.gap() is None
    assert framer.crc_errors == 1 and framer.pending() == 0
    # An unknown function code with a good CRC is a frame: the slave answers "illegal function".
    framer.feed(rtu.with_crc(b"\x01\x2b\x0e\x01\x00"))
    req = framer.gap()
    assert req is not None and req.function_code == 0x2B


def test_malformed_write_multiple_is_flagged() -> None:
    # Byte count 4 but quantity 3: the PDU is inconsistent.
    req = rtu.parse_request(rtu.with_crc(bytes.fromhex("0110000000030400010002")))
    assert req.count == -1 and req.values is None


def test_responses() -> None:
    assert rtu.read_response(1, 3, [0x1234]) == rtu.with_crc(bytes.fromhex("0103021234"))
    assert rtu.exception_response(1, 3, 2) == rtu.with_crc(bytes.fromhex("018302"))
    assert rtu.t35_s(9600) > rtu.t35_s(19200) > rtu.t35_s(115200) == 0.00175
