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
import time
import uuid
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.managed import ManagedDaemon, announce, forget, stop_requested
from mailstack.files import ensure_dir
from mailstack.privileges import SERVICE_USER, service_user


class Sink(ManagedDaemon):
    name = "sink"
    module = "mailstack.daemons.sink"
    what = "the outbound sink"

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx, ctx.layout.run / "sink.pid")
        self.directory = self.layout.outbound

    def arguments(self) -> list[str]:
        host, port = self.ctx.settings.connect_host, self.ctx.settings.ports.sink
        return ["--dir", str(self.directory), "--host", host, "--port", str(port)]

    def prepare(self) -> None:
        ensure_dir(self.directory, 0o700, SERVICE_USER, SERVICE_USER)
        super().prepare()

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
    stopping = stop_requested()
    announce(pidfile, user)  # bound: nothing left that needs root
    try:
        await stopping.wait()
    finally:
        server.close()
        await server.wait_closed()
        forget(pidfile)


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
