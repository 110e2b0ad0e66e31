"""Dovecot: IMAP, POP3, LMTP, the SASL socket Postfix uses and the quota policy service, run as
a private instance (its own base_dir, instance name and log)."""

from __future__ import annotations

import grp
import hashlib
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from identity.errors import ConfigError
from mailstack.context import INTROSPECTION_CLIENT, RenderContext
from mailstack.daemon import Endpoint
from mailstack.files import FileSpec, ensure_dir
from mailstack.keys.tls import CIPHERS
from mailstack.mailbox.doveadm import CONFIG, Doveadm
from mailstack.privileges import SERVICE_USER
from mailstack.process import (
    our_pid,
    port_open,
    processes_with,
    raise_fd_limit,
    run,
    start_daemon,
    terminate,
)
from mailstack.settings import url_host
from mailstack.templates import render_template

PASSDB = "etc/dovecot/passdb-ldap.conf.ext"
PASSDB_OAUTH2 = "etc/dovecot/passdb-oauth2.conf.ext"
USERDB = "etc/dovecot/userdb-ldap.conf.ext"
DOVEADM_SECRET = "etc/dovecot/doveadm-password"  # noqa: S105 -- a path, not a value
SERVICES = ("imap", "imaps", "pop3", "pop3s")
# One login process holds this many clients (each a TLS proxy: two descriptors and ~50 KB).
LOGIN_CLIENTS_PER_PROCESS = 1000
# At least one login process per core of the reference machine, so TLS uses both.
MIN_LOGIN_PROCESSES = 2


