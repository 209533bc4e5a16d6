#!/usr/bin/env bash
# Creates secrets/ for docker-compose.yml: one file per secret setting (the worker reads them
# through NAME_FILE twins; they never become environment variables). It keeps files that exist,
# writes a random UI password and intake token and the URL of the compose file's Redis, and leaves
# the others empty (an empty file is an unset setting: no API key in sandbox mode, no flush-all
# over HTTP).
#
#   scripts/compose-secrets.sh          # secrets/ next to docker-compose.yml
#   scripts/compose-secrets.sh DIR      # another directory (make compose-check writes a scratch one)
#
# Permissions: the directory is 0700, so no other user of this host can reach the files; the
# files are 0644. They must be readable by another uid: docker compose (without swarm) bind-mounts
# a file secret as it is on the host, with the host's owner and mode (the uid, gid and mode of the
# long secret syntax are ignored outside swarm: docker/compose#9648, #12362), and the image runs as
# distroless's nonroot (uid 65532). A 0600 file owned by you would make the worker exit with
# "permission denied" (exit status 2) and restart in a loop. Files that exist are set to 0644 too.
set -euo pipefail
if [[ $# -gt 0 ]]; then
  dir="$1"
else
  cd "$(dirname "$0")/.."
  dir=secrets
fi
mkdir -p "$dir"
chmod 700 "$dir"
umask 022
random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
for name in cloudimage_api_key ui_password intake_token intake_flush_token events_token webhook_secret redis_url; do
  f="$dir/$name"
  if [[ -e "$f" ]]; then
    chmod 644 "$f"
    echo "compose-secrets: $f exists, kept (mode 0644)"
    continue
  fi
  case "$name" in
    ui_password | intake_token) random > "$f"; echo "compose-secrets: $f written (a random value)" ;;
    redis_url) echo "redis://redis:6379/0" > "$f"; echo "compose-secrets: $f written (the Redis of docker-compose.yml; put yours in it, password included)" ;;
    *) : > "$f"; echo "compose-secrets: $f written empty (put the value in it to turn it on)" ;;
  esac
done
echo "compose-secrets: $dir is 0700 (yours only), its files 0644 (the container's nonroot user reads them)"
echo "compose-secrets: the UI (user admin) and /status take the password in $dir/ui_password"
