"""Our own Python programs run as daemons of the stack (the SASL relay, the outbound sink, the
sender milter and, a layer above, the web service), their lifecycle written once.

The stack's side (:class:`ManagedDaemon`): start ``python -m MODULE ...`` in a session of its own
with its output in the daemon's log; know it by its pid file, if the process named there has that
file on its command line (a pid file can outlive its process, and the number be reused); stop it
with TERM then KILL, and remove the pid file (root's: the process, unprivileged by then, may
not).

The process's side (:func:`stop_requested`, :func:`announce`, :func:`forget`): listen first
(as root, for a port below 1024 or a socket in root's folder), then write the pid file and drop
root for good, serve until TERM, and on the way out remove the pid file if it still names this
process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.files import FileSpec, ensure_dir
from mailstack.privileges import ServiceUser, drop_privileges
from mailstack.process import (
    our_pid,
    parent_of,
    port_open,
    processes_with,
    read_pid,
    start_daemon,
    terminate,
)


class ManagedDaemon:
    """The verbs of :class:`mailstack.daemon.Daemon` for one of our own programs. A subclass
    names its module and says how it is called; it renders nothing unless it says so, and it is
    ready once every endpoint answers."""

    name: str
    module: str  # run as ``python -m module``
    what: str  # for messages: "the outbound sink"
    start_wait: float = 10  # seconds for its pid file to appear

    def __init__(self, ctx: RenderContext, pidfile: Path) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.pidfile = pidfile
        self.logfile = self.layout.logfile(self.name)

    def arguments(self) -> list[str]:
        """Its command line after ``python -m module`` (``--pidfile`` is added)."""
        raise NotImplementedError

    def render(self) -> list[FileSpec]:
        return []  # no configuration file: everything is on the command line

    def prepare(self) -> None:
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.layout.log, 0o755)

    def check(self, staging: Path) -> None:
        return None

    def pid(self) -> int | None:
        return our_pid(self.pidfile, str(self.pidfile))  # on its command line: ours alone

    def start(self) -> None:
        start_daemon(
            [
                "setsid",
                "-f",
                sys.executable,
                "-m",
                self.module,
                *self.arguments(),
                "--pidfile",
                str(self.pidfile),
            ],
            self.logfile,
            what=f"starting {self.what}",
            running=lambda: self.pid() is not None,
            wait=self.start_wait,
        )

    def orphans(self) -> list[int]:
        """Those running our module with our pid file that it does not name. A process one of
        them forked (the web service's root helper) has the same command line: it goes with
        its parent."""
        found = processes_with(self.module, "--pidfile", str(self.pidfile))
        ours = {self.pid(), *found}
        return [p for p in found if p != self.pid() and parent_of(p) not in ours]

    def stale(self) -> bool:
        return False

    def apply(self, changed: list[FileSpec]) -> None:
        return None

    def restart(self) -> None:
        """For a program that reads what changed only when it starts."""
        if self.pid() is not None:
            self.stop()
            self.start()

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid)
            self.pidfile.unlink(missing_ok=True)

    def ready(self) -> bool:
        return all(port_open(ep.host, ep.port) for ep in self.endpoints())

    def endpoints(self) -> list[Endpoint]:
        return []


def stop_requested() -> asyncio.Event:
    """Set on TERM (how the stack stops us) or INT, for a process serving on asyncio's loop.
    Installed before the pid file is written, so no TERM finds the process without it."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    return stopping


def announce(
    pidfile: Path,
    user: ServiceUser,
    *,
    packages: tuple[str, ...] = (),
    modules: tuple[str, ...] = (),
) -> None:
    """Listening now: say so in the pid file (the stack waits for it), then drop root for good,
    having imported what the process needs later (:func:`mailstack.privileges.preload`)."""
    pidfile.write_text(f"{os.getpid()}\n")
    drop_privileges(user, packages=packages, modules=modules)


def forget(pidfile: Path) -> None:
    """On the way out, remove the pid file if it still names this process (one naming another
    instance is that instance's). Unprivileged, the process may not be allowed to: the stack
    removes it when it stops the daemon."""
    if read_pid(pidfile) == os.getpid():
        with contextlib.suppress(OSError):
            pidfile.unlink(missing_ok=True)
