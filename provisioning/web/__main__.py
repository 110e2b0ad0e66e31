"""``python -m provisioning.web --settings FILE --pidfile FILE``: the web service's process, as
the stack starts it (``alumail serve`` runs the same server in the foreground)."""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from provisioning.web.server import serve
from provisioning.web.service import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m provisioning.web")
    parser.add_argument("--settings", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args = parser.parse_args()
    settings = load_settings(args.settings)
    try:
        # The pid file is written as root (state/run is root's); the stack removes it on stop.
        serve(settings, before_drop=lambda: args.pidfile.write_text(f"{os.getpid()}\n"))
    finally:
        with contextlib.suppress(OSError):
            args.pidfile.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
