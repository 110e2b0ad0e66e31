"""slapd, the jAccount directory's server: cn=config rendered from configs/slapd, built offline
with ``slapadd -n0``, checked with ``slaptest``, run in the foreground under our own pid file.
What the directory holds and who may read it are identity's (:mod:`identity.access`,
:mod:`identity.seeding`): this module puts them in slapd's configuration and its database."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from identity.access import olc_access, size_limits
from identity.directory import Directory, is_reachable
from identity.dit import WEB_SERVICE
from identity.errors import AlumailError, ConfigError
from identity.rules import directory_constraints, unique_uris
from identity.seeding import seed
from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.errors import DaemonError
from mailstack.files import FileSpec, ensure_dir
from mailstack.layout import Layout
from mailstack.process import (
    alive,
    log_since,
    our_pid,
    port_open,
    processes_with,
    read_pid,
    run,
    start_daemon,
    terminate,
    wait_until,
)
from mailstack.settings import url_host
from mailstack.templates import render_template

SLAPD = "/usr/sbin/slapd"
CONFIG = "etc/slapd/config.ldif"
# Largest the database may grow (a sparse file): about 800 bytes an alumnus, so 8 GiB holds
# millions of entries with room for indexes.
MAX_SIZE = 8 * 1024**3
# What slapd writes to state/log/slapd.log: "none" is only what slapd logs whatever the level
# (start, stop, fatal errors). "stats" wrote every connection, bind DN and search filter (student
# numbers included), ~3.7 KB per inbound message. Logins are logged by Dovecot (user, address,
# outcome), failures counted by ppolicy in the directory, changes by the audit trail.
LOG_LEVEL = "none"


def running_pid(layout: Layout) -> int | None:
    """The slapd serving this state directory, if its pid file names one (what the stack's
    verbs and the offline loader, :mod:`mailstack.daemons.slapd_offline`, ask)."""
    return our_pid(layout.slapd_pidfile, str(layout.slapd_d))


class Slapd:
    name = "slapd"

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.pidfile = self.layout.slapd_pidfile
        self.logfile = self.layout.logfile(self.name)

    def render(self) -> list[FileSpec]:
        text = render_template(
            "slapd/config.ldif.j2",
            run_dir=self.layout.slapd_run,
            data_dir=self.layout.ldap_data,
            base_dn=self.ctx.tree.base_dn,
            policy_dn=self.ctx.tree.default_policy,
            access=olc_access(self.ctx.tree),
            web_dn=self.ctx.tree.service(WEB_SERVICE),
            web_uid=self.ctx.service_uid,
            web_gid=self.ctx.service_gid,
            limits=size_limits(self.ctx.tree),
            unique=unique_uris(self.ctx.tree.people, self.ctx.tree.base_dn),
            constraints=[c.ldif_value() for c in directory_constraints()],
            max_size=MAX_SIZE,
            circle_placeholder=self.ctx.tree.circle_placeholder,
            # slapd's messages go to our log file through -d (LOG_LEVEL); 0 here keeps slapd
            # from trying a syslog socket (absent on these hosts) for every message.
            log_level="0",
        )
        return [FileSpec(CONFIG, text, mode=0o640, owner="root", group="openldap")]

    def prepare(self) -> None:
        ensure_dir(self.layout.ldap, 0o755)
        ensure_dir(self.layout.ldap_data, 0o700, "openldap", "openldap")
        ensure_dir(self.layout.slapd_run, 0o755, "openldap", "openldap")
        ensure_dir(self.layout.log, 0o755)

    def check(self, staging: Path) -> None:
        slapd_d = staging / "slapd.d"
        self._build_config_dir(staging / CONFIG, slapd_d, error=ConfigError)
        run(
            ["slaptest", "-u", "-F", str(slapd_d)],
            error=ConfigError,
            what="slaptest on the rendered slapd configuration",
        )

    def _build_config_dir(self, ldif: Path, slapd_d: Path, *, error: type[AlumailError]) -> None:
        if slapd_d.exists():
            shutil.rmtree(slapd_d)
        slapd_d.mkdir(parents=True, mode=0o750)
        run(
            ["slapadd", "-n0", "-F", str(slapd_d), "-l", str(ldif)],
            error=error,
            what="slapadd -n0 (building cn=config)",
        )

    def pid(self) -> int | None:
        return running_pid(self.layout)

    def orphans(self) -> list[int]:
        return [
            p for p in processes_with(str(self.layout.slapd_d), program="slapd") if p != self.pid()
        ]

    def urls(self) -> str:
        host = url_host(self.ctx.settings.listen)
        return f"ldap://{host}:{self.ctx.settings.ports.ldap}/ {self.layout.ldapi_uri}"

    def start(self) -> None:
        if self.stale():
            self._install_config_dir()
        # A pid file naming a live process belongs to a running slapd (ours or another run's):
        # never removed here. Only a stale one goes, so the wait below sees the new pid.
        old = read_pid(self.pidfile)
        if old is None or not alive(old):
            self.pidfile.unlink(missing_ok=True)
        offset = self.logfile.stat().st_size if self.logfile.exists() else 0
        # Foreground (-d) so messages reach our log file (there is no syslog here), detached
        # from us by setsid -f so it outlives the command that started it.
        start_daemon(
            [
                "setsid",
                "-f",
                SLAPD,
                "-h",
                self.urls(),
                "-F",
                str(self.layout.slapd_d),
                "-u",
                "openldap",
                "-g",
                "openldap",
                "-d",
                LOG_LEVEL,
            ],
            self.logfile,
            what="starting slapd",
        )

        # slapd writes its pid file once its listeners are open; "slapd stopped." in its log
        # means it gave up (a port taken, a database it cannot open): say so at once.
        def settled() -> bool:
            return self.pid() is not None or "slapd stopped." in log_since(self.logfile, offset)

        if not wait_until(settled, 10) or self.pid() is None:
            raise DaemonError("slapd did not start", detail=log_since(self.logfile, offset)[-3000:])

    def _install_config_dir(self) -> None:
        self._build_config_dir(self.layout.root / CONFIG, self.layout.slapd_d, error=DaemonError)
        run(["chown", "-R", "openldap:openldap", str(self.layout.slapd_d)])
        self._stamp.write_text(f"{self._source_digest()}\n{self._built_digest()}\n")

    # slapd.d is derived from config.ldif. The stamp records which config.ldif built it and what
    # the build wrote, so a change of config.ldif made while slapd was stopped, and an edit of
    # slapd.d itself (by hand, or online through cn=config), are both noticed: `up` rebuilds.
    @property
    def _stamp(self) -> Path:
        return self.layout.slapd_d_stamp

    def _source_digest(self) -> str:
        return hashlib.sha256((self.layout.root / CONFIG).read_bytes()).hexdigest()

    def _built_digest(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.layout.slapd_d.rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(self.layout.slapd_d)).encode() + b"\0")
                digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()

    def _recorded(self) -> list[str]:
        if not (self.layout.slapd_d / "cn=config.ldif").is_file() or not self._stamp.is_file():
            return []
        return self._stamp.read_text().split()

    def stale(self) -> bool:
        return self._recorded() != [self._source_digest(), self._built_digest()]

    def apply(self, changed: list[FileSpec]) -> None:
        # cn=config is derived from config.ldif; the data lives in the mdb database, untouched.
        if not changed and not self.stale():
            return
        self.stop()
        self._install_config_dir()
        self.start()

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout=15)

    def ready(self) -> bool:
        settings = self.ctx.settings
        return port_open(settings.connect_host, settings.ports.ldap) and is_reachable(
            self.layout.ldapi_uri
        )

    def endpoints(self) -> list[Endpoint]:
        return [Endpoint("ldap", self.ctx.settings.connect_host, self.ctx.settings.ports.ldap)]

    def seed(self) -> list[str]:
        """Apply the entries identity seeds every directory with (:mod:`identity.seeding`) over
        the ldapi socket as root; what changed."""
        with Directory(self.layout.ldapi_uri) as directory:
            return seed(
                directory,
                self.ctx.tree,
                self.ctx.settings.domain,
                self.ctx.service_passwords,
                bind_uri=self.ctx.ldap_uri,
            )
