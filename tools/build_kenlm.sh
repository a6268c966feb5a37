#!/usr/bin/env bash
# Build KenLM's `lmplz` and `build_binary` into DEST_DIR/bin.
#
# Usage: bash tools/build_kenlm.sh DEST_DIR
#   env PYTHON   python whose pip downloads the sources (default: <repo>/.venv/bin/python)
#   env JOBS     parallel compile jobs (default: 2)
#
# The kenlm wheel on PyPI only holds the Python query module; the two command
# line tools come from the kenlm source distribution (pinned, sha256 checked),
# compiled with cmake. Exits at once when both binaries are already present and run.
#
# Debian 12 packages it needs (the caller installs them):
#   cmake g++ make libboost-program-options-dev libboost-system-dev
#   libboost-thread-dev libboost-test-dev libeigen3-dev zlib1g-dev libbz2-dev liblzma-dev
set -euo pipefail

KENLM_VERSION=0.3.0
KENLM_SDIST_SHA256=c4628bb9fb63c8a6f9240035b8b037385cfc404cb72e933cf48878291edac1e8
TOOLS=(lmplz build_binary)

say() { echo "[build_kenlm] $*"; }
die() { echo "[build_kenlm] ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DEST_DIR"
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1/bin"
DEST_DIR="$(cd "$1" && pwd)"
BIN_DIR="$DEST_DIR/bin"
PYTHON="${PYTHON:-$REPO_ROOT/.venv/bin/python}"
JOBS="${JOBS:-2}"

# A tool "runs" when the loader can start it: exit codes 126/127 mean not executable
# or missing shared libraries; `--help` itself may exit non-zero.
tool_runs() {
  local rc=0
  [ -x "$1" ] || return 1
  "$1" --help >/dev/null 2>&1 </dev/null || rc=$?
  [ "$rc" -lt 126 ]
}

all_ok=1
for t in "${TOOLS[@]}"; do tool_runs "$BIN_DIR/$t" || all_ok=0; done
if [ "$all_ok" = 1 ]; then
  say "lmplz and build_binary already in $BIN_DIR"
  exit 0
fi

for cmd in cmake g++ make sha256sum tar; do
  command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' not found; install the Debian packages listed at the top of $0"
done
[ -x "$PYTHON" ] || command -v "$PYTHON" >/dev/null 2>&1 || die "python '$PYTHON' not found (set PYTHON=...)"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/build_kenlm.XXXXXX")"
LOG="$DEST_DIR/build_kenlm.log"
trap 'rm -rf "$WORK"' EXIT
: >"$LOG"
started=$SECONDS

fail() {
  echo "[build_kenlm] ERROR: $1 failed; last lines of $LOG:" >&2
  tail -n 30 "$LOG" >&2
  exit 1
}

say "downloading kenlm==$KENLM_VERSION source distribution with $PYTHON -m pip"
# pip prepares the sdist's metadata even for a download. Without build isolation this
# needs only setuptools in the venv; otherwise fall back to an isolated build env whose
# build requirements come as wheels (never `--no-binary :all:` there: it would compile
# cmake itself from source).
if ! "$PYTHON" -m pip download --disable-pip-version-check --no-deps --no-binary kenlm \
      --no-build-isolation "kenlm==$KENLM_VERSION" -d "$WORK/dl" >>"$LOG" 2>&1; then
  say "retrying the download with pip build isolation"
  rm -rf "$WORK/dl"
  "$PYTHON" -m pip download --disable-pip-version-check --no-deps --no-binary kenlm \
      "kenlm==$KENLM_VERSION" -d "$WORK/dl" >>"$LOG" 2>&1 || fail "pip download"
fi
SDIST="$WORK/dl/kenlm-$KENLM_VERSION.tar.gz"
[ -f "$SDIST" ] || die "pip did not produce $SDIST (got: $(ls "$WORK/dl" | tr '\n' ' '))"
got_sha="$(sha256sum "$SDIST" | cut -d' ' -f1)"
[ "$got_sha" = "$KENLM_SDIST_SHA256" ] \
  || die "sha256 mismatch for $SDIST: expected $KENLM_SDIST_SHA256, got $got_sha"
say "sha256 ok ($got_sha)"

tar -xzf "$SDIST" -C "$WORK"
SRC="$WORK/kenlm-$KENLM_VERSION"
[ -f "$SRC/lm/builder/lmplz_main.cc" ] || die "$SDIST has no lm/builder sources"

say "configuring (cmake, Release)"
cmake -S "$SRC" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
      -DCOMPILE_TESTS=OFF -DENABLE_PYTHON=OFF >>"$LOG" 2>&1 || fail "cmake configure"

say "compiling ${TOOLS[*]} with -j$JOBS (a few minutes; log: $LOG)"
cmake --build "$WORK/build" --target "${TOOLS[@]}" -j "$JOBS" >>"$LOG" 2>&1 || fail "cmake build"

for t in "${TOOLS[@]}"; do
  built="$WORK/build/bin/$t"
  tool_runs "$built" || die "built $built does not run"
  tmp="$BIN_DIR/.$t.tmp.$$"
  cp "$built" "$tmp"
  chmod 755 "$tmp"
  mv -f "$tmp" "$BIN_DIR/$t"
done
say "installed ${TOOLS[*]} into $BIN_DIR in $((SECONDS - started)) s"
