"""Postfix: inbound SMTP for the domain, submission (STARTTLS) and submissions (implicit TLS)
with AUTH through Dovecot, delivery to Dovecot over LMTP. A private instance: ``postfix -c``."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from identity import legacy
from identity.errors import ConfigError
from mailstack.context import RenderContext
from mailstack.daemon import Endpoint
from mailstack.daemons.dovecot import Dovecot
from mailstack.daemons.sasl_relay import SaslRelay
from mailstack.files import FileSpec, ensure_dir
from mailstack.keys.tls import CIPHERS
from mailstack.process import (
    alive,
    holds_lock,
    port_open,
    program,
    read_pid,
    run,
    start_daemon,
    terminate,
    wait_until,
)
from mailstack.settings import url_host
from mailstack.templates import render_template

CONFIG_DIR = "etc/postfix"
SERVICES = ("smtp", "submission", "submissions")

ACTIVE = "(alumailAccountStatus=active)(!(alumailMailEnabled=FALSE))"
LDAP_TABLES = {
    # name: (purpose, query filter, result attributes)
    "mailboxes": (
        "Addresses that have a mailbox here (active accounts only).",
        f"(&(objectClass=alumailAccount){ACTIVE}(mail=%s))",
        "mail",
    ),
    "aliases": (
        "Extra addresses, rewritten to the owner's primary address.",
        f"(&(objectClass=alumailAccount){ACTIVE}(alumailMailAlias=%s))",
        "mail",
    ),
    "senders": (
        "Which login names own a sender address (Dovecot reports the address as the login).",
        "(&(objectClass=alumailAccount)(|(mail=%s)(alumailMailAlias=%s)))",
        "mail, uid",
    ),
}


LEGACY_TABLES = {
    "legacy": (
        "Old addresses of holders who moved here: delivered to the new mailbox.",
        legacy.holder_filter("%s", moved=True, also=ACTIVE),
        "mail",
    ),
    "retired": (
        "Old addresses of holders who never moved: refused for good, saying why.",
        legacy.holder_filter("%s", moved=False),
        legacy.ADDRESS,
    ),
    "legacy-senders": (
        "Old addresses of holders who moved here: refused as sender on port 25 (they send "
        "through submission).",
        legacy.holder_filter("%s", moved=True),
        legacy.ADDRESS,
    ),
}
# A circle's address (NAME@<circles.domain>, the table's `domain` keeps other domains out) expands
# to its members: Postfix reads each member DN (special_result_attribute) for its mail. Only an
# active circle: a proposed one is unknown here (5.1.1). The placeholder member is a DN no entry
# has (identity/circles.py): Postfix skips it. Members are alumni only (identity/circles.py puts
# person DNs there, never staff's or another circle's), so no circle address is ever expanded
# into another.
# The most addresses one circle address expands to (virtual_alias_expansion_limit): well above a
# graduation year's alumni.
CIRCLE_MEMBERS_MAX = 50_000
CIRCLES_TABLE = (
    "Circle addresses: each active circle's members' mailboxes.",
    "(&(objectClass=alumailCircle)(cn=%u)(!(alumailCircleState=proposed)))",
    "mail",
)
RESULT_FORMATS = {
    "retired": "550 5.1.6 %s is retired: the old alumni mail service has closed and its "
    "holder did not move to the new one",
    "legacy-senders": "550 5.7.1 %s has moved here: its mail is sent through submission with "
    "AUTH, not to port 25",
}


class Postfix:
    name = "postfix"

    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self.layout = ctx.layout
        self.config_dir = self.layout.root / CONFIG_DIR
        self.logfile = self.layout.logfile(self.name)
        self.dovecot = Dovecot(ctx)

    def render(self) -> list[FileSpec]:
        s = self.ctx.settings
        address = ipaddress.ip_address(s.listen)
        main = render_template(
            "postfix/main.cf.j2",
            domain=s.domain,
            mail_host=s.mail_host,
            queue_dir=self.layout.postfix_queue,
            data_dir=self.layout.postfix_data,
            # Postfix names every address "all"; it refuses 0.0.0.0 ("no local interface found").
            inet_interfaces="all" if address.is_unspecified else s.listen,
            inet_protocols="ipv6" if address.version == 6 else "ipv4",
            mynetworks="[::1]/128" if address.version == 6 else "127.0.0.1/32",
            message_size_limit=s.message_size_limit,
            log_path=self.logfile,
            log_dir=self.layout.log,
            lmtp_socket=self.dovecot.lmtp_socket,
            sasl_socket=SaslRelay(self.ctx).socket,
            quota_status_socket=self.dovecot.quota_status_socket,
            tls_cert=self.ctx.tls.cert,
            tls_key=self.ctx.tls.key,
            tls_fingerprint=self.ctx.tls.fingerprint,
            tls_ciphers=CIPHERS,
            relayhost=self.relayhost(),
            milter=self.milter(),
            sender_milter=self.milter(s.ports.sender_milter),
            legacy_domain=s.legacy.domain,
            circles_domain=s.circles.domain,
            circle_members_max=CIRCLE_MEMBERS_MAX,
        )
        listen_smtp = f"[{s.listen}]" if address.version == 6 else s.listen
        master = render_template(
            "postfix/master.cf.j2",
            listen_smtp=listen_smtp,
            ports=s.ports,
            milter=self.milter(),
            sender_milter=self.milter(s.ports.sender_milter),
        )
        domains = [s.domain, s.circles.domain, *([s.legacy.domain] if s.legacy.domain else [])]
        specs = [
            FileSpec(f"{CONFIG_DIR}/main.cf", main),
            FileSpec(f"{CONFIG_DIR}/master.cf", master),
            FileSpec(
                f"{CONFIG_DIR}/own-domains",
                render_template("postfix/own-domains.j2", domains=[s.domain, s.circles.domain]),
            ),
            FileSpec(
                f"{CONFIG_DIR}/circle-domains",
                render_template("postfix/circle-domains.j2", domain=s.circles.domain),
            ),
            FileSpec(
                f"{CONFIG_DIR}/submission-senders",
                render_template("postfix/submission-senders.j2"),
            ),
            FileSpec(
                f"{CONFIG_DIR}/role-addresses",
                render_template("postfix/role-addresses.j2", domains=domains, targets=s.postmaster),
            ),
        ]
        tables = dict(LDAP_TABLES)
        if s.legacy.domain:
            tables.update(LEGACY_TABLES)
        for name, (purpose, query, result) in tables.items():
            text = self.ldap_table(
                purpose, query, result, result_format=RESULT_FORMATS.get(name, "")
            )
            specs.append(self.ldap_spec(name, text))
        circles = self.ldap_table(
            CIRCLES_TABLE[0],
            CIRCLES_TABLE[1],
            CIRCLES_TABLE[2],
            search_base=self.ctx.tree.circles,
            domain=s.circles.domain,
            special_result_attribute="member",
        )
        specs.append(self.ldap_spec("circles", circles))
        names = self.ldap_table(
            "Circle addresses that exist (smtpd's check at RCPT: one search, no expansion).",
            CIRCLES_TABLE[1],
            "cn",
            search_base=self.ctx.tree.circles,
            domain=s.circles.domain,
            result_format=f"%s@{s.circles.domain}",
        )
        specs.append(self.ldap_spec("circle-names", names))
        return specs

    def ldap_table(
        self,
        purpose: str,
        query: str,
        result: str,
        *,
        result_format: str = "",
        search_base: str = "",
        domain: str = "",
        special_result_attribute: str = "",
    ) -> str:
        return render_template(
            "postfix/ldap-table.cf.j2",
            purpose=purpose,
            ldap_uri=self.ctx.ldap_uri,
            service_dn=self.ctx.tree.service("postfix"),
            service_password=self.ctx.service_passwords["postfix"],
            search_base=search_base or self.ctx.tree.people,
            domain=domain,
            query_filter=query,
            result_attribute=result,
            special_result_attribute=special_result_attribute,
            result_format=result_format,
        )

    @staticmethod
    def ldap_spec(name: str, text: str) -> FileSpec:
        # Holds the bind secret: readable by root and Postfix's processes only.
        return FileSpec(f"{CONFIG_DIR}/ldap-{name}.cf", text, 0o640, "root", "postfix")

    def milter(self, port: int | None = None) -> str:
        """A milter on a loopback port: OpenDKIM's unless another port is given."""
        port = port or self.ctx.settings.ports.dkim
        return f"{url_host(self.ctx.settings.connect_host)}:{port}"

    def relayhost(self) -> str:
        s = self.ctx.settings
        if s.outbound == "sink":
            host = f"[{s.connect_host}]"
            return f"{host}:{s.ports.sink}"
        return s.relay_host if s.outbound == "relay" else ""

    def prepare(self) -> None:
        ensure_dir(self.layout.etc, 0o755)
        ensure_dir(self.config_dir, 0o755)
        ensure_dir(self.layout.postfix, 0o755)
        ensure_dir(self.layout.postfix_queue, 0o755)
        ensure_dir(self.layout.postfix_data, 0o700, "postfix", "postfix")
        ensure_dir(self.layout.log, 0o755)

    def check(self, staging: Path) -> None:
        config = str(staging / CONFIG_DIR)
        # postconf exits 0 on unknown parameters and only warns: a warning is a failure here.
        for flag in ("-n", "-M"):
            run(
                ["postconf", "-c", config, flag],
                error=ConfigError,
                what=f"postconf {flag}",
                strict=True,
            )
        # postfix(1) tells why only to syslog, its maillog_file, or stderr when it is a
        # terminal: give it one, so the checker's own words reach the error.
        run(
            ["postfix", "-c", config, "check"],
            error=ConfigError,
            what="postfix check",
            strict=True,
            terminal=True,
        )

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "MAIL_CONFIG": str(self.config_dir)}

    def pid(self) -> int | None:
        """Our master process: the pid its pid file in our queue directory names, running
        Postfix's ``master``, holding the lock on our data directory's master.lock. Its command
        line names no configuration (that is only in its environment, which root cannot read in
        a container without CAP_SYS_PTRACE), so the lock is what proves it ours."""
        pid = read_pid(self.layout.postfix_queue / "pid" / "master.pid")
        if pid is None or not alive(pid) or program(pid) != "master":
            return None
        return pid if holds_lock(pid, self.layout.postfix_data / "master.lock") else None

    def start(self) -> None:
        start_daemon(
            ["postfix", "-c", str(self.config_dir), "start"],
            self.logfile,
            what="starting Postfix",
            env=self._env(),
            running=lambda: self.pid() is not None,
        )

    def stale(self) -> bool:
        return False  # Dovecot and Postfix read their files directly

    def apply(self, changed: list[FileSpec]) -> None:
        if changed:
            run(
                ["postfix", "-c", str(self.config_dir), "reload"],
                what="reloading Postfix",
                env=self._env(),
            )

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        run(
            ["postfix", "-c", str(self.config_dir), "stop"],
            what="stopping Postfix",
            env=self._env(),
        )
        if not wait_until(lambda: self.pid() is None, 10):
            terminate(pid)

    def ready(self) -> bool:
        host, ports = self.ctx.settings.connect_host, self.ctx.settings.ports
        return all(port_open(host, getattr(ports, name)) for name in SERVICES)

    def endpoints(self) -> list[Endpoint]:
        host, ports = self.ctx.settings.connect_host, self.ctx.settings.ports
        return [Endpoint(name, host, getattr(ports, name)) for name in SERVICES]

    def orphans(self) -> list[int]:
        """None to find: master refuses to start while another holds our master.lock, and its
        command line names no configuration by which one could be told ours."""
        return []

    def flush_queue(self) -> None:
        """Retry deferred mail now (after Dovecot or slapd comes back)."""
        run(["postqueue", "-c", str(self.config_dir), "-f"], what="postqueue -f", env=self._env())

    def has_deferred(self) -> bool:
        """Mail waits in the deferred queue (it holds files only then)."""
        deferred = self.layout.postfix_queue / "deferred"
        return deferred.is_dir() and any(p.is_file() for p in deferred.rglob("*"))

    def flush_deferred(self) -> bool:
        """After a daemon Postfix hands mail to came back, retry what waits now instead of at
        the next queue run (up to ``maximal_backoff_time``, 67 min by default). True if it
        flushed."""
        if self.pid() is None or not self.has_deferred():
            return False
        self.flush_queue()
        return True
