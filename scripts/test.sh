#!/usr/bin/env bash
# Runs the test suite: lint (ruff, DTZ rules), migration check, then pytest against PostgreSQL and a
# Redis-backed Celery worker. Without those services (a laptop) it falls back to SQLite and skips only
# the service tests; with CI=true a missing service is an error, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
CI=${CI:-}

# The browser tests drive the Debian Chromium (Playwright's own download does not work on these
# machines) and inject axe-core from npm; the fault tests start a throwaway redis-server of their own and
# the webhook TLS tests make a certificate with openssl. Install what is missing when we may.
ensure_test_tools() {
  local missing=()
  [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || missing+=(chromium)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v openssl >/dev/null 2>&1 || missing+=(openssl)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} for the browser, fault and webhook tests."
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  elif [ "${CI,,}" = "true" ]; then
    echo "CI=true but ${missing[*]} is missing and cannot be installed (needs root and apt-get)." >&2; exit 1
  else
    echo "${missing[*]} not installed: the tests that need them will be skipped."
  fi
}
ensure_test_tools
bash scripts/bootstrap.sh
source .venv/bin/activate

export SECRET_KEY=${SECRET_KEY:-test-only-secret-key-not-for-production}
export DECISION_HMAC_KEY=${DECISION_HMAC_KEY:-test-only-decision-key}
export DEBUG=false
# The webhook tests deliver to receivers on loopback (refused by default outside DEBUG).
export WEBHOOK_ALLOW_PRIVATE_URLS=${WEBHOOK_ALLOW_PRIVATE_URLS:-true}
export VAR_DIR=${VAR_DIR:-$PWD/var/test}
# The suite's servers speak plain http on loopback: production's HTTPS defaults (redirect, HSTS,
# secure-only cookies) off, and the demo channels' disbursement simulated as on the run command.
# tests/config/test_settings.py checks the defaults themselves.
export SECURE_SSL_REDIRECT=false SECURE_HSTS_SECONDS=0 SESSION_COOKIE_SECURE=false CSRF_COOKIE_SECURE=false
export SIMULATED_DISBURSEMENT_PARTNERS=${SIMULATED_DISBURSEMENT_PARTNERS:-demo}

ensure_services() {
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1; then
    if command -v pg_ctlcluster >/dev/null; then
      echo "PostgreSQL is down; starting it."
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
      for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
    fi
  fi
  if command -v redis-cli >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    if command -v redis-server >/dev/null; then
      echo "Redis is down; starting it."
      mkdir -p /var/lib/redis /var/log/redis
      redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
      for _ in $(seq 30); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
    fi
  fi
}
ensure_services

if [ -z "${DATABASE_URL:-}" ]; then
  if command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1; then
    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/lending
    psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='lending'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE lending"
  elif [ "${CI,,}" = "true" ]; then
    echo "CI=true but PostgreSQL is not reachable on 127.0.0.1:5432." >&2; exit 1
  else
    echo "PostgreSQL not found: running on SQLite; service tests will be skipped."
  fi
fi
if [ -z "${CELERY_BROKER_URL:-}" ]; then
  if command -v redis-cli >/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
    export CELERY_BROKER_URL=redis://127.0.0.1:6379/15
  elif [ "${CI,,}" = "true" ]; then
    echo "CI=true but Redis is not reachable on 127.0.0.1:6379." >&2; exit 1
  fi
fi

echo "== ruff check"
ruff check .
echo "== import contract (pyproject.toml [tool.importlinter])"
lint-imports --no-cache
echo "== module and function sizes (scripts/check_sizes.py)"
python scripts/check_sizes.py
echo "== makemigrations --check"
python manage.py makemigrations --check --dry-run
echo "== pytest"
pytest "$@"
