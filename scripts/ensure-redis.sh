#!/usr/bin/env bash
# Makes sure the Redis that REDIS_URL names answers (default redis://127.0.0.1:6379/0). When
# REDIS_URL (or REDIS_SENTINEL_ADDRS, REDIS_CLUSTER_ADDRS) names a Redis that is not a plain one on
# this machine, it starts nothing: the worker connects to it and says so if it cannot. For a
# loopback Redis that does not answer, it starts one on that port with its data in .data/redis of
# the project (AOF on), installing redis-server with apt-get first when it is missing and we are
# root (CI); otherwise it says how to install it. Exits non-zero if no Redis answers.
#
#   scripts/ensure-redis.sh        make sure it answers (make run, CI)
#   scripts/ensure-redis.sh stop   stop the Redis this script started (make redis-stop)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
pidfile="$root/.data/redis/redis.pid"

if [[ "${1:-}" == "stop" ]]; then
  if [[ -s "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" # redis-server saves nothing more (AOF is already written) and exits
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    echo "ensure-redis: stopped the redis-server it started (pid $pid); its data stays in .data/redis"
  else
    echo "ensure-redis: no redis-server started by make run is running"
  fi
  exit 0
fi

host=127.0.0.1
port="${REDIS_PORT:-6379}"
if [[ -n "${REDIS_SENTINEL_ADDRS:-}${REDIS_CLUSTER_ADDRS:-}" ]]; then
  echo "ensure-redis: REDIS_SENTINEL_ADDRS or REDIS_CLUSTER_ADDRS is set: using it, starting nothing"
  exit 0
fi
if [[ -n "${REDIS_URL:-}" ]]; then
  # redis://[user:password@]host[:port][/db] -> host and port (the password is never printed).
  rest="${REDIS_URL#*://}"
  scheme="${REDIS_URL%%://*}"
  rest="${rest##*@}"
  rest="${rest%%/*}"
  if [[ "$rest" == \[*\]* ]]; then # [::1]:6379
    host="${rest%%]*}"; host="${host#[}"; p="${rest##*]}"; p="${p#:}"
  else
    host="${rest%%:*}"; p=""; [[ "$rest" == *:* ]] && p="${rest##*:}"
  fi
  port="${p:-6379}"
  case "$host" in
    127.0.0.1|localhost|::1) ;;
    *) echo "ensure-redis: REDIS_URL names $host:$port: using it, starting nothing"; exit 0 ;;
  esac
  if [[ "$scheme" != "redis" || "$REDIS_URL" == *@* ]]; then
    echo "ensure-redis: REDIS_URL names a Redis with TLS or a password on $host:$port: using it, starting nothing"
    exit 0
  fi
  host=127.0.0.1
fi

answers() {
  # PING over bash's /dev/tcp: no redis-cli needed.
  { exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply=""
  read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* ]]
}

if answers; then
  echo "ensure-redis: Redis answers on $host:$port"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: redis-server is missing; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
  else
    echo "ensure-redis: no Redis answers on $host:$port and redis-server is not installed." >&2
    echo "  Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL." >&2
    exit 1
  fi
fi

mkdir -p "$root/.data/redis"
echo "ensure-redis: starting redis-server on $host:$port (data in .data/redis, AOF on; make redis-stop stops it)"
redis-server --port "$port" --bind 127.0.0.1 --dir "$root/.data/redis" \
  --appendonly yes --appendfsync everysec --save "" \
  --daemonize yes --pidfile "$pidfile" --logfile "$root/.data/redis/redis.log"
for _ in $(seq 1 100); do
  if answers; then
    echo "ensure-redis: Redis answers on $host:$port (pid $(cat "$pidfile"))"
    exit 0
  fi
  sleep 0.1
done
echo "ensure-redis: redis-server did not answer within 10s; see .data/redis/redis.log" >&2
exit 1
