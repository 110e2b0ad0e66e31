#!/usr/bin/env bash
# Runs the stack in the foreground of a container: `alumail up` (render, check, start), then
# follow the daemons' logs; on SIGTERM/SIGINT `alumail down` stops exactly what was started.
set -euo pipefail

alumail up
trap 'alumail down; exit 0' TERM INT
state=$(alumail status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state_dir"])')
tail -n 0 -F "$state"/log/*.log &
wait $!
