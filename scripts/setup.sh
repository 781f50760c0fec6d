#!/usr/bin/env bash
# Installs what Pare needs on a fresh Debian machine (idempotent; quiet when all is there).
set -euo pipefail
# openmpi: `mpirun -np P pare search` and its test (the binary itself loads MPI only under mpirun);
# libdnnl-dev: oneDNN, the int8 inference path; libpng-dev, libjpeg62-turbo-dev: image folders.
packages=(libopenblas-dev libgsl-dev zlib1g-dev pkg-config dataset-fashion-mnist gzip openmpi-bin libopenmpi-dev libdnnl-dev libpng-dev libjpeg62-turbo-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: swift not found on PATH (Swift 6.x toolchain needed)" >&2; exit 1; }
# Python with onnxruntime (from PyPI) for the ONNX export check in the test suite; Pillow
# writes and resizes the images the image-folder tests compare with.
if ! .venv/bin/python -c "import onnxruntime, onnx, numpy, PIL" 2>/dev/null; then
  echo "setup: creating .venv with onnxruntime, onnx, numpy, pillow" >&2
  if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3 python3-venv >/dev/null
  fi
  rm -rf .venv
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6 pillow==13.0.0
fi
