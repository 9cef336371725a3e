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
echo "splitbench installed in $(pwd)/.venv"
