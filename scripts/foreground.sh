#!/usr/bin/env bash
# Runs a command as the terminal's foreground job, so that Ctrl-C reaches it alone, and exits with
# its status. make run uses it: GNU make, in the terminal's foreground process group, would
# otherwise get the Ctrl-C too and, after the worker's clean shutdown and exit 0, end by the signal
# (status 130). Job control gives the command a process group of its own and the terminal with it
# (`fg`); make waits in the background and sees the worker's own status. Without a terminal (CI, a
# pipe) there is no Ctrl-C to route: it simply execs the command. bash's job control works on its
# standard error, so with that in a pipe (make run 2>&1 | tee log) it execs too, and the Ctrl-C
# reaches the whole pipeline as it would without this script.
#
#   scripts/foreground.sh CMD [ARG...]
set -uo pipefail
if [[ ! -t 0 || ! -t 2 ]] || ! { : >/dev/tty; } 2>/dev/null; then
  exec "$@"
fi
set -m
"$@" &
fg %1 >/dev/null
