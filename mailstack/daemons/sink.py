"""The outbound sink: in the embedded stack, mail for other domains is relayed by Postfix to
this local SMTP server (aiosmtpd), which writes each message to ``state/outbound/`` instead of
sending it anywhere. Tests and a sysadmin can read what would have left the box. Production
settings send mail out directly or through a relay instead (``outbound`` setting).

It faces whatever mail Postfix relays, so it runs as the unprivileged service user: started as
root, it binds its port, writes its pid file, then drops to that user, who owns the outbound
folder and nothing else of the state directory.

Run as ``python -m mailstack.daemons.sink --dir DIR --host H --port P --pidfile F``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.files import FileSpec, ensure_dir
from mailstack.privileges import SERVICE_USER, drop_privileges, service_user
from mailstack.process import (
    our_pid,
    port_open,
    processes_with,
    read_pid,
    start_daemon,
    terminate,
)


class Sink:
    name = "sink"

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.directory = self.layout.outbound
        self.pidfile = self.layout.run / "sink.pid"
        self.logfile = self.layout.logfile(self.name)

    def render(self) -> list[FileSpec]:
        return []  # no configuration file: everything is on the command line

    def prepare(self) -> None:
        ensure_dir(self.directory, 0o700, SERVICE_USER, SERVICE_USER)
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.layout.log, 0o755)

    def check(self, staging: Path) -> None:
        return None

    def pid(self) -> int | None:
        return our_pid(self.pidfile, str(self.directory))

    def orphans(self) -> list[int]:
        found = processes_with("mailstack.daemons.sink", "--dir", str(self.directory))
        return [p for p in found if p != self.pid()]

    def start(self) -> None:
        host, port = self.ctx.settings.connect_host, self.ctx.settings.ports.sink
        start_daemon(
            [
                "setsid",
                "-f",
                sys.executable,
                "-m",
                "mailstack.daemons.sink",
                "--dir",
                str(self.directory),
                "--host",
                host,
                "--port",
                str(port),
                "--pidfile",
                str(self.pidfile),
            ],
            self.logfile,
            what="starting the outbound sink",
            running=lambda: self.pid() is not None,
        )

    def stale(self) -> bool:
        return False

    def apply(self, changed: list[FileSpec]) -> None:
        return None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid)
            self.pidfile.unlink(missing_ok=True)  # root's file: the sink cannot remove it

    def ready(self) -> bool:
        return port_open(self.ctx.settings.connect_host, self.ctx.settings.ports.sink)

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("sink", self.ctx.settings.connect_host, self.ctx.settings.ports.sink)]


class WriteToDirectory:
    """aiosmtpd handler: each accepted message becomes one ``.eml`` file, written atomically,
    with the envelope in ``X-Alumail-Envelope-*`` headers at the top."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        head = (
            f"X-Alumail-Envelope-From: {envelope.mail_from}\r\n"
            f"X-Alumail-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        content = envelope.original_content or b""
        partial = self.directory / (name + ".partial")
        partial.write_bytes(head + content)
        partial.replace(self.directory / name)
        return "250 2.0.0 Kept in the outbound sink"


async def serve(directory: Path, host: str, port: int, pidfile: Path) -> None:
    user = service_user()
    loop = asyncio.get_running_loop()
    handler = WriteToDirectory(directory)
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="alumail-sink", data_size_limit=64 * 1024**2),
        host=host,
        port=port,
    )
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    pidfile.write_text(f"{os.getpid()}\n")
    drop_privileges(user)  # bound and pid written: nothing left that needs root
    try:
        await stopping.wait()
    finally:
        server.close()
        await server.wait_closed()
        # Only our own pid file: one naming another sink is that sink's. Unprivileged now, the
        # sink may not be allowed to remove it: the stack does when it stops the sink.
        if read_pid(pidfile) == os.getpid():
            with contextlib.suppress(OSError):
                pidfile.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mailstack.daemons.sink")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args: Any = parser.parse_args(argv)
    asyncio.run(serve(args.dir, args.host, args.port, args.pidfile))


if __name__ == "__main__":
    main()
