"""``python -m provisioning.web --settings FILE --pidfile FILE``: the web service's process, as
the stack starts it (``alumail serve`` runs the same server in the foreground)."""

from __future__ import annotations

import argparse
from pathlib import Path

from mailstack.daemons.managed import forget
from provisioning.web.server import serve
from provisioning.web.service import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m provisioning.web")
    parser.add_argument("--settings", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings(args.settings)
    # Like the stack's other programs of ours (mailstack.daemons.managed): the pid file written
    # as root once listening, removed on the way out if it still names us. uvicorn handles TERM.
    try:
        serve(settings, pidfile=args.pidfile)
    finally:
        forget(args.pidfile)


if __name__ == "__main__":
    main()
