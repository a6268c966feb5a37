#!/usr/bin/env bash
# AI Transcribe: the one entry point.
#
#   bash run_all.sh                          set up, then run every stage on the embedded demo (params/demo.yaml)
#   bash run_all.sh --params params/ci.yaml  the same at CI size (reports/ci/)
#   bash run_all.sh --from 02 --to 04        only stages 02..04
#   bash run_all.sh --test                   set up, then run the whole test suite (unit, notebooks, CI pipeline)
#   bash run_all.sh --setup-only             only set up (apt packages, .venv, kernel, KenLM tools)
#   bash run_all.sh --setup-intel            also build .venv-intel (torch 2.8 + IPEX 2.8 for stage 07's IPEX arms:
#                                            ~4.1 GB to download, 7.4 GB on disk); without it those arms are skipped
#
# Set-up installs only what is missing: Debian packages (apt; chromium and chromium-driver test the review pages),
# a .venv with the versions pinned in environment-stock.yml, the "aitranscribe" Jupyter kernel, JupyterLab settings
# that fetch no news and check for no updates, and KenLM's lmplz/build_binary built from the kenlm source distribution into .cache/kenlm.
# Re-running is cheap and idempotent.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
VENV="$ROOT/.venv"
INTEL_VENV="$ROOT/.venv-intel"
APT_PACKAGES=(espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox numactl wordnet-base cmake g++ make
              libboost-program-options-dev libboost-system-dev libboost-thread-dev libboost-test-dev
              libeigen3-dev zlib1g-dev libbz2-dev liblzma-dev
              chromium chromium-driver)  # the review pages' tests: headless Chromium driven by Selenium, offline

say() { printf '\033[1m[run_all]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[31m[run_all] error:\033[0m %s\n' "$*" >&2; exit 1; }

params="params/demo.yaml"; from=""; to=""; mode="run"; intel=0
while [ $# -gt 0 ]; do
  case "$1" in
    --params) params=${2:?--params needs a file}; shift 2 ;;
    --from) from=${2:?--from needs a stage number}; shift 2 ;;
    --to) to=${2:?--to needs a stage number}; shift 2 ;;
    --test) mode="test"; shift ;;
    --setup-only) mode="setup"; shift ;;
    --setup-intel) intel=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see bash run_all.sh --help)" ;;
  esac
done

pip_list() {  # the pinned pip requirements of an environment-*.yml, one per line
  awk '/^ *- pip:/ {in_pip=1; next} in_pip && /^ *- / {sub(/^ *- */, ""); sub(/ *#.*$/, ""); print; next} in_pip && !/^ *#/ {in_pip=0}' "$1"
}

setup_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get: install them by hand"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  say "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

setup_venv() {  # setup_venv DIR YML
  local dir=$1 yml=$2 stamp="$1/.requirements"
  local wanted
  wanted=$(pip_list "$yml")
  [ -n "$wanted" ] || die "$yml: no pip requirements found"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ] && "$dir/bin/python" -c "import aitranscribe" 2>/dev/null; then
    return 0
  fi
  "$PYTHON" -c 'import sys; assert sys.version_info[:2] >= (3, 10), sys.version' 2>/dev/null \
    || die "$PYTHON is not Python >= 3.10 (set PYTHON=/path/to/python3.11)"
  [ -x "$dir/bin/python" ] || { say "creating $dir"; "$PYTHON" -m venv "$dir"; }
  say "installing pinned packages from $yml into $dir (a few minutes the first time)"
  "$dir/bin/python" -m pip install -q --upgrade pip
  # shellcheck disable=SC2086
  echo "$wanted" | xargs "$dir/bin/python" -m pip install -q || die "pip install from $yml failed"
  "$dir/bin/python" -m pip install -q --no-deps -e "$ROOT" || die "installing the kit (editable) failed"
  echo "$wanted" > "$stamp"
}

