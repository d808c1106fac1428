#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs the project; a no-op when pyproject.toml is unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      PY=$candidate; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11 is required (set PYTHON=/path/to/python3.11)." >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# axe-core (npm) for the browser tests' accessibility scans: `npm ci` from the committed lock file,
# again only when package-lock.json changes. Without npm (or the registry) the browser tests skip,
# or fail when CI=true.
if [ -f package-lock.json ]; then
  npm_stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
  if [ ! -f "$npm_stamp" ]; then
    if command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund --loglevel=error; then
      touch "$npm_stamp"
    else
      echo "npm ci failed or npm is missing: the browser tests will not find axe-core." >&2
    fi
  fi
fi
