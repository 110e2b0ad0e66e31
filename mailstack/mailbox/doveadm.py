"""``doveadm`` against our own Dovecot instance (never the system's): the one client every
mailbox operation goes through. It needs only the layout and the configuration's path, never a
RenderContext (which hashes the certificate and reads service secrets to render files)."""

from __future__ import annotations

import os
from pathlib import Path

from mailstack.layout import Layout
from mailstack.process import our_pid, run

# Dovecot's main configuration under the state directory (mailstack.daemons.dovecot renders it).
CONFIG = "etc/dovecot/dovecot.conf"


class Doveadm:
    def __init__(self, layout: Layout, config: Path) -> None:
        self.layout = layout
        self.config = config

    @classmethod
    def of(cls, layout: Layout) -> Doveadm:
        return cls(layout, layout.root / CONFIG)

    @property
    def server_socket(self) -> Path:
        return self.layout.dovecot_run / "doveadm-server"

    def dovecot_running(self) -> bool:
        """Root reads the pid file; the unprivileged web service cannot, and looks for the
        auth-master socket it talks to (gone when Dovecot stops)."""
        if os.geteuid() == 0:
            return our_pid(self.layout.dovecot_run / "master.pid", str(self.config)) is not None
        return (self.layout.dovecot_run / "auth-master").exists()

    def __call__(self, *args: str, timeout: float = 60) -> str:
        """Run ``doveadm *args``.

        An unprivileged process (the web service) cannot act as the mail user: its mail
        commands (those naming a user with ``-u``) run in Dovecot's doveadm server instead, and
        ``auth cache flush`` goes to the auth-master socket; both open to the service group."""
        options: list[str] = []
        if os.geteuid() != 0:
            options = ["-o", "stats_writer_socket_path="]  # root's socket; nothing to report
            if "-u" in args:
                at = args.index("-u")
                args = (*args[:at], "-S", str(self.server_socket), *args[at:])
        return run(
            ["doveadm", *options, "-c", str(self.config), *args],
            what=f"doveadm {args[0]}",
            timeout=timeout,
        )
