"""The web service as one of the stack's daemons: ``alumail up`` starts it after the mail
servers, ``down`` stops it, ``status`` shows it as service ``web``.

Its configuration is one rendered file, ``etc/web/settings.json``: the exact settings the stack
was brought up with, so the service never reads the environment or guesses a file. The server
is uvicorn in its own process (``python -m provisioning.web``), on ``listen``:``ports.web``,
running as the unprivileged service user once its port is bound (provisioning/web/server.py).
It owns ``state/web`` (its store and key) and writes the audit log through its group; it cannot
read the secrets, the TLS key or slapd's database.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from identity.errors import ConfigError
from mailstack import settings as settings_module
from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.managed import ManagedDaemon
from mailstack.errors import DaemonError
from mailstack.files import FileSpec, ensure_dir
from mailstack.mailbox.mailbackup import prepare_transfer
from mailstack.privileges import SERVICE_USER
from mailstack.process import log_tail
from provisioning.audit import AUDIT_DIR_MODE, AUDIT_FILE_MODE, AuditLog, audit_path
from provisioning.oidc.clients import register_stack_clients, stack_clients
from provisioning.store import Store

SETTINGS_FILE = "etc/web/settings.json"


def render_settings(ctx: RenderContext) -> str:
    document: dict[str, object] = {"settings": settings_module.to_values(ctx.settings)}
    if ctx.settings.web.tls:
        # A renewed certificate changes this file, so `up` restarts the service to load it.
        document["certificate_sha256"] = ctx.tls.fingerprint
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def load_settings(path: Path) -> settings_module.Settings:
    try:
        values = json.loads(path.read_text(encoding="utf-8"))["settings"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: cannot be read as the web service's settings: {exc}") from exc
    return settings_module.build(values, base=path.parent)


class WebService(ManagedDaemon):
    name = "web"
    module = "provisioning.web"
    what = "the web service"
    start_wait = 15

    def __init__(self, ctx: RenderContext) -> None:
        super().__init__(ctx, ctx.layout.run / "web.pid")
        self.config = self.layout.root / SETTINGS_FILE

    def arguments(self) -> list[str]:
        return ["--settings", str(self.config)]

    def render(self) -> list[FileSpec]:
        return [FileSpec(SETTINGS_FILE, render_settings(self.ctx), mode=0o600)]

    def prepare(self) -> None:
        web = self.layout.web
        ensure_dir(web, 0o700, SERVICE_USER, SERVICE_USER)
        for path in web.iterdir():  # made by root before the service ran unprivileged
            shutil.chown(path, SERVICE_USER, SERVICE_USER)
        prepare_transfer(self.ctx.layout)  # the mailbox download's copy
        audit = audit_path(self.layout.root)
        ensure_dir(audit.parent, AUDIT_DIR_MODE, "root", SERVICE_USER)
        # Dovecot's and Roundcube's registrations, with the secrets they were rendered with.
        register_stack_clients(
            Store.for_state(self.layout.root),
            AuditLog(audit),
            stack_clients(
                self.ctx.settings, self.ctx.introspection_secret, self.ctx.webmail_secret
            ),
        )
        if audit.exists():
            shutil.chown(audit, "root", SERVICE_USER)
            audit.chmod(AUDIT_FILE_MODE)
        super().prepare()

    def check(self, staging: Path) -> None:
        """The staged settings must build the same Settings: a file the service could not load
        is refused before anything restarts."""
        staged = load_settings(staging / SETTINGS_FILE)
        if staged != self.ctx.settings:
            raise ConfigError("web: the rendered settings do not round-trip")

    def apply(self, changed: list[FileSpec]) -> None:
        """New settings: restart (the service keeps no state in memory worth keeping, but its
        rate-limit counters)."""
        self.stop()
        self.start()

    def ready(self) -> bool:
        if self.pid() is None:  # it died while starting: say why now, not after a timeout
            raise DaemonError(
                "the web service stopped while starting", detail=log_tail(self.logfile)
            )
        return super().ready()

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("web", self.ctx.settings.connect_host, self.ctx.settings.ports.web)]
