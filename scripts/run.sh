#!/usr/bin/env bash
# Runs the whole platform on the embedded default (SQLite + a filesystem broker): installs, migrates,
# simulates a small marketplace, trains a model on it, creates demo logins, then serves the site with a
# Celery worker and beat.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
source .venv/bin/activate

export DEBUG=${DEBUG:-true}
PORT=${PORT:-8000}
DEMO_MERCHANTS=${DEMO_MERCHANTS:-1000}
mkdir -p var/log

python manage.py migrate --no-input -v0
python manage.py sync_roles >/dev/null
if ! python manage.py shell --no-imports -c 'from accounts.models import PartnerBank, Business; import sys; sys.exit(0 if Business.objects.filter(partner__slug="demo").exists() else 1)' 2>/dev/null; then
  echo "Simulating a demo marketplace ($DEMO_MERCHANTS merchants x 24 months)..."
  # History up to yesterday (UTC, by the project clock: CLOCK_AT may pin it, docs/time.md), so an
  # application made today is decided on fresh data.
  END_DATE=$(python manage.py shell --no-imports -c 'import datetime; from config import clock; print(clock.today() - datetime.timedelta(days=1))')
  python manage.py simulate_marketplace --merchants "$DEMO_MERCHANTS" --months 24 --seed 310 --partner demo \
    --end-date "$END_DATE"
fi
if ! python manage.py shell --no-imports -c 'from underwriting.models import ModelVersion; import sys; sys.exit(0 if ModelVersion.objects.filter(is_active=True).exists() else 1)' 2>/dev/null; then
  echo "Training and activating a model on the demo loan book..."
  python manage.py train_model --partner demo --seed 310
fi

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

celery -A config worker --loglevel=INFO --concurrency=2 --without-mingle --without-gossip \
  >var/log/worker.log 2>&1 &
pids+=($!)
celery -A config beat --loglevel=INFO >var/log/beat.log 2>&1 &
pids+=($!)

echo
echo "310 Lending is running at http://127.0.0.1:${PORT}/  (audit console: http://127.0.0.1:${PORT}/admin/)"
echo "Demo logins:"
python manage.py setup_demo --partner demo
if ! python manage.py shell --no-imports -c 'from underwriting.models import Decision; import sys; sys.exit(0 if Decision.objects.exists() else 1)' 2>/dev/null; then
  echo "Filling the audit console and risk dashboard with demo decisions..."
  python manage.py seed_audit_demo --partner demo
fi
echo "Partner API docs: http://127.0.0.1:${PORT}/api/docs/  - a demo partner key (write, admin; shown once):"
python manage.py create_api_key --partner demo --scope write --scope admin --name "run.sh demo key" --quiet-key
echo "Worker and beat logs: var/log/worker.log, var/log/beat.log. Ctrl-C stops everything."
echo
python manage.py runserver "127.0.0.1:${PORT}" --noreload
