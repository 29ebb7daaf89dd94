"""Acknowledgement links: exactly one spelling of a token is valid."""

from __future__ import annotations

import string

import pytest
from heatkeeper.supervisor.notify import links
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = bytes(range(32))
B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
TOKEN = links.make_token(KEY, "arxan-01", "supply_overheat", "zhang", "5e3c304822dd87b7", 2_000_000_000)


def test_a_token_reads_back() -> None:
    data = links.read_token(KEY, TOKEN, 1_900_000_000)
    assert data == {"station_id": "arxan-01", "code": "supply_overheat", "person": "zhang",
                    "message_id": "5e3c304822dd87b7", "expires_ts": 2_000_000_000.0}


def test_the_signature_spellings_that_decode_alike_are_refused() -> None:
    # a 32-byte HMAC is 43 base64 characters: the last carries 4 bits and 2 spare ones, so four
    # characters decode to the same bytes; only the one the supervisor wrote is valid
    last = B64URL.index(TOKEN[-1])
    twins = [B64URL[(last & ~3) | low] for low in range(4) if (last & ~3) | low != last]
    assert len(twins) == 3
    for twin in twins:
        with pytest.raises(links.BadLink, match="not signed"):
            links.read_token(KEY, TOKEN[:-1] + twin, 1_900_000_000)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0), st.sampled_from(B64URL))
def test_any_other_character_anywhere_is_refused(where: int, char: str) -> None:
    i = where % len(TOKEN)
    if TOKEN[i] == char:
        char = "A" if char != "A" else "B"
    bad = TOKEN[:i] + char + TOKEN[i + 1:]
    with pytest.raises(links.BadLink):
        links.read_token(KEY, bad, 1_900_000_000)
