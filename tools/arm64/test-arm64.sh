#!/usr/bin/env bash
# Builds the compiled core for aarch64 and runs the core tests there, under emulation:
# an arm64 Debian root made by debootstrap, run through qemu-user-static (binfmt_misc).
# The root is made once (about 5 minutes) and kept in $HEATKEEPER_ARM64_ROOT (default var/arm64-root).
# Needs root (debootstrap, chroot, binfmt registration).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=${HEATKEEPER_ARM64_ROOT:-$PWD/var/arm64-root}
MIRROR=${HEATKEEPER_DEBIAN_MIRROR:-http://deb.debian.org/debian}
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then echo "test-arm64: needs root (debootstrap, chroot)" >&2; exit 2; fi
for pkg in qemu-user-static debootstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || {
    apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null; }
done

# Let the kernel run aarch64 binaries through qemu (F: the interpreter is opened now, so it also works in the chroot).
[ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register
fi

if [ ! -e "$ROOT/.heatkeeper-ready" ]; then
  echo "test-arm64: making the arm64 Debian root in $ROOT (once)"
  rm -rf "$ROOT"; mkdir -p "$(dirname "$ROOT")"
  debootstrap --arch=arm64 --variant=minbase --include=python3,python3-dev,python3-venv,gcc,libc6-dev \
    bookworm "$ROOT" "$MIRROR" >/dev/null
  mkdir -p "$ROOT/etc/ssl/certs"
  cp /etc/resolv.conf "$ROOT/etc/" 2>/dev/null || true
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/" 2>/dev/null || true
  chroot "$ROOT" /bin/sh -c 'python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --upgrade pip setuptools wheel "cython>=3.1,<3.3" pytest pytest-timeout pytest-asyncio'
  touch "$ROOT/.heatkeeper-ready"
fi

# A clean copy of the tracked sources (no x86 build artefacts).
rm -rf "$ROOT/opt/heatkeeper"; mkdir -p "$ROOT/opt/heatkeeper"
git ls-files -z core setup.py pyproject.toml conftest.py README.md requirements.txt firmware/__init__.py \
  supervisor/__init__.py tools/__init__.py tools/plant | tar --null -T - -cf - | tar -xf - -C "$ROOT/opt/heatkeeper"

chroot "$ROOT" /bin/sh -ec '
  cd /opt/heatkeeper
  echo "test-arm64: $(uname -m), $(/opt/venv/bin/python -V)"
  HEATKEEPER_REQUIRE_CEXT=1 /opt/venv/bin/python setup.py -q build_ext --inplace 2>&1 | grep -v -i warn || true
  /opt/venv/bin/pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -i error || true
  file_of() { ls core/units*.so; }
  echo "test-arm64: compiled $(ls core/*.so tools/plant/*.so 2>/dev/null | wc -l) modules, e.g. $(file_of)"
  echo "test-arm64: compiled leg"
  HEATKEEPER_REQUIRE_CEXT=1 /opt/venv/bin/python -m pytest -q -p no:cacheprovider core
  echo "test-arm64: interpreted leg"
  HEATKEEPER_DISABLE_CEXT=1 /opt/venv/bin/python -m pytest -q -p no:cacheprovider core
'
echo "test-arm64: done in $(( $(date +%s) - start )) s"
