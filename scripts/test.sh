#!/usr/bin/env bash
# The test command of the README (and of CI through `make test`).
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin
export MAGI_ETSI_OPENAPI_DIR=${MAGI_ETSI_OPENAPI_DIR:-$(cd .. && pwd)/shared/etsi-openapi}
export MAGI_SAMPLES_DIR=${MAGI_SAMPLES_DIR:-$(cd .. && pwd)/shared/samples}
# a fixed key for the suite: sealed VIM credentials open in every service and no key file lands in .magi/
export MAGI_SECRET_KEY=${MAGI_SECRET_KEY:-magi-test-suite-key}

if ! bash scripts/ensure-rabbitmq.sh; then
  if [ "${CI:-}" = "true" ]; then echo "CI: no RabbitMQ broker, failing" >&2; exit 1; fi
  echo "warning: no RabbitMQ; the amqp tests will be skipped" >&2
fi

# A vhost of this run's own keeps tests apart from anything else on the broker.
VHOST="magi-test-$$"
if command -v rabbitmqctl >/dev/null 2>&1 && rabbitmqctl add_vhost "$VHOST" >/dev/null 2>&1; then
  rabbitmqctl set_permissions -p "$VHOST" guest ".*" ".*" ".*" >/dev/null 2>&1
  export MAGI_AMQP_URL=${MAGI_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/$VHOST}
  trap 'rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1' EXIT
else
  export MAGI_AMQP_URL=${MAGI_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
fi

# A MongoDB-wire server (nx-27017) on a free port, for this run only.
DATA=$(mktemp -d)
PORT=$($BIN/python -c 'from magi.store.embedded import free_port; print(free_port())')
$BIN/nx-27017 --data-dir "$DATA" -p "$PORT" --pid-file "$DATA/nx.pid" --log-file "$DATA/nx.log" >/dev/null 2>&1 &
NX=$!
trap 'kill $NX 2>/dev/null; rm -rf "$DATA"; rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1' EXIT
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
export MAGI_MONGODB_URI="mongodb://127.0.0.1:$PORT/"
unset MAGI_DB_PREFIX

$BIN/python -m pytest -q -p no:cacheprovider "$@"
