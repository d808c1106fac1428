#!/usr/bin/env bash
# Runs the whole platform on the embedded default (SQLite + a filesystem broker): installs what it
# needs, migrates, creates the demo logins and serves the site with two Celery workers (decisions;
# webhook deliveries) and beat, which it restarts if they stop. The demo itself (a simulated
# marketplace, a model trained on it, the audit console's demo decisions) is prepared in the
# background; the pages say what is still being prepared.
# Ctrl-C, or any TERM/INT/HUP to this script, stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh run
source .venv/bin/activate

PORT=${PORT:-8000}
DEMO_MERCHANTS=${DEMO_MERCHANTS:-1000}
export VAR_DIR=${VAR_DIR:-$PWD/var}
LOG=$VAR_DIR/log
mkdir -p "$LOG"

# A laptop demo runs as production does (DEBUG off: the site's own error pages), over plain http on
# loopback. Its secrets are made once and kept in var/ (readable by this user only).
secret() {
  [ -s "$VAR_DIR/$1" ] || (umask 077; python -c 'import secrets; print(secrets.token_urlsafe(48))' >"$VAR_DIR/$1")
  cat "$VAR_DIR/$1"
}
export DEBUG=${DEBUG:-false}
export SECRET_KEY=${SECRET_KEY:-$(secret secret-key)}
export DECISION_HMAC_KEY=${DECISION_HMAC_KEY:-$(secret decision-hmac-key)}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-localhost,127.0.0.1}
export SIMULATED_DISBURSEMENT_PARTNERS=${SIMULATED_DISBURSEMENT_PARTNERS:-demo}
export WEBHOOK_ALLOW_PRIVATE_URLS=${WEBHOOK_ALLOW_PRIVATE_URLS:-true}
# Plain http on 127.0.0.1: no HTTPS redirect, HSTS or secure-only cookies (production's defaults).
export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-false}
export SECURE_HSTS_SECONDS=${SECURE_HSTS_SECONDS:-0}
export SESSION_COOKIE_SECURE=${SESSION_COOKIE_SECURE:-false}
export CSRF_COOKIE_SECURE=${CSRF_COOKIE_SECURE:-false}

python manage.py migrate --no-input -v0
python manage.py sync_roles >/dev/null

# Every background service runs in its own process group (job control), so stopping one stops all
# that it started; the trap stops them all on any exit of this script.
set -m
jobs_started=()
stop_all() {
  trap - EXIT INT TERM HUP
  local pgid kids alive
  for pgid in "${jobs_started[@]}"; do
    # The job's leader (a supervisor loop, so it restarts nothing) and its direct children only:
    # Celery stops its own pool processes (a TERM to them directly makes it hang restoring messages).
    kids=$(pgrep -P "$pgid" || true)
    kill -TERM "$pgid" 2>/dev/null || true
    [ -z "$kids" ] || kill -TERM $kids 2>/dev/null || true
  done
  for _ in $(seq 30); do
    alive=0
    for pgid in "${jobs_started[@]}"; do kill -0 -- "-$pgid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.5
  done
  for pgid in "${jobs_started[@]}"; do kill -KILL -- "-$pgid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# Restarts its command whenever it exits, until this script stops.
supervise() {
  local name=$1; shift
  while true; do
    status=0
    "$@" >>"$LOG/$name.log" 2>&1 || status=$?
    echo "$(date -u +%H:%M:%S) $name stopped (exit $status); restarting it in 2 s ($LOG/$name.log)" >&2
    sleep 2
  done
}

# A job's process group is its first process's id (`jobs -p`), also for a pipeline.
# Two workers, two queues (docs/deploy.md): decisions (and the rest of the default queue) never wait
# behind a partner's slow webhook endpoint; the webhooks worker's one process sends on its own threads.
supervise worker celery -A config worker -Q celery -n decisions@%h --loglevel=INFO --concurrency=2 \
  --without-mingle --without-gossip &
jobs_started+=("$(jobs -p %%)")
supervise webhooks celery -A config worker -Q webhooks -n webhooks@%h --loglevel=INFO --concurrency=1 \
  --without-mingle --without-gossip &
jobs_started+=("$(jobs -p %%)")
supervise beat celery -A config beat --loglevel=INFO &
jobs_started+=("$(jobs -p %%)")
python manage.py runserver "127.0.0.1:${PORT}" --noreload --insecure >>"$LOG/web.log" 2>&1 &
web=$!
jobs_started+=("$web")

echo
echo "310 Lending is running at http://127.0.0.1:${PORT}/  (audit console: http://127.0.0.1:${PORT}/admin/)"
echo "Demo logins:"
python manage.py setup_demo --logins-only
echo "Logs: $LOG/ (web, worker, webhooks, beat, prepare). Ctrl-C stops everything."
echo
echo "Preparing the demo in the background (the pages say what is still being prepared)..."
# -u: each line reaches the terminal (and the log) as it is written, not when a pipe's buffer fills.
python -u manage.py prepare_demo --partner demo --merchants "$DEMO_MERCHANTS" --seed 310 2>&1 \
  | grep --line-buffered -v -E '^\s*$|[0-9]+%\|' | tee -a "$LOG/prepare.log" &
jobs_started+=("$(jobs -p %%)")

# Serve until the web server stops or a signal arrives (the traps then stop everything else).
wait "$web"
