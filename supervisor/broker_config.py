"""`heatkeeper broker-config --stations a,b,c --out DIR`: Mosquitto 2.0 configuration for production.

The same files serve the supervisor's embedded broker (`heatkeeper.supervisor.embedded`), so
the broker a demo runs on is configured exactly like a city's.

Writes into DIR:
    mosquitto.conf   per_listener_settings false, allow_anonymous false, persistence on,
                     use_username_as_clientid (every client id is its user name), packet size,
                     queue and memory limits, a plain listener (loopback unless told
                     --insecure-plaintext) and an optional TLS listener
    passwd           Mosquitto's PBKDF2-SHA512 "$7$" hashes (the format mosquitto_passwd writes)
    acl              the supervisor's users read/write all of heatkeeper/v1/#; each collector
                     platform writes only its own collectors' readings; every station
                     (username = station id, via %u) writes only its own up/<kind> and status
                     and reads only its own down/#
    credentials/<user>.password   one random password per user (0600), kept when re-run, so
                     adding a station does not change the others' passwords

Users: one per supervisor MQTT connection (`supervisor` for ingest, `supervisor-cmd` for
commands, `supervisor-ingest-N` per `--ingest-only --instance N` process), one per station,
one per collector platform. Client ids are bound to user names: a credential can take over
no session but its own (Mosquitto otherwise lets any user connect with any client id, kick the
holder off and discard its persistent session with everything queued in it).

Mosquitto drops ACL-denied publishes silently (and grants denied subscriptions), so the
supervisor side is where a misconfiguration shows; the tests check exactly that. Retained
uplinks cannot be refused by Mosquitto 2.0 without a plugin: the ACL limits a station to its
four uplink topics, and the supervisor clears any retained copy it sees (`mqtt_link.run_mqtt`).
"""

from __future__ import annotations

import argparse
import base64
import grp
import hashlib
import os
import pwd
import stat
import sys

from heatkeeper.core import codec

from .broker import COLLECTORS_USER, SUPERVISOR_USER, ensure_credentials, supervisor_users
from .config_files import read_csv
from .hosts import is_loopback

RESERVED = (SUPERVISOR_USER, COLLECTORS_USER, "admin")
PBKDF2_ITERATIONS = 101  # mosquitto_passwd's default for $7$
# A whole MQTT packet: the largest payload the codec accepts, plus topic and headers.
MAX_PACKET_BYTES = codec.MAX_PAYLOAD_BYTES + 1024
# The supervisor's session queue rides through its outages: what overflows it is dropped after
# the stations got their PUBACK (lost), so the count stays generous; bytes and the whole heap
# are what bound the memory (a station can queue nothing but its own commands).
DEFAULT_MAX_QUEUED = 1_000_000
DEFAULT_MAX_QUEUED_MIB = 1024
DEFAULT_MEMORY_LIMIT_MIB = 4096


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--stations", default="", help="comma-separated station ids (= MQTT usernames)")
    parser.add_argument("--stations-file", default="", help="file with one station id per line")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--port", type=int, default=1883, help="plain listener port")
    parser.add_argument("--bind", default="127.0.0.1",
                        help="plain listener address (loopback; stations off this host use the TLS listener)")
    parser.add_argument("--insecure-plaintext", action="store_true",
                        help="allow a plain listener off loopback (passwords and data in clear on the network)")
    parser.add_argument("--tls-port", type=int, default=8883)
    parser.add_argument("--tls-ca", default="", help="CA file; with --tls-cert and --tls-key enables the TLS listener")
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    parser.add_argument("--ingest-processes", type=int, default=0, metavar="N",
                        help="credentials for N extra `supervisor --ingest-only --instance 1..N` processes")
    parser.add_argument("--collector-platform", action="append", default=[], metavar="USER=PREFIX",
                        help="an MQTT user for one room-collector platform, allowed to publish readings only "
                             "for the collectors whose id starts with PREFIX (repeat per platform)")
    parser.add_argument("--collectors", default="", help="comma-separated collector ids (for --collector-platform)")
    parser.add_argument("--collectors-file", default="",
                        help="CSV with an `id` column (the supervisor's collectors.csv), for --collector-platform")
    parser.add_argument("--max-queued-messages", type=int, default=DEFAULT_MAX_QUEUED,
                        help="QoS 1 messages Mosquitto holds per client (supervisor outage buffer)")
    parser.add_argument("--max-queued-mib", type=int, default=DEFAULT_MAX_QUEUED_MIB,
                        help="MiB of QoS 1 messages Mosquitto holds per client")
    parser.add_argument("--memory-limit-mib", type=int, default=DEFAULT_MEMORY_LIMIT_MIB,
                        help="Mosquitto's whole heap limit in MiB")
    parser.add_argument("--run-as", default="",
                        help="system user Mosquitto runs as (default: 'mosquitto' when it exists, else you)")
    parser.add_argument("--run-as-root", action="store_true", help="same as --run-as root (tests and containers only)")


