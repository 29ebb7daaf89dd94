# cython: annotation_typing=False
"""Live station state: what the dashboard shows of each station now, kept in memory by the
ingest and saved with each aggregation slice.

- Live values follow the station's own order (seq) and the RECEIVE time, never its clock: a
  sample replaces the live values when its seq is higher, or when the live values were received
  more than VALUES_HOLD_S ago; freshness (`values_received_ts`) is the receive time.
- A status message says online or offline (plain text or JSON); an empty one is a cleared
  retained status and says nothing.
"""

from __future__ import annotations

import json
from typing import Any

from heatkeeper.core import codec
from heatkeeper.core.modes import MODE_NAMES

from . import leases

VALUES_HOLD_S = 600.0  # live values from a higher seq win; after this long without, any new sample does
EQUIPMENT_KEY = "_equipment"  # the equipment tracker's state, saved inside the station state

# what another ingest process (shared subscriptions) may have newer than this one
_SHARED_KEYS = ("values", "values_ts", "values_seq", "values_received_ts", "mode", "leases", "devices", "last_seq")


def blank_state() -> dict[str, Any]:
    """The state of a station nothing has been heard from."""
    return {"online": False, "status_ts": None, "last_seen_ts": None, "last_seq": 0, "ack_seq": 0, "values": {},
            "values_ts": None, "values_seq": None, "values_received_ts": None, "mode": None, "leases": {},
            "devices": {}, "body": {}}


def take_newer(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Take `theirs` (a station's state saved by another ingest process) into `mine` when its
    values were received later. Returns whether anything was taken."""
    if (theirs.get("values_received_ts") or 0) > (mine.get("values_received_ts") or 0):
        for key in _SHARED_KEYS:
            if key in theirs:
                mine[key] = theirs[key]
        if (theirs.get("last_seen_ts") or 0) > (mine["last_seen_ts"] or 0):
            mine["last_seen_ts"] = theirs["last_seen_ts"]
        return True
    return False


def parse_status(payload: bytes) -> bool | None:
    """Online (True) or offline (False) from a status payload; None for an empty one (a cleared
    retained status). Raises codec.CodecError("bad_status") for anything else."""
    text = payload.decode("utf-8", "replace").strip()
    online: bool | None = None
    if text in (codec.STATUS_ONLINE, codec.STATUS_OFFLINE):
        online = text == codec.STATUS_ONLINE
    else:
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            if isinstance(obj.get("online"), bool):
                online = obj["online"]
            elif obj.get("status") in (codec.STATUS_ONLINE, codec.STATUS_OFFLINE):
                online = obj["status"] == codec.STATUS_ONLINE
    if online is None and text != "":
        raise codec.CodecError("bad_status", "status payload %r" % text[:80])
    return online


def take_values(st: dict[str, Any], seq: int, ts: float, body: dict[str, Any], received: float) -> None:
    """Make one newly stored telemetry sample the live values, if it is newer (see the rules above)."""
    values = body["values"]
    held_seq, held_at = st.get("values_seq"), st.get("values_received_ts")
    # the station's own order, never its clock (a clock in 2100 would freeze the values);
    # a lower seq wins once the held values are old by receive time (a recreated outbox)
    if held_seq is None or held_at is None or seq > held_seq or received - held_at > VALUES_HOLD_S:
        st["values"] = values
        st["values_ts"] = ts
        st["values_seq"] = seq
        st["values_received_ts"] = received
        for key in ("mode", "mode_name", "devices", "active_alarms"):
            if key in body:
                st["mode" if key == "mode_name" else key] = body[key]
        if "mode" not in body and "mode_name" not in body:
            st["mode"] = mode_name(values.get("mode"))
        sent = body.get("leases")
        held = st.get("leases")
        # by lease name, in words' terms; the usual sample (no lease) keeps the empty dict held
        if held.__class__ is not dict or held or not leases.none_active(values, sent):
            st["leases"] = leases.from_values(values, sent)
        if "devices" not in body and "devices_total" in values:
            st["devices"] = {"total": values.get("devices_total"), "available": values.get("devices_available")}


def mode_name(code: Any) -> Any:
    """The station's numeric mode as its name (core.modes.MODE_NAMES), else as sent."""
    if isinstance(code, (int, float)) and not isinstance(code, bool) and 0 <= int(code) < len(MODE_NAMES):
        return MODE_NAMES[int(code)]
    return code
