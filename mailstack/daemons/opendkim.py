"""OpenDKIM: the milter Postfix passes submitted mail through to sign it. A private instance
(``opendkim -f -x conf``) on a loopback port; its key is managed by :mod:`mailstack.keys.dkim`."""

from __future__ import annotations

import signal
from pathlib import Path

from identity.errors import ConfigError
from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.signalled import SignalledDaemon
from mailstack.files import FileSpec, ensure_dir
from mailstack.keys.dkim import OPENDKIM_USER
from mailstack.process import port_open, processes_with, run, start_daemon
from mailstack.templates import render_template

CONFIG = "etc/opendkim/opendkim.conf"


class OpenDkim(SignalledDaemon):
    name = "opendkim"
    reload_signal = signal.SIGUSR1  # rereads its configuration (and key) between messages

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.config = self.layout.root / CONFIG
        self.run_dir = self.layout.run / "opendkim"
        self.pidfile = self.run_dir / "opendkim.pid"
        self.logfile = self.layout.logfile(self.name)

    def render(self) -> list[FileSpec]:
        s = self.ctx.settings
        key = self.ctx.dkim.signing
        text = render_template(
            "opendkim/opendkim.conf.j2",
            domain=s.domain,
            # Before the first `up` made the key (a dry run) the names are what it will make.
            selector=key.selector if key else "(made on first up)",
            key_file=key.private_key if key else self.layout.dkim / "(new).private",
            port=s.ports.dkim,
            host=s.connect_host,
            pidfile=self.pidfile,
        )
        return [FileSpec(CONFIG, text)]

    def prepare(self) -> None:
        ensure_dir(self.layout.etc, 0o755)
        ensure_dir(self.config.parent, 0o755)
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.run_dir, 0o755, OPENDKIM_USER, OPENDKIM_USER)
        ensure_dir(self.layout.log, 0o755)

    def check(self, staging: Path) -> None:
        run(
            ["opendkim", "-n", "-x", str(staging / CONFIG)],
            error=ConfigError,
            what="opendkim -n (configuration check)",
        )

    def orphans(self) -> list[int]:
        return [p for p in processes_with(str(self.config), program="opendkim") if p != self.pid()]

    def start(self) -> None:
        start_daemon(
            ["setsid", "-f", "opendkim", "-f", "-x", str(self.config)],
            self.logfile,
            what="starting OpenDKIM",
            running=lambda: self.pid() is not None,
        )

    def ready(self) -> bool:
        return port_open(self.ctx.settings.connect_host, self.ctx.settings.ports.dkim)

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("dkim", self.ctx.settings.connect_host, self.ctx.settings.ports.dkim)]