@dataclass(frozen=True)
class Sizing:
    """How many processes and clients each Dovecot service may have, from ``sessions.max`` and
    ``sessions.per_user_ip``."""

    sessions: int
    per_user_ip: int
    login_processes: int
    login_clients: int
    login_vsz_limit: str = "1G"  # a login process's memory grows with its clients
    hibernate_after: str = "30s"

    @classmethod
    def of(cls, sessions: int, per_user_ip: int) -> Sizing:
        # Room above the limit: the extra clients are refused by a login process, not dropped.
        logins = sessions + max(100, sessions // 10)
        processes = max(MIN_LOGIN_PROCESSES, math.ceil(logins / LOGIN_CLIENTS_PER_PROCESS))
        return cls(sessions, per_user_ip, processes, math.ceil(logins / processes))

    @property
    def service_clients(self) -> int:
        """auth, anvil and the like serve every process of both protocols at once."""
        return 2 * (self.sessions + self.login_processes) + 100

    @property
    def descriptors(self) -> int:
        """File descriptors for the master (a few pipes per child) and for auth and anvil (one
        connection per client)."""
        return 4 * self.service_clients


class Dovecot:
    name = "dovecot"

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.config = self.layout.root / CONFIG
        self.logfile = self.layout.logfile(self.name)

    @property
    def instance_name(self) -> str:
        digest = hashlib.sha256(str(self.layout.root).encode()).hexdigest()[:8]
        return f"alumail-{digest}"

    @property
    def doveadm_secret(self) -> Path:
        """The doveadm server's password: root and the service group read it (0640)."""
        return self.layout.root / DOVEADM_SECRET

    @property
    def doveadm_socket(self) -> Path:
        return self.layout.dovecot_run / "doveadm-server"

    @property
    def lmtp_socket(self) -> Path:
        return self.layout.dovecot_run / "lmtp"

    @property
    def auth_socket(self) -> Path:
        return self.layout.dovecot_run / "auth-client"

    @property
    def quota_status_socket(self) -> Path:
        return self.layout.dovecot_run / "quota-status"

    @property
    def sizing(self) -> Sizing:
        return Sizing.of(self.ctx.settings.sessions.max, self.ctx.settings.sessions.per_user_ip)

    def render(self) -> list[FileSpec]:
        s = self.ctx.settings
        ldap = {
            "ldap_uri": self.ctx.ldap_uri,
            "service_dn": self.ctx.tree.service("dovecot"),
            "service_password": self.ctx.service_passwords["dovecot"],
            "people_dn": self.ctx.tree.people,
        }
        main = render_template(
            "dovecot/dovecot.conf.j2",
            instance_name=self.instance_name,
            base_dir=self.layout.dovecot_run,
            state_dir=self.layout.dovecot_state,
            log_path=self.logfile,
            mail_host=s.mail_host,
            domain=s.domain,
            listen=s.listen,
            ports=s.ports,
            vmail_uid=self.ctx.vmail_uid,
            vmail_gid=self.ctx.vmail_gid,
            tls_cert=self.ctx.tls.cert,
            tls_key=self.ctx.tls.key,
            tls_fingerprint=self.ctx.tls.fingerprint,
            tls_ciphers=CIPHERS,
            auth_cache_ttl=s.auth.cache_ttl,
            auth_cache_negative_ttl=s.auth.cache_negative_ttl,
            auth_failure_delay=s.auth.failure_delay,
            auth_penalty=s.auth.penalty,
            passdb_ldap_conf=self.layout.root / PASSDB,
            passdb_oauth2_conf=self.layout.root / PASSDB_OAUTH2,
            userdb_ldap_conf=self.layout.root / USERDB,
            default_quota=s.default_quota,
            sizing=self.sizing,
            service_group=SERVICE_USER,
            doveadm_secret=self.doveadm_secret,
        )
        return [
            FileSpec(CONFIG, main, mode=0o644),
            # These hold the service account's bind secret: root only.
            FileSpec(PASSDB, render_template("dovecot/passdb-ldap.conf.ext.j2", **ldap), 0o600),
            # This one holds Dovecot's client secret at the introspection endpoint: root only.
            FileSpec(PASSDB_OAUTH2, self._oauth2(), 0o600),
            FileSpec(
                USERDB,
                render_template(
                    "dovecot/userdb-ldap.conf.ext.j2", mail_root=self.layout.mail, **ldap
                ),
                0o600,
            ),
        ]

    def _oauth2(self) -> str:
        """The oauth2 passdb: introspection at the web service on this host, as the client
        ``INTROSPECTION_CLIENT`` (credentials in the URL: Dovecot 2.3 sends them as HTTP basic
        authentication)."""
        s = self.ctx.settings
        scheme = "https" if s.web.tls else "http"
        credentials = f"{INTROSPECTION_CLIENT}:{quote(self.ctx.introspection_secret, safe='')}"
        url = f"{scheme}://{credentials}@{url_host(s.connect_host)}:{s.ports.web}/oidc/introspect"
        return render_template(
            "dovecot/passdb-oauth2.conf.ext.j2",
            client_id=INTROSPECTION_CLIENT,
            introspection_url=url,
            tls_ca=self.ctx.tls.ca_cert if s.web.tls else None,
        )

    def prepare(self) -> None:
        ensure_dir(self.layout.run, 0o755)
        ensure_dir(self.layout.dovecot, 0o755)
        ensure_dir(self.layout.dovecot_state, 0o755)
        ensure_dir(self.layout.mail, 0o770, "vmail", "vmail")
        ensure_dir(self.layout.log, 0o755)
        self._ensure_doveadm_secret()

    def _ensure_doveadm_secret(self) -> None:
        path = self.doveadm_secret
        if not path.exists():
            ensure_dir(path.parent, 0o755)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))  # no newline: Dovecot reads it whole
        os.chown(path, 0, grp.getgrnam(SERVICE_USER).gr_gid)
        os.chmod(path, 0o640)

    def check(self, staging: Path) -> None:
        run(
            ["doveconf", "-c", str(staging / CONFIG), "-n"],
            error=ConfigError,
            what="doveconf -n on the rendered Dovecot configuration",
        )

    def pid(self) -> int | None:
        return our_pid(self.layout.dovecot_run / "master.pid", str(self.config))

    def orphans(self) -> list[int]:
        # Only the master names the configuration; its children die with it.
        return [p for p in processes_with(str(self.config), program="dovecot") if p != self.pid()]

    def running(self) -> bool:
        return Doveadm(self.layout, self.config).dovecot_running()

    def start(self) -> None:
        # The master and its children inherit the limit: thousands of sessions need more
        # descriptors than the usual 1024.
        raise_fd_limit(self.sizing.descriptors)
        start_daemon(
            ["dovecot", "-c", str(self.config)],
            self.logfile,
            what="starting Dovecot",
            running=lambda: self.pid() is not None,
        )

    def stale(self) -> bool:
        return False  # Dovecot and Postfix read their files directly

    def apply(self, changed: list[FileSpec]) -> None:
        if changed:
            self.doveadm("reload")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout=15)

    def ready(self) -> bool:
        host, ports = self.ctx.settings.connect_host, self.ctx.settings.ports
        return (
            all(port_open(host, getattr(ports, name)) for name in SERVICES)
            and self.auth_socket.exists()
            and self.lmtp_socket.exists()
        )

    def endpoints(self) -> list[Endpoint]:
        host, ports = self.ctx.settings.connect_host, self.ctx.settings.ports
        return [Endpoint(name, host, getattr(ports, name)) for name in SERVICES]

    def doveadm(self, *args: str, timeout: float = 60) -> str:
        return Doveadm(self.layout, self.config)(*args, timeout=timeout)