def mosquitto_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A password-file hash in Mosquitto 2.0's "$7$" PBKDF2-SHA512 format."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    return "$7$%d$%s$%s" % (iterations, base64.b64encode(salt).decode(), base64.b64encode(digest).decode())


def acl_text(sup_users: list[str] | None = None, platforms: dict[str, list[str]] | None = None) -> str:
    """The ACL: supervisor users read/write everything under the prefix; each collector
    platform writes its own collectors' topics; every station its own four uplink kinds and
    status (exact topics: a station cannot park retained messages on topics of its choosing)."""
    p = codec.PREFIX
    lines = ["# heatkeeper ACL (generated). Username = station id = client id; %u is the connecting username."]
    for user in sup_users or supervisor_users():
        lines += ["user " + user, "topic readwrite %s#" % p, ""]
    for user, collector_ids in sorted((platforms or {}).items()):
        lines.append("user " + user)
        lines += ["topic write " + codec.collector_topic(cid) for cid in sorted(collector_ids)]
        lines.append("")
    lines.append("# every station: its own uplinks and status, its own commands")
    lines += ["pattern write %sstations/%%u/up/%s" % (p, kind) for kind in codec.UP_KINDS]
    lines += ["pattern write %sstations/%%u/status" % p, "pattern read %sstations/%%u/down/#" % p, ""]
    return "\n".join(lines)


def conf_text(out: str, port: int, bind: str, tls: tuple[str, str, str] | None, tls_port: int, as_root: bool = False,
              max_queued: int = DEFAULT_MAX_QUEUED, run_as: str = "", max_queued_mib: int = DEFAULT_MAX_QUEUED_MIB,
              memory_limit_mib: int = DEFAULT_MEMORY_LIMIT_MIB, tls_bind: str = "") -> str:
    lines = ["# heatkeeper Mosquitto configuration (generated by `heatkeeper broker-config`)"]
    user = "root" if as_root else run_as
    if user:
        lines += ["# Started as root, Mosquitto drops to this user: it owns data/ and the log, and its",
                  "# group reads passwd and acl (broker-config set that up when it ran as root).",
                  "user " + user]
    lines += [
        "per_listener_settings false",
        "allow_anonymous false",
        "password_file " + os.path.join(out, "passwd"),
        "acl_file " + os.path.join(out, "acl"),
        "persistence true",
        "persistence_location " + os.path.join(out, "data") + "/",
        "# Saved every 60 s: after a power cut the stations send again what this broker acknowledged",
        "# in the last [mqtt] resend_after_reconnect_s (120 s) before their link dropped; keep it below that.",
        "autosave_interval 60",
        "persistent_client_expiration 14d",
        "# Whole packets above this disconnect the sender (payloads are at most %d bytes)." % codec.MAX_PAYLOAD_BYTES,
        "max_packet_size %d" % MAX_PACKET_BYTES,
        "# QoS 1 messages held per client (the supervisor's persistent session) while it is away or",
        "# behind; beyond this Mosquitto DROPS them although the stations got their PUBACK. Size it:",
        "# stations x messages per second x longest supervisor outage to ride through (RAM!).",
        "max_queued_messages %d" % max_queued,
        "max_queued_bytes %d" % (max_queued_mib * 1024 * 1024),
        "# The whole heap: above it Mosquitto refuses incoming messages (the sender gets no PUBACK",
        "# and keeps them in its outbox) and disconnects a receiver it cannot serve.",
        "memory_limit %d" % (memory_limit_mib * 1024 * 1024),
        "# Unacknowledged QoS 1 deliveries per client: no limit. The supervisor acknowledges a",
        "# message only once it is stored (a fraction of a second later). Measured with Mosquitto",
        "# 2.0.11 at 2,000 msg/s: a window of 5000 held one supervisor to about 1,000 msg/s (it",
        "# sat idle waiting for deliveries); unlimited kept up with everything offered.",
        "max_inflight_messages 0",
        "log_dest file " + os.path.join(out, "mosquitto.log"),
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
        "",
        "listener %d %s" % (port, bind),
        "# A client's id is its user name: no credential can take over another's session.",
        "# (A listener setting: every listener needs it.)",
        "use_username_as_clientid true",
    ]
    if tls is not None:
        ca, cert, key = tls
        lines += ["", ("listener %d %s" % (tls_port, tls_bind)).strip(), "use_username_as_clientid true",
                  "cafile " + ca, "certfile " + cert, "keyfile " + key, "tls_version tlsv1.2"]
    return "\n".join(lines) + "\n"


