#!/usr/bin/env bash
# `make bench`: NS lifecycle cycles over RabbitMQ with the services as separate processes, next to
# the raw aio-pika and AmqpBus round trips of the same run (tests/bench/bench_ns.py); then the
# memory of onboarding a package with a large image (tests/bench/bench_onboard_memory.py).
# Arguments go to the bench: `bash scripts/bench.sh --cycles 50 --concurrency 10`
# (or BENCH_CYCLES / BENCH_CONCURRENCY through make). Results: bench-results/latest.json.
set -u
cd "$(dirname "$0")/.."
BIN=.venv/bin

if ! bash scripts/ensure-rabbitmq.sh; then
  echo "bench: no RabbitMQ broker on 127.0.0.1:5672" >&2
  exit 1
fi

DATA=$(mktemp -d)
VHOST=""
NX=""
cleanup() {
  [ -n "$NX" ] && kill "$NX" 2>/dev/null && wait "$NX" 2>/dev/null
  rm -rf "$DATA"
  [ -n "$VHOST" ] && rabbitmqctl delete_vhost "$VHOST" >/dev/null 2>&1
}
trap cleanup EXIT

# A vhost of this run's own: the bench's queues never meet anything else on the broker.
if [ -z "${MAGI_AMQP_URL:-}" ]; then
  if command -v rabbitmqctl >/dev/null 2>&1 && rabbitmqctl add_vhost "magi-bench-$$" >/dev/null 2>&1; then
    VHOST="magi-bench-$$"
    rabbitmqctl set_permissions -p "$VHOST" guest ".*" ".*" ".*" >/dev/null 2>&1
    export MAGI_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$VHOST"
  else
    echo "bench: no temporary vhost (rabbitmqctl unavailable); using the default vhost" >&2
    export MAGI_AMQP_URL="amqp://guest:guest@127.0.0.1:5672/"
  fi
fi

# A MongoDB-wire server (nx-27017) on a free loopback port, for this run only.
PORT=$($BIN/python -c 'from magi.store.embedded import free_port; print(free_port())')
$BIN/nx-27017 --data-dir "$DATA" -p "$PORT" --host 127.0.0.1 --pid-file "$DATA/nx.pid" --log-file "$DATA/nx.log" >/dev/null 2>&1 &
NX=$!
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
export MAGI_MONGODB_URI="mongodb://127.0.0.1:$PORT/"
unset MAGI_DB_PREFIX

$BIN/python -m tests.bench.bench_ns "$@"
rc=$?

# Memory of onboarding a VNF package that carries a 200 MiB VM image, against the code before
# the package library streamed large members (no broker or store needed).
echo
$BIN/python tests/bench/bench_onboard_memory.py || rc=1
exit $rc
