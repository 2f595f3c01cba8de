#!/usr/bin/env bash
# Run the embedded default: SQLite under var/, a Celery worker on kombu's filesystem broker (no
# server), daphne for HTTP and websockets. Ctrl+C stops both.
set -euo pipefail
PY=${1:-.venv/bin/python}; HOST=${2:-127.0.0.1}; PORT=${3:-8000}
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/platform${PYTHONPATH:+:$PYTHONPATH}"
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
mkdir -p var
"$PY" manage.py migrate --noinput -v0
"$PY" manage.py seed_demo
# --beat: the periodic maintenance (import jobs whose worker died, old uploads) runs in the same process.
"$PY" -m celery -A config worker --pool=threads --concurrency=2 -Q default,oversight,exports \
  --beat --schedule var/celerybeat-schedule --loglevel=INFO >var/worker.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
cat <<EOT

  Stepwise demo: http://$HOST:$PORT/
  Logins (password: stepwise-demo):
    annotator1, annotator2, annotator3   annotate chains
    reviewer                              review (coming next)
    researcher                            import / export on the project page
    admin                                 everything, and /admin/
  API docs: http://$HOST:$PORT/api/docs/      worker log: var/worker.log
  Ctrl+C stops the web server and the worker.

EOT
"$PY" -m daphne -b "$HOST" -p "$PORT" config.asgi:application
