#!/usr/bin/env bash
# Builds the compiled core for aarch64 and runs the core tests there, under emulation:
# an arm64 Debian root made by debootstrap, run through qemu-user-static (binfmt_misc).
# The root is made once (about 5 minutes) and kept in $HEATKEEPER_ARM64_ROOT (default var/arm64-root).
# Only core is copied in and only core's modules are compiled, once (HEATKEEPER_CEXT_PACKAGES);
# the tests import it through a PYTHONPATH folder that maps heatkeeper.core onto the copy, so
# nothing is installed and nothing is compiled a second time. Core's tests need no tools.
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
  chroot "$ROOT" /bin/sh -c 'python3 -m venv /opt/venv && /opt/venv/bin/pip install -q --upgrade pip setuptools wheel "cython>=3.1,<3.3" pytest pytest-timeout pytest-asyncio hypothesis'
  touch "$ROOT/.heatkeeper-ready"
fi
# Roots made before the root conftest.py loaded a Hypothesis profile lack it.
chroot "$ROOT" /opt/venv/bin/python -c "import hypothesis" 2>/dev/null || chroot "$ROOT" /opt/venv/bin/pip install -q hypothesis

# A fresh copy of core's tracked sources (no x86 build artefacts); heatkeeper.core maps onto it.
# The aarch64 build of the previous run is carried over, and Cython and build_ext redo only the
# modules whose .py or .pxd changed since (a changed .pxd also rebuilds the modules that cimport
# it). "Changed" is judged by content, not by the checkout's file times (a merge or another
# worktree can leave a changed source older than the last build): every source is dated
# 2000-01-01, then the ones whose SHA-256 differs from the last successful build's are dated now.
SRC=$ROOT/opt/heatkeeper
MANIFEST=$ROOT/opt/heatkeeper-built.sha256
rm -rf "$SRC.new" "$ROOT/opt/heatkeeper-path"; mkdir -p "$SRC.new" "$ROOT/opt/heatkeeper-path/heatkeeper"
git ls-files -z core setup.py pyproject.toml conftest.py | tar --null -T - -cf - | tar -xf - -C "$SRC.new"
(
  cd "$SRC.new"
  find . -type f \( -name '*.py' -o -name '*.pxd' \) | sort | xargs sha256sum > ../heatkeeper-sources.sha256
  find . -type f \( -name '*.py' -o -name '*.pxd' \) -exec touch -d 2000-01-01 {} +
  if [ -f "$MANIFEST" ]; then
    grep -vxF -f "$MANIFEST" ../heatkeeper-sources.sha256 | cut -c67- | xargs -r touch
  else
    find . -type f \( -name '*.py' -o -name '*.pxd' \) -exec touch {} +   # no record of the last build
  fi
)
if [ -d "$SRC/build" ]; then
  mv "$SRC/build" "$SRC.new/build"
  for built in "$SRC"/core/*.c "$SRC"/core/*.so; do
    [ -e "$built" ] || continue
    module=$(basename "$built"); module=${module%%.*}
    [ -e "$SRC.new/core/$module.pxd" ] && mv "$built" "$SRC.new/core/"
  done
fi
rm -rf "$SRC"; mv "$SRC.new" "$SRC"
ln -s /opt/heatkeeper/core "$ROOT/opt/heatkeeper-path/heatkeeper/core"
echo "test-arm64: root ready after $(( $(date +%s) - start )) s"

rm -f "$MANIFEST"
chroot "$ROOT" /bin/sh -ec '
  cd /opt/heatkeeper
  # an install left by an older version of this script would shadow the mapping
  ! ls /opt/venv/lib/python3*/site-packages | grep -qi "^heatkeeper" || /opt/venv/bin/pip uninstall -q -y heatkeeper
  echo "test-arm64: $(uname -m), $(/opt/venv/bin/python -V)"
  t0=$(date +%s)
  # -g0: no debug information (it nearly triples the compile time: pi.c 23 s with -g, 8 s with -g0 on
  # the x86 host); the code is the same -O2 build that ships
  HEATKEEPER_REQUIRE_CEXT=1 HEATKEEPER_CEXT_PACKAGES=heatkeeper.core CFLAGS=-g0 \
    /opt/venv/bin/python setup.py -q build_ext --inplace -j 2 2>&1 | grep -v -i warn || true
  echo "test-arm64: $(ls core/*.so | wc -l) compiled modules (build took $(( $(date +%s) - t0 )) s), e.g. $(ls core/units*.so)"
'
# the build is complete: the next run compiles only what differs from these sources
mv "$ROOT/opt/heatkeeper-sources.sha256" "$MANIFEST"
chroot "$ROOT" /bin/sh -ec '
  cd /opt/heatkeeper
  export PYTHONPATH=/opt/heatkeeper-path
  echo "test-arm64: compiled leg"
  t0=$(date +%s)
  HEATKEEPER_REQUIRE_CEXT=1 /opt/venv/bin/python -m pytest -q -p no:cacheprovider core
  echo "test-arm64: compiled leg took $(( $(date +%s) - t0 )) s"
  echo "test-arm64: interpreted leg"
  t0=$(date +%s)
  HEATKEEPER_DISABLE_CEXT=1 /opt/venv/bin/python -m pytest -q -p no:cacheprovider core
  echo "test-arm64: interpreted leg took $(( $(date +%s) - t0 )) s"
'
echo "test-arm64: done in $(( $(date +%s) - start )) s"
