#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:${REDIS_PORT:-6379}. If none does, starts one with its
# data in .data/redis of the project (AOF on), installing redis-server with apt-get first when it is
# missing and we are root (CI); otherwise says how to install it. Exits non-zero if no Redis answers.
set -euo pipefail
port="${REDIS_PORT:-6379}"
root="$(cd "$(dirname "$0")/.." && pwd)"

answers() {
  # PING over bash's /dev/tcp: no redis-cli needed.
  { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply=""
  read -r -t 2 reply <&3 || true
  exec 3>&- 3<&-
  [[ "$reply" == +PONG* ]]
}

if answers; then
  echo "ensure-redis: Redis answers on 127.0.0.1:$port"
  exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-redis: redis-server is missing; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq redis-server >/dev/null
  else
    echo "ensure-redis: no Redis answers on 127.0.0.1:$port and redis-server is not installed." >&2
    echo "  Install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL." >&2
    exit 1
  fi
fi

mkdir -p "$root/.data/redis"
echo "ensure-redis: starting redis-server on 127.0.0.1:$port (data in .data/redis, AOF on)"
redis-server --port "$port" --bind 127.0.0.1 --dir "$root/.data/redis" \
  --appendonly yes --appendfsync everysec --save "" \
  --daemonize yes --pidfile "$root/.data/redis/redis.pid" --logfile "$root/.data/redis/redis.log"
for _ in $(seq 1 100); do
  if answers; then
    echo "ensure-redis: Redis answers on 127.0.0.1:$port (pid $(cat "$root/.data/redis/redis.pid"))"
    exit 0
  fi
  sleep 0.1
done
echo "ensure-redis: redis-server did not answer within 10s; see .data/redis/redis.log" >&2
exit 1
