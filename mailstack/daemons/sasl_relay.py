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
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.dovecot import Dovecot
from mailstack.files import FileSpec, ensure_dir
from mailstack.process import our_pid, start_daemon, terminate

POSTFIX_GROUP = "postfix"
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
    shutil.chown(listen, "root", POSTFIX_GROUP)
    os.chmod(listen, 0o660)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    pidfile.write_text(f"{os.getpid()}\n")
    # Bound and pid written: relay as Postfix's own user, which Dovecot's auth-client socket
    # admits, so credentials from the internet never pass through a root process.
    postfix = pwd.getpwnam(POSTFIX_GROUP)
    os.setgroups([])
    os.setresgid(postfix.pw_gid, postfix.pw_gid, postfix.pw_gid)
    os.setresuid(postfix.pw_uid, postfix.pw_uid, postfix.pw_uid)
    try:
        await stopping.wait()
    finally:
        server.close()
        await server.wait_closed()
        # The stack removes what this user may not (the run folder is root's).
        for path in (listen, pidfile):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


class SaslRelay:
    name = "sasl-relay"

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.directory = self.layout.run / "sasl-relay"
        self.socket = self.directory / "auth"
        self.pidfile = self.directory / "sasl-relay.pid"
        self.logfile = self.layout.logfile(self.name)
        self.upstream = Dovecot(ctx).auth_socket

    def render(self) -> list[FileSpec]:
        return []  # no configuration file: everything is on the command line

    def prepare(self) -> None:
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.directory, 0o755)
        ensure_dir(self.layout.log, 0o755)

    def check(self, staging: Path) -> None:
        return None

    def pid(self) -> int | None:
        return our_pid(self.pidfile, str(self.socket))

    def start(self) -> None:
        start_daemon(
            [
                "setsid",
                "-f",
                sys.executable,
                "-m",
                "mailstack.daemons.sasl_relay",
                "--listen",
                str(self.socket),
                "--upstream",
                str(self.upstream),
                "--pidfile",
                str(self.pidfile),
            ],
            self.logfile,
            what="starting the SASL relay",
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

    def ready(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(1)
            try:
                probe.connect(str(self.socket))
            except OSError:
                return False
        return True

    def endpoints(self) -> list[Endpoint]:
        return []  # a local socket for Postfix only


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m mailstack.daemons.sasl_relay")
    parser.add_argument("--listen", type=Path, required=True)
    parser.add_argument("--upstream", type=Path, required=True)
    parser.add_argument("--pidfile", type=Path, required=True)
    args: Any = parser.parse_args(argv)
    asyncio.run(serve(args.listen, args.upstream, args.pidfile))


if __name__ == "__main__":
    main()
