#!/usr/bin/env bash
# Make sure the PostgreSQL and Redis the test suite talks to are reachable, starting the local services if they
# are down, and that Chromium is installed. The URLs come from PETIT_TEST_DATABASE_URL / PETIT_TEST_REDIS_URL
# (see tests/conftest.py); only services on this machine are ever started.
set -euo pipefail

pg_host=127.0.0.1 pg_port=5432 redis_host=127.0.0.1 redis_port=6379

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() {  # name host port seconds
  local deadline=$((SECONDS + $4))
  until port_open "$2" "$3"; do
    if (( SECONDS >= deadline )); then echo "ensure-services: $1 not reachable on $2:$3" >&2; return 1; fi
    sleep 0.2
  done
}

if ! port_open "$pg_host" "$pg_port"; then
  echo "ensure-services: starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start
  else
    echo "ensure-services: PostgreSQL is down and pg_ctlcluster is not available; start it, or set PETIT_TEST_DATABASE_URL" >&2
    exit 1
  fi
fi
wait_for PostgreSQL "$pg_host" "$pg_port" 30

if ! port_open "$redis_host" "$redis_port"; then
  echo "ensure-services: starting Redis"
  if command -v redis-server >/dev/null; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$redis_port" --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  else
    echo "ensure-services: Redis is down and redis-server is not installed; start it, or set PETIT_TEST_REDIS_URL" >&2
    exit 1
  fi
fi
wait_for Redis "$redis_host" "$redis_port" 30
echo "ensure-services: PostgreSQL $pg_host:$pg_port and Redis $redis_host:$redis_port are up"

# The API docs test (tests/integration/apidocs) drives a real headless Chromium. Debian's package, never a
# browser download: the machines reach package registries only. Where it cannot be installed (not root, not
# Debian) that one test skips and says why; everything else still runs.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-services: installing chromium"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
      echo "ensure-services: could not install chromium; the API docs browser test will skip" >&2
    fi
  else
    echo "ensure-services: chromium is missing and cannot be installed here (needs root and apt-get);" \
      "the API docs browser test will skip" >&2
  fi
fi
