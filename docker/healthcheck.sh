#!/usr/bin/env bash
# The image's HEALTHCHECK: healthy when every endpoint of the stack answers (`alumail status`);
# otherwise exit 1 naming those that do not.
set -euo pipefail
alumail status --json | python3 -c '
import json, sys
services = json.load(sys.stdin)["services"]
down = sorted(name for name, state in services.items() if not state["running"])
sys.exit("not answering: " + ", ".join(down) if down else 0)
'
