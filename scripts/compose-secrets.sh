#!/usr/bin/env bash
# Creates secrets/ for docker-compose.yml: one file per secret setting, readable by its owner only
# (the worker reads them through NAME_FILE twins; they never become environment variables). It
# keeps files that exist, writes a random UI password and intake token, and leaves the others
# empty (an empty file is an unset setting: no API key in sandbox mode, no flush-all over HTTP).
set -euo pipefail
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets
random() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
for name in cloudimage_api_key ui_password intake_token intake_flush_token events_token; do
  f="secrets/$name"
  if [[ -e "$f" ]]; then
    echo "compose-secrets: $f exists, kept"
    continue
  fi
  case "$name" in
    ui_password | intake_token) random > "$f"; echo "compose-secrets: $f written (a random value)" ;;
    *) : > "$f"; echo "compose-secrets: $f written empty (put the value in it to turn it on)" ;;
  esac
done
echo "compose-secrets: the UI (user admin) and /status take the password in secrets/ui_password"
