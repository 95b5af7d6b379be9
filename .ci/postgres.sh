#!/usr/bin/env bash
# Installs (if missing) and starts a throwaway PostgreSQL server for the tests, listening on
# 127.0.0.1 only, and prints its URI. Idempotent: a server already running there is reused.
#   eval "$(bash .ci/postgres.sh)"   # sets LAKEHOUSE_TEST_POSTGRES_URI
set -euo pipefail
port="${LAKEHOUSE_TEST_POSTGRES_PORT:-54329}"
data="${LAKEHOUSE_TEST_POSTGRES_DATA:-/tmp/ftm-lakehouse-pg}"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/pg_ctl" ]; then
  echo "installing postgresql ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! run "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$data"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$data"
    run "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
  fi
  run "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k /tmp -c fsync=off -c max_connections=200" start >&2
fi
echo "export LAKEHOUSE_TEST_POSTGRES_URI=postgresql://postgres@127.0.0.1:$port/postgres"
