"""The asset register ("one machine, one file", 一机一档): every device of every station with its
model, serial, device profile, install date, documents (uploaded files or links) and
maintenance log, and the pump counters the ingest derives (equipment.py) shown beside it.

Seeding, where the supervisor knows a station's devices (a registered asset is never
overwritten by a seed: what people entered stays):
- from a station's configuration file (the firmware's station.toml, uploaded by an admin):
  every [[device]] with its name and profile; the model is the profile's vendor and model
  (core.device_profiles), and the Modbus unit id goes into the notes;
- from the equipment records: every pump the station reports counters for (pump1, pump2,
  makeup_pump), with no profile (the telemetry does not say).
Checks give the field, the value and what is allowed; nothing is stored when one fails.
"""

from __future__ import annotations

import base64
import hashlib
import re
import tomllib
from datetime import date
from typing import Any
from urllib.parse import unquote, urlsplit

from heatkeeper.core.device_profiles import PROFILES

from .equipment import DEVICES

DEVICE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EDIT_FIELDS = ("model", "serial", "profile", "install_date", "notes")
MAX_FIELD = {"model": 200, "serial": 100, "profile": 64, "install_date": 10, "notes": 2000}
MAX_DOC_BYTES = 512 * 1024  # an uploaded document (base64 in the database; the request limit is 1 MiB)
DOC_TYPES = {".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
             ".txt": "text/plain", ".csv": "text/csv",
             ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
             ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def profile_model(profile: str) -> str:
    p = PROFILES.get(profile)
    return "%s %s" % (p.get("vendor", ""), p.get("model", "")) if p else ""


def check_device(device: str) -> str:
    device = device.strip()
    if not DEVICE_RE.match(device):
        raise ValueError("device=%r: must be 1-64 of A-Z a-z 0-9 _ . -" % device[:80])
    return device


def check_fields(values: dict[str, str]) -> dict[str, str]:
    """The editable fields of an asset, checked; ValueError listing every problem."""
    out: dict[str, str] = {}
    problems = []
    for key in EDIT_FIELDS:
        text = str(values.get(key, "")).strip()
        if len(text) > MAX_FIELD[key]:
            problems.append("%s: at most %d characters (got %d)" % (key, MAX_FIELD[key], len(text)))
        out[key] = text
    if out["profile"] and out["profile"] not in PROFILES:
        problems.append("profile=%r: unknown; known: %s" % (out["profile"], ", ".join(sorted(PROFILES))))
    if out["install_date"]:
        try:
            date.fromisoformat(out["install_date"])
        except ValueError:
            problems.append("install_date=%r: must be a date YYYY-MM-DD" % out["install_date"])
    if problems:
        raise ValueError("; ".join(problems))
    return out


def asset_row(station_id: str, device: str, fields: dict[str, str], source: str, user: str, now: float) -> dict[str, Any]:
    return {"station_id": station_id, "device": device, **{k: fields.get(k, "") for k in EDIT_FIELDS},
            "source": source, "changed_by": user, "changed_ts": now}


def from_station_toml(station_id: str, data: bytes, user: str, now: float) -> list[dict[str, Any]]:
    """The assets of a station's configuration file ([[device]] tables); ValueError with every
    problem (file not TOML, a device without a name, an unknown profile)."""
    try:
        doc = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError("station file: not a UTF-8 TOML file (%s)" % exc) from None
    devices = doc.get("device", [])
    if not isinstance(devices, list) or not devices:
        raise ValueError("station file: no [[device]] tables")
    out, problems = [], []
    for i, dev in enumerate(devices):
        if not isinstance(dev, dict):
            problems.append("device[%d]: must be a table" % i)
            continue
        name, profile = str(dev.get("name", "")), str(dev.get("profile", ""))
        if not DEVICE_RE.match(name):
            problems.append("device[%d].name=%r: must be 1-64 of A-Z a-z 0-9 _ . -" % (i, name[:80]))
            continue
        if profile not in PROFILES:
            problems.append("device[%s].profile=%r: unknown; known: %s" % (name, profile, ", ".join(sorted(PROFILES))))
            continue
        notes = "bus %s, Modbus unit %s" % (dev.get("bus", "?"), dev.get("unit_id", "?"))
        out.append(asset_row(station_id, name, {"model": profile_model(profile), "profile": profile, "notes": notes},
                             "station file", user, now))
    if problems:
        raise ValueError("; ".join(problems))
    return out


def from_equipment(equipment: list[dict[str, Any]], stations: set[str], now: float) -> list[dict[str, Any]]:
    """Assets of the pumps the stations report counters for (configured stations only)."""
    return [asset_row(e["station_id"], e["device"], {}, "telemetry", "system", now)
            for e in equipment if e["station_id"] in stations and e["device"] in DEVICES]


async def seed_from_equipment(storage: Any, stations: set[str], now: float) -> None:
    await storage.seed_assets(from_equipment(await storage.equipment(None), stations, now))


def check_link(name: str, url: str) -> tuple[str, str]:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or len(url) > 2000:
        raise ValueError("url=%r: must be an http:// or https:// link (at most 2000 characters)" % url[:200])
    return (name.strip() or url)[:200], url


def check_upload(filename: str, data: bytes) -> dict[str, Any]:
    """An uploaded document: {name, content_type, size, sha256, data_b64}; ValueError when the
    type is not one kept or it is too large."""
    # browsers (and aiohttp's client) send the name percent-escaped where it has a quote or a space
    name = unquote(filename).replace("\\", "/").rsplit("/", 1)[-1].strip()[:200]
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in DOC_TYPES:
        raise ValueError("file %r: type %s not kept; allowed: %s" % (name, ext or "(none)", ", ".join(DOC_TYPES)))
    if not data:
        raise ValueError("file %r: empty" % name)
    if len(data) > MAX_DOC_BYTES:
        raise ValueError("file %r: %d bytes, at most %d" % (name, len(data), MAX_DOC_BYTES))
    return {"name": name, "content_type": DOC_TYPES[ext], "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "data_b64": base64.b64encode(data).decode("ascii")}


def check_log_entry(values: dict[str, str]) -> dict[str, str]:
    """A maintenance log entry's day, who, what and parts; ValueError listing every problem."""
    out = {k: str(values.get(k, "")).strip() for k in ("day", "done_by", "what", "parts")}
    problems = []
    try:
        date.fromisoformat(out["day"])
    except ValueError:
        problems.append("day=%r: must be a date YYYY-MM-DD" % out["day"][:20])
    if not out["done_by"]:
        problems.append("done_by: name who did the work")
    if not out["what"]:
        problems.append("what: say what was done")
    for key, limit in (("done_by", 100), ("what", 2000), ("parts", 2000)):
        if len(out[key]) > limit:
            problems.append("%s: at most %d characters" % (key, limit))
    if problems:
        raise ValueError("; ".join(problems))
    return out
