#!/usr/bin/env bash
# Fails when a file git tracks is binary or larger than 1 MB: build output, archives and data dumps
# do not belong in the repository (a 9.7 MB binary once made up 98% of its weight).
# Run by `make lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
limit=$((1024 * 1024))
bad=0
while IFS= read -r -d '' f; do
  [[ -f "$f" ]] || continue # deleted in the working tree
  size=$(stat -c %s -- "$f")
  if ((size > limit)); then
    echo "check-tracked-files: $f is $size bytes, over 1 MB: keep large files out of git" >&2
    bad=1
  fi
  # git's own rule: a file with a NUL byte in its first 8000 bytes is binary.
  if head -c 8000 -- "$f" | tr -d '\000' | cmp -s - <(head -c 8000 -- "$f"); then :; else
    echo "check-tracked-files: $f is binary: keep build output and binaries out of git" >&2
    bad=1
  fi
done < <(git ls-files -z)
if ((bad)); then exit 1; fi
echo "check-tracked-files: $(git ls-files | wc -l) tracked files, none binary or over 1 MB"
