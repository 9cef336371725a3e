#!/usr/bin/env bash
# One-step set-up on a fresh machine with Python 3.11: Debian's adb (for the emulated-phone
# tests and for real phones), mksh and busybox (Android-like shells, to test the on-device
# runner under more than dash), gcc is used by one test when present, and a
# virtual environment in .venv with splitbench and its test tools.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v adb >/dev/null 2>&1 || need+=(adb)
command -v mksh >/dev/null 2>&1 || need+=(mksh)
command -v busybox >/dev/null 2>&1 || need+=(busybox)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v g++ >/dev/null 2>&1 || need+=(g++)  # nncodec compiles its C++ coder
# Debian's browser and its driver: the report.html and Model Explorer tests open the pages in a
# real headless Chromium (no browser is downloaded by any Python package).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  echo "installing Debian packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "splitbench needs Python 3.11"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch is pinned to 2.13.0 in the same command (the CPU build these machines carry): a looser
# spec resolves to another version or pulls several GB of CUDA packages.
.venv/bin/python -m pip install -q --disable-pip-version-check torch==2.13.0 -e ".[test]"
# facenet-pytorch ships MTCNN's trained P/R/O-Net weights; it pins an old torch and torchvision
# it does not need, so it goes in without its dependencies (torch still pinned in the command).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps torch==2.13.0 \
  facenet-pytorch==2.6.0

# nncodec==2.1.3 (NNC, ISO/IEC 15938-17) is a source package that compiles its C++ DeepCABAC coder
# (about 4 minutes): its wheel is built once into the user cache and every later install reuses
# it. --no-deps: it declares numpy<2 and torchvision, which splitbench's use of nncodec.nnc_core
# does not need (nnc_core codes bit-exactly on numpy 2).
NNC_WHEELS="${SPLITBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/splitbench}/wheels"
mkdir -p "$NNC_WHEELS"
if ! ls "$NNC_WHEELS"/nncodec-2.1.3-*.whl >/dev/null 2>&1; then
  echo "building nncodec==2.1.3 once into $NNC_WHEELS (compiles C++, a few minutes)"
  .venv/bin/python -m pip wheel -q --disable-pip-version-check --no-deps nncodec==2.1.3 \
    -w "$NNC_WHEELS"
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps \
  --find-links "$NNC_WHEELS" torch==2.13.0 nncodec==2.1.3
echo "splitbench installed in $(pwd)/.venv"
