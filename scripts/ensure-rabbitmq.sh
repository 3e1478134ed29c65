#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672: start it if installed, install it with
# apt when root and missing. Exit non-zero when none can be had.
set -u
up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
up && exit 0
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing rabbitmq-server with apt" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null || exit 1
  else
    echo "RabbitMQ is not installed (and not root to install it)" >&2; exit 1
  fi
fi
echo "starting rabbitmq-server" >&2
rabbitmq-server -detached >/dev/null 2>&1 || true
for _ in $(seq 1 60); do up && exit 0; sleep 1; done
echo "RabbitMQ did not come up on 5672" >&2
exit 1
