#!/usr/bin/env bash
# Run the real thing locally: a Prefect server on 127.0.0.1, the work pool, every deployment in
# prefect.yaml and a worker. State stays under var/prefect (or $PREFECT_HOME).
#   scripts/serve.sh start    start server + worker in the background, deploy, print the UI address
#   scripts/serve.sh stop     stop the worker, then the server
#   scripts/serve.sh restart-server   stop and start the server only (the worker keeps running)
#   scripts/serve.sh status
set -euo pipefail
cd "$(dirname "$0")/.."
export THREELISTS_HOME="$PWD"
export PREFECT_HOME="${PREFECT_HOME:-$PWD/var/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
export PREFECT_SERVER_DATABASE_CONNECTION_URL="${PREFECT_SERVER_DATABASE_CONNECTION_URL:-sqlite+aiosqlite:///$PREFECT_HOME/prefect.db}"
PORT="${THREELISTS_PREFECT_PORT:-4200}"
export PREFECT_API_URL="http://127.0.0.1:$PORT/api"
PREFECT=.venv/bin/prefect
RUN="$PREFECT_HOME/run"
mkdir -p "$RUN"

stop() {
  # workers first (an idle worker needs a second TERM), then the server
  for name in watcher worker server; do
    pidfile="$RUN/$name.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    for _ in 1 2 3; do
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || break
      sleep 2
      kill -0 "$pid" 2>/dev/null || break
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

start_server() {
  setsid "$PREFECT" server start --host 127.0.0.1 --port "$PORT" >> "$RUN/server.log" 2>&1 &
  echo $! > "$RUN/server.pid"
  for _ in $(seq 1 90); do
    .venv/bin/python -c "import httpx,sys; sys.exit(0 if httpx.get('$PREFECT_API_URL/health', timeout=1).status_code == 200 else 1)" 2>/dev/null && return 0
    sleep 1
  done
  echo "the Prefect server did not answer within 90 s; see $RUN/server.log" >&2
  return 1
}

stop_server() {
  pidfile="$RUN/server.pid"
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

case "${1:-start}" in
  start)
    stop
    : > "$RUN/server.log"
    start_server
    "$PREFECT" work-pool inspect threelists >/dev/null 2>&1 || "$PREFECT" work-pool create threelists --type process >/dev/null
    "$PREFECT" --no-prompt deploy --all > "$RUN/deploy.log" 2>&1 || { cat "$RUN/deploy.log"; exit 1; }
    .venv/bin/python scripts/alerts.py
    setsid "$PREFECT" worker start --pool threelists --name "threelists-$(hostname)" > "$RUN/worker.log" 2>&1 &
    echo $! > "$RUN/worker.pid"
    # files landing in the inbox start the collect deployment (its trigger in prefect.yaml)
    setsid .venv/bin/python -m scripts.watch_inbox > "$RUN/watcher.log" 2>&1 &
    echo $! > "$RUN/watcher.pid"
    echo "Prefect UI:  http://127.0.0.1:$PORT   (API $PREFECT_API_URL)"
    echo "deployments: $(grep -c 'entrypoint:' prefect.yaml) from prefect.yaml; worker on pool 'threelists'"
    echo "inbox:       files dropped in var/inbox/<folder>/ start a collect run within a minute"
    echo "logs:        $RUN/server.log  $RUN/worker.log  $RUN/watcher.log   stop with: make stop"
    ;;
  stop) stop ;;
  restart-server)
    stop_server
    start_server
    echo "Prefect server restarted on http://127.0.0.1:$PORT"
    ;;
  status)
    for name in server worker watcher; do
      pid=$(cat "$RUN/$name.pid" 2>/dev/null || true)
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: stopped"; fi
    done
    ;;
  *) echo "usage: $0 start|stop|restart-server|status" >&2; exit 2 ;;
esac
