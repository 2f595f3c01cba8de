#!/usr/bin/env bash
# Run the embedded default: SQLite under var/, a Celery worker on kombu's filesystem broker (no
# server), uvicorn for HTTP and websockets. Ctrl+C stops both.
set -euo pipefail
PY=${1:-.venv/bin/python}; HOST=${2:-127.0.0.1}; PORT=${3:-8000}
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD/platform${PYTHONPATH:+:$PYTHONPATH}"
unset DATABASE_URL REDIS_URL CELERY_BROKER_URL
mkdir -p var
"$PY" manage.py migrate --noinput -v0
"$PY" manage.py seed_demo
"$PY" manage.py oversight_demo --project processbench-demo
# --beat: the periodic maintenance (import jobs whose worker died, old uploads) runs in the same process.
"$PY" -m celery -A config worker --pool=threads --concurrency=2 -Q default,oversight,exports \
  --beat --schedule var/celerybeat-schedule --loglevel=INFO >var/worker.log 2>&1 &
worker=$!
model=""
# The embedded stand-in model, if `make embedded-model` built it; the demo never waits for a build.
if "$PY" -c "import sys; sys.path[:0] = ['.', 'platform']; from oversight.embedded import available; sys.exit(0 if available() else 1)" 2>/dev/null; then
  "$PY" manage.py serve_embedded_model --project processbench-demo --log var/llama-server.log >var/embedded-model.log 2>&1 &
  model=$!
  model_line="embedded model: on (a tiny CPU stand-in, not a judge); log var/llama-server.log"
else
  model_line="embedded model: not built (make embedded-model, ~6 min); the symbolic checker runs without it"
fi
trap 'kill $worker $model 2>/dev/null; wait $worker $model 2>/dev/null' EXIT INT TERM
cat <<EOT

  Stepwise demo: http://$HOST:$PORT/
  Logins (password: stepwise-demo):
    annotator1, annotator2, annotator3   annotate chains
    reviewer                              the review queue, adjudication, the quality dashboard
    researcher                            import / export on the project page
    admin                                 everything, and /admin/
  API docs: http://$HOST:$PORT/api/docs/      worker log: var/worker.log
  Model assistance: $model_line
    a real model server: STEPWISE_MODEL_BASE_URL=http://host:8000/v1 STEPWISE_MODEL_ID=name (docs/oversight.md)
  Ctrl+C stops the web server and the worker.

EOT
# uvicorn, one process (the embedded channel layer is in memory): it streams request bodies, so the
# app's size limits act before a body is read (config/limits.py).
"$PY" -m uvicorn config.asgi:application --host "$HOST" --port "$PORT" --lifespan off