def station_ids(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    ids = [s.strip() for s in args.stations.split(",") if s.strip()]
    problems: list[str] = []
    if args.stations_file:
        try:
            with open(args.stations_file, encoding="utf-8") as fh:
                ids += [line.strip() for line in fh if line.strip() and not line.startswith("#")]
        except OSError as exc:
            problems.append("--stations-file=%r: cannot read (%s)" % (args.stations_file, exc.strerror))
    for sid in ids:
        if not codec.valid_id(sid):
            problems.append("station id %r: must be 1-64 of A-Z a-z 0-9 _ -" % sid)
        elif sid in RESERVED or sid.startswith(SUPERVISOR_USER + "-"):
            problems.append("station id %r: reserved for the broker's own users" % sid)
    if len(set(ids)) != len(ids):
        problems.append("station ids repeat: %s" % ", ".join(sorted({s for s in ids if ids.count(s) > 1})))
    if not ids:
        problems.append("no stations: give --stations a,b,c or --stations-file")
    return ids, problems


def collector_platforms(specs: list[tuple[str, str]], collector_ids: list[str], taken: set[str]) -> tuple[
        dict[str, list[str]], list[str]]:
    """{platform user: [its collector ids]} from (user, prefix) pairs, or the problems."""
    problems: list[str] = []
    out: dict[str, list[str]] = {}
    for user, prefix in specs:
        if not codec.valid_id(user):
            problems.append("collector platform user %r: must be 1-64 of A-Z a-z 0-9 _ -" % user)
        elif user in taken or user in RESERVED or user.startswith(SUPERVISOR_USER + "-"):
            problems.append("collector platform user %r: already a station or one of the broker's own users" % user)
        elif user in out:
            problems.append("collector platform user %r: given twice" % user)
        elif not prefix:
            problems.append("collector platform %r: empty prefix would allow every collector" % user)
        else:
            out[user] = [cid for cid in collector_ids if cid.startswith(prefix)]
            if not out[user]:
                problems.append("collector platform %r prefix %r: matches none of the %d known collector ids"
                                % (user, prefix, len(collector_ids)))
    return out, problems


def _platform_args(args: argparse.Namespace, stations: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    problems: list[str] = []
    specs: list[tuple[str, str]] = []
    for item in args.collector_platform:
        user, sep, prefix = item.partition("=")
        if not sep:
            problems.append("--collector-platform=%r: must be USER=PREFIX" % item)
        else:
            specs.append((user.strip(), prefix.strip()))
    ids = [c.strip() for c in args.collectors.split(",") if c.strip()]
    if args.collectors_file:
        header, rows, problem = read_csv(args.collectors_file)
        if problem:
            problems.append("--collectors-file=%r: %s" % (args.collectors_file, problem))
        elif "id" not in header:
            problems.append("--collectors-file=%r: needs an `id` column" % args.collectors_file)
        else:
            ids += [str(row["id"]).strip() for row in rows if row.get("id")]
    bad = [c for c in ids if not codec.valid_id(c)]
    if bad:
        problems.append("collector ids %s: must be 1-64 of A-Z a-z 0-9 _ -" % ", ".join(repr(c) for c in bad[:5]))
    if specs and not ids:
        problems.append("--collector-platform needs the collector ids: --collectors or --collectors-file")
    platforms, found = collector_platforms(specs, ids, set(stations))
    return platforms, problems + found


def default_run_as() -> str:
    """Who Mosquitto should run as: Debian's `mosquitto` user when there is one, else the caller."""
    try:
        return pwd.getpwnam("mosquitto").pw_name
    except KeyError:
        return pwd.getpwuid(os.geteuid()).pw_name


def _share_with(path: str, uid: int, gid: int, owner: bool) -> None:
    """Root only: give `path` to uid (owner=True) or to gid's group for reading."""
    if owner:
        os.chown(path, uid, gid)
    else:
        os.chown(path, 0, gid)
        os.chmod(path, 0o640)


def write(out: str, stations: list[str], port: int = 1883, bind: str = "127.0.0.1",
          tls: tuple[str, str, str] | None = None, tls_port: int = 8883, as_root: bool = False,
          max_queued: int = DEFAULT_MAX_QUEUED, *, platforms: dict[str, list[str]] | None = None,
          ingest_processes: int = 0, run_as: str = "", max_queued_mib: int = DEFAULT_MAX_QUEUED_MIB,
          memory_limit_mib: int = DEFAULT_MEMORY_LIMIT_MIB, tls_bind: str = "",
          sup_user: str = SUPERVISOR_USER, credentials_dir: str = "") -> dict[str, str]:
    """Write the files; returns {user: password}. When run as root with a `run_as` user other
    than root, that user gets the data folder and the log, and its group reads passwd and acl,
    so `mosquitto -c DIR/mosquitto.conf` works as root (Mosquitto drops to that user)."""
    out = os.path.abspath(out)
    data = os.path.join(out, "data")
    os.makedirs(data, exist_ok=True)
    sup = supervisor_users(sup_user, ingest_processes)
    creds = ensure_credentials(credentials_dir or os.path.join(out, "credentials"),
                               [*sup, *sorted(platforms or {}), *stations])
    passwd = os.path.join(out, "passwd")
    with open(passwd + ".tmp", "w", encoding="utf-8") as fh:
        for user, password in creds.items():
            fh.write("%s:%s\n" % (user, mosquitto_hash(password)))
    os.chmod(passwd + ".tmp", 0o640)
    os.replace(passwd + ".tmp", passwd)
    acl = os.path.join(out, "acl")
    with open(acl, "w", encoding="utf-8") as fh:
        fh.write(acl_text(sup, platforms))
    with open(os.path.join(out, "mosquitto.conf"), "w", encoding="utf-8") as fh:
        fh.write(conf_text(out, port, bind, tls, tls_port, as_root, max_queued, run_as, max_queued_mib,
                           memory_limit_mib, tls_bind))
    log_path = os.path.join(out, "mosquitto.log")
    if not os.path.exists(log_path):
        open(log_path, "a").close()  # noqa: SIM115 - created empty, for its owner below
    if os.geteuid() == 0 and run_as and run_as != "root" and not as_root:
        entry = pwd.getpwnam(run_as)
        for path in (data, log_path):
            _share_with(path, entry.pw_uid, entry.pw_gid, owner=True)
        for name in os.listdir(data):
            _share_with(os.path.join(data, name), entry.pw_uid, entry.pw_gid, owner=True)
        for path in (passwd, acl):
            _share_with(path, entry.pw_uid, entry.pw_gid, owner=False)
    return creds


def unreachable_for(user: str, paths: list[str]) -> list[str]:
    """Notes on files `user` could not read and folders it could not pass (checked from the
    mode bits, so it works for another user while we run as root)."""
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return ["--run-as=%r: no such system user" % user]
    if entry.pw_uid == 0:
        return []
    groups = {entry.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}

    def allowed(st: os.stat_result, bits: tuple[int, int, int]) -> bool:
        if st.st_uid == entry.pw_uid:
            return bool(st.st_mode & bits[0])
        if st.st_gid in groups:
            return bool(st.st_mode & bits[1])
        return bool(st.st_mode & bits[2])

    notes: list[str] = []
    seen: set[str] = set()
    for path in paths:
        folder = os.path.dirname(path)
        while folder not in seen and folder != os.path.dirname(folder):
            seen.add(folder)
            if not allowed(os.stat(folder), (stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)):
                notes.append("user %s cannot enter %s (mode %o): `chmod o+x %s`, or choose --out elsewhere"
                             % (user, folder, stat.S_IMODE(os.stat(folder).st_mode), folder))
            folder = os.path.dirname(folder)
        if os.path.exists(path) and not allowed(os.stat(path), (stat.S_IRUSR, stat.S_IRGRP, stat.S_IROTH)):
            notes.append("user %s cannot read %s: `chgrp %s %s; chmod g+r %s`"
                         % (user, path, grp.getgrgid(entry.pw_gid).gr_name, path, path))
    return notes


def run(args: argparse.Namespace) -> int:
    stations, problems = station_ids(args)
    platforms, platform_problems = _platform_args(args, stations)
    problems += platform_problems
    tls_parts = (args.tls_ca, args.tls_cert, args.tls_key)
    if any(tls_parts) and not all(tls_parts):
        problems.append("TLS needs all of --tls-ca, --tls-cert and --tls-key")
    for flag, value in (("--port", args.port), ("--tls-port", args.tls_port)):
        if not 1 <= value <= 65535:
            problems.append("%s=%r: must be in [1, 65535]" % (flag, value))
    if not is_loopback(args.bind) and not args.insecure_plaintext:
        problems.append("--bind=%r: a plaintext listener off loopback sends every password and reading in clear; "
                        "keep --bind 127.0.0.1 and let remote clients use the TLS listener (--tls-ca, --tls-cert, "
                        "--tls-key), or say --insecure-plaintext" % args.bind)
    if args.max_queued_messages < 1000:
        problems.append("--max-queued-messages=%d: must be >= 1000" % args.max_queued_messages)
    if not 1 <= args.max_queued_mib <= 65536:
        problems.append("--max-queued-mib=%d: must be in [1, 65536]" % args.max_queued_mib)
    if not args.max_queued_mib * 2 <= args.memory_limit_mib <= 1048576:
        problems.append("--memory-limit-mib=%d: must be in [2 x --max-queued-mib = %d, 1048576]"
                        % (args.memory_limit_mib, args.max_queued_mib * 2))
    if not 0 <= args.ingest_processes <= 64:
        problems.append("--ingest-processes=%d: must be in [0, 64]" % args.ingest_processes)
    run_as = "root" if args.run_as_root else (args.run_as or default_run_as())
    try:
        pwd.getpwnam(run_as)
    except KeyError:
        problems.append("--run-as=%r: no such system user" % run_as)
    if problems:
        print("broker-config: %d problem(s):\n  %s" % (len(problems), "\n  ".join(problems)), file=sys.stderr)
        return 2
    tls = (os.path.abspath(args.tls_ca), os.path.abspath(args.tls_cert), os.path.abspath(args.tls_key)) \
        if all(tls_parts) else None
    out = os.path.abspath(args.out)
    creds = write(out, stations, args.port, args.bind, tls, args.tls_port, run_as == "root", args.max_queued_messages,
                  platforms=platforms, ingest_processes=args.ingest_processes, run_as=run_as,
                  max_queued_mib=args.max_queued_mib, memory_limit_mib=args.memory_limit_mib)
    print("wrote %s/{mosquitto.conf,passwd,acl} and %d credential files in %s/credentials" % (out, len(creds), out))
    if os.geteuid() == 0:
        files = [os.path.join(out, "passwd"), os.path.join(out, "acl"), os.path.join(out, "mosquitto.log"),
                 *(tls or ())]
        for note in unreachable_for(run_as, files):
            print("note: " + note)
    print("run: mosquitto -c %s" % os.path.join(out, "mosquitto.conf"))
    return 0
