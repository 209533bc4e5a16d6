#!/usr/bin/env bash
# make compose-check: scripts/compose-secrets.sh, run into a scratch directory, writes every file
# that docker-compose.yml mounts as a secret, in a directory only its owner can enter (0700), each
# file readable by another uid (o+r): compose bind-mounts a file secret with the host's owner and
# mode, and the image runs as distroless's nonroot (uid 65532). Run as root with setpriv (util-linux)
# at hand, it also reads each file as uid 65532 from a copy with the same owner and mode, as the
# container sees it.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
dir="$scratch/secrets"
scripts/compose-secrets.sh "$dir" >/dev/null
fail() { echo "compose-check: $*"; exit 1; }

[[ "$(stat -c %a "$dir")" == 700 ]] || fail "compose-secrets.sh must leave the secrets directory 0700, not $(stat -c %a "$dir")"
names=$(sed -n 's|^ *file: *\./secrets/\([A-Za-z0-9_.-]*\) *$|\1|p' docker-compose.yml)
[[ -n "$names" ]] || fail "docker-compose.yml mounts no file from ./secrets/"
as_nonroot=false
if [[ $(id -u) == 0 ]] && command -v setpriv >/dev/null; then
  as_nonroot=true
  mkdir "$scratch/mounted" && chmod 755 "$scratch" "$scratch/mounted"
fi
for name in $names; do
  f="$dir/$name"
  [[ -f "$f" ]] || fail "compose-secrets.sh does not write $name, which docker-compose.yml mounts as a secret"
  mode=$(stat -c %a "$f")
  (( 0$mode & 04 )) || fail "compose-secrets.sh writes $name with mode $mode: the container's nonroot user (uid 65532) cannot read it (want o+r, e.g. 644)"
  if $as_nonroot; then
    cp -p "$f" "$scratch/mounted/$name"
    setpriv --reuid=65532 --regid=65532 --clear-groups cat "$scratch/mounted/$name" >/dev/null 2>&1 ||
      fail "uid 65532 cannot read $name as compose mounts it (owner $(stat -c %U "$f"), mode $mode)"
    ! setpriv --reuid=65532 --regid=65532 --clear-groups cat "$f" >/dev/null 2>&1 ||
      fail "another uid can read $f on the host: the secrets directory must keep it out"
  fi
done
echo "compose-check: compose-secrets.sh writes $(echo $names | wc -w) secrets, 0644 in a 0700 directory$($as_nonroot && echo '; uid 65532 reads them as mounted')"
