"""The SASL relay: passes Postfix's AUTH requests to Dovecot's auth socket unchanged, so that a
temporary failure reaches mail clients as one (``454 4.7.0``) instead of as a wrong password.

Why it exists: when slapd is down Dovecot answers ``FAIL <id> ... code=temp_fail`` (IMAP and
POP3 then say "temporary failure"), but Postfix's Dovecot SASL client (xsasl_dovecot_server.c,
3.7 and later alike) reads only ``user=`` and ``reason=`` from a FAIL and answers ``535 5.7.8``:
clients drop the saved password. Postfix says ``454 4.7.0 Temporary authentication failure``
only when the connection to the auth server is lost mid-request. The relay therefore closes
that connection instead of forwarding a ``code=temp_fail`` FAIL; every other line passes through
as it is. It never logs a line (they carry credentials).

Run as ``python -m mailstack.daemons.sasl_relay --listen SOCKET --upstream SOCKET --pidfile F``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import pwd
import shutil
import socket
from pathlib import Path
from typing import Any

from mailstack.context import RenderContext
from mailstack.daemons.dovecot import Dovecot
from mailstack.daemons.managed import ManagedDaemon, announce, forget, stop_requested
from mailstack.files import ensure_dir
from mailstack.privileges import ServiceUser

POSTFIX_USER = "postfix"  # and its group
MAX_LINE = 64 * 1024  # Dovecot's auth protocol lines are far shorter (base64 of a credential)


def is_temporary_failure(line: bytes) -> bool:
    """``FAIL\\t<id>\\t...\\tcode=temp_fail``: Dovecot could not check the credentials now."""
    fields = line.rstrip(b"\r\n").split(b"\t")
    return fields[0] == b"FAIL" and b"code=temp_fail" in fields[2:]


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()


async def _answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        if is_temporary_failure(line):
            return  # the caller closes Postfix's connection: Postfix answers 454 4.7.0
        writer.write(line)
        await writer.drain()


async def relay(
    upstream: Path, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
) -> None:
    try:
        dovecot_r, dovecot_w = await asyncio.open_unix_connection(str(upstream), limit=MAX_LINE)
    except OSError:
        client_w.close()
        return
    tasks = [
        asyncio.ensure_future(_pump(client_r, dovecot_w)),
        asyncio.ensure_future(_answers(dovecot_r, client_w)),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for writer in (client_w, dovecot_w):
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()


async def serve(listen: Path, upstream: Path, pidfile: Path) -> None:
    listen.unlink(missing_ok=True)
    server = await asyncio.start_unix_server(
        lambda r, w: relay(upstream, r, w), path=str(listen), limit=MAX_LINE
    )
    # Postfix's smtpd (group postfix) connects; nobody else may.
    shutil.chown(listen, "root", POSTFIX_USER)
    os.chmod(listen, 0o660)
    stopping = stop_requested()
    # Bound: relay as Postfix's own user, which Dovecot's auth-client socket admits, so
    # credentials from the internet never pass through a root process.
    announce(pidfile, postfix_user())
    try:
        await stopping.wait()
    finally:
        server.close()
        await server.wait_closed()
        # The stack removes what this user may not (the run folder is root's).
        with contextlib.suppress(OSError):
            listen.unlink(missing_ok=True)
        forget(pidfile)


def postfix_user() -> ServiceUser:
    """Postfix's user and group, without supplementary groups (as Postfix's own processes)."""
    entry = pwd.getpwnam(POSTFIX_USER)
    return ServiceUser(POSTFIX_USER, entry.pw_uid, entry.pw_gid, groups=())


class SaslRelay(ManagedDaemon):
    name = "sasl-relay"
    module = "mailstack.daemons.sasl_relay"
    what = "the SASL relay"

    def __init__(self, ctx: RenderContext) -> None:
        directory = ctx.layout.run / "sasl-relay"
        super().__init__(ctx, directory / "sasl-relay.pid")
        self.directory = directory
        self.socket = directory / "auth"
        self.upstream = Dovecot(ctx).auth_socket

    def arguments(self) -> list[str]:
        return ["--listen", str(self.socket), "--upstream", str(self.upstream)]

    def prepare(self) -> None:
        super().prepare()
        ensure_dir(self.directory, 0o755)

    def ready(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(1)
            try:
                probe.connect(str(self.socket))
            except PermissionError:
                # Asked by a process the socket is not for (the web service's health check):
                # the relay's own process, alive, is the answer it can have.
                return self.pid() is not None
            except OSError:
                return False
        return True


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mailstack.daemons.sasl_relay")
    parser.add_argument("--listen", type=Path, required=True)
    parser.add_argument("--upstream", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args: Any = parser.parse_args(argv)
    asyncio.run(serve(args.listen, args.upstream, args.pidfile))


if __name__ == "__main__":
    main()
