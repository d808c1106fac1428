#!/usr/bin/env bash
# Creates .venv with Python 3.11 and installs what a mode needs; a no-op when nothing changed.
#   bash scripts/bootstrap.sh        the test suite's needs: the project with its dev extras, and
#                                    axe-core (npm) for the browser tests
#   bash scripts/bootstrap.sh run    the run command's: the project and its runtime dependencies only
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-dev}

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
  echo "Creating .venv and installing the platform (a minute or two, once)..."
  "$PY" -m venv .venv
fi
# One stamp per mode and pyproject.toml: the dev install includes everything the run needs.
hash=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f ".venv/.installed-dev-$hash" ] && { [ "$MODE" = dev ] || [ ! -f ".venv/.installed-run-$hash" ]; }; then
  target=.
  [ "$MODE" = dev ] && target='.[dev]'
  # -qq: the installer's own notices (mirror locations, build backend chatter) are not the user's
  # business; errors still show.
  .venv/bin/python -m pip install -qq --disable-pip-version-check -e "$target"
  rm -f .venv/.installed-"$MODE"-*
  touch ".venv/.installed-$MODE-$hash"
fi

# axe-core (npm) for the browser tests' accessibility scans: `npm ci` from the committed lock file,
# again only when package-lock.json changes. Without npm (or the registry) the browser tests skip,
# or fail when CI=true. The run command does not need it.
if [ "$MODE" = dev ] && [ -f package-lock.json ]; then
  npm_stamp=node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)
  if [ ! -f "$npm_stamp" ]; then
    if command -v npm >/dev/null 2>&1 && npm ci --no-audit --no-fund --loglevel=error; then
      touch "$npm_stamp"
    else
      echo "npm ci failed or npm is missing: the browser tests will not find axe-core." >&2
    fi
  fi
fi