setup_intel() {  # .venv-intel: torch 2.8 (the registry's CUDA build) + IPEX 2.8 for stage 07's IPEX arms
  if [ ! -x "$INTEL_VENV/bin/python" ]; then
    local free_gb
    free_gb=$(df -Pk "$ROOT" | awk 'NR == 2 {print int($4 / 1048576)}')
    [ "$free_gb" -ge 12 ] || die "building .venv-intel needs about 12 GB free in $ROOT (7.4 GB installed, plus the \
4.1 GB of wheels pip holds meanwhile), and $free_gb GB are free: free some space, or run without --setup-intel \
(stage 07 then skips its IPEX arms and says so)"
    say "building .venv-intel (torch 2.8 + IPEX 2.8: ~4.1 GB to download, 7.4 GB on disk, about 5 minutes)"
  fi
  setup_venv "$INTEL_VENV" environment-intel.yml
}

setup_kernel() {
  "$VENV/bin/jupyter" kernelspec list 2>/dev/null | grep -q '^ *aitranscribe ' && return 0
  say "registering the Jupyter kernel 'aitranscribe'"
  "$VENV/bin/python" -m ipykernel install --sys-prefix --name aitranscribe --display-name "Python (aitranscribe)" >/dev/null
}

setup_jupyter_offline() {  # JupyterLab of .venv: no news feed, no update check (see aitranscribe/core/jupyter_offline.py)
  "$VENV/bin/python" -m aitranscribe.core.jupyter_offline --prefix "$VENV" >/dev/null \
    || die "writing JupyterLab's offline settings into $VENV failed"
}

setup_kenlm() {
  PYTHON="$VENV/bin/python" bash "$ROOT/tools/build_kenlm.sh" "$ROOT/.cache/kenlm" || die "building KenLM's lmplz failed"
}

setup() {
  setup_apt
  setup_venv "$VENV" environment-stock.yml
  setup_kernel
  setup_jupyter_offline
  # OpenVINO's model converter asks for telemetry consent: record a decline once.
  [ -x "$VENV/bin/opt_in_out" ] && "$VENV/bin/opt_in_out" --opt_out >/dev/null 2>&1 || true
  setup_kenlm
  if [ "$intel" -eq 1 ]; then setup_intel; fi
}

# Nothing leaves the machine: no hub look-ups, no telemetry.
export PYTHONNOUSERSITE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 \
       OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
setup
case "$mode" in
  setup) say "set-up complete" ;;
  test)
    say "running the test suite"
    "$VENV/bin/python" -m pytest tests notebooks --nbval-lax -p no:cacheprovider -q --durations=25  # prints the 25 slowest: where the suite's time goes
    ;;
  run)
    [ -f "$params" ] || die "$params: no such parameter profile"
    needs=$("$VENV/bin/python" -m aitranscribe.pipeline --params "$params" ${from:+--from "$from"} ${to:+--to "$to"} \
            --needs-intel 2>/dev/null | tail -n 1 || true)  # a bad profile is reported by the run below
    # .venv-intel is built when asked (--setup-intel, above) or when stage 06 transcribes with IPEX; once it exists,
    # runs keep its pinned packages up to date. Otherwise stage 07 skips its IPEX arms and its report says how to add them.
    if [ "$needs" = "required" ] || { [ "$needs" = "optional" ] && [ -x "$INTEL_VENV/bin/python" ]; }; then
      [ -x "$INTEL_VENV/bin/python" ] || say "the profile transcribes with backend ipex, which runs in .venv-intel"
      setup_intel
    elif [ "$needs" = "optional" ]; then
      say "stage 07's IPEX arms (stock-2.8, ipex, ipex-bf16) will be skipped: .venv-intel is built only on request, as torch 2.8 exists only as a CUDA build (~4.1 GB to download, 7.4 GB on disk). To add them afterwards: bash run_all.sh --setup-intel --params $params --from 07"
    fi
    say "running the pipeline with $params"
    "$VENV/bin/python" -m aitranscribe.pipeline --params "$params" ${from:+--from "$from"} ${to:+--to "$to"} \
      || die "the pipeline failed (see the message above)"
    say "done: reports in $("$VENV/bin/python" -m aitranscribe.pipeline --params "$params" --reports-dir)/"
    ;;
esac
