#!/usr/bin/env bash
# Installs the Debian packages heatkeeper's demo and tests need, only those missing.
# Run as root (or with sudo available). Safe to run again.
set -euo pipefail
need=()
have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# faketime: the HIL rig and the soak run the station on an accelerated clock (libfaketime).
# fonts-wqy-microhei: Chinese glyphs for the dashboard in the headless-browser test and screenshots.
# strace: a test follows SQLite's syncs to disk (what the supervisor acked survives a power cut).
for pkg in python3-venv nodejs npm mosquitto mosquitto-clients socat postgresql chromium chromium-driver faketime fonts-wqy-microhei strace; do
  case "$pkg" in
    python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null && continue ;;
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  have "$pkg" || need+=("$pkg")
done
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
echo "heatkeeper: installing Debian packages: ${need[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The test suites start their own Mosquitto and PostgreSQL on loopback; the packaged services stay off.
for svc in mosquitto postgresql; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then $SUDO systemctl stop "$svc" || true; fi
done
