"""The settings, one frozen dataclass per section of ``alumail.toml``.

A field declared with :func:`setting` is a key: its name is the TOML key (``[auth]
failure_delay``) and the environment variable (``ALUMAIL_AUTH_FAILURE_DELAY``), its metadata
holds its rule (``rules.py``) and its doc. A field declared with :func:`section` is a section.
The loader derives everything from these declarations, so a key or a section is one edit here.
A rule that relates several keys lives in the section's ``checked``.

Every section lives in mailstack, though provisioning alone reads a few keys
(``legacy.cutoff``, ``legacy.reminder_days``, ``web.public_url`` for links): one process loads
one Settings, the web service receives exactly the CLI's, and mailstack renders the daemons
from most sections (Postfix serves ``legacy.domain`` and reaches the web listener's port),
so the layer below cannot be handed a half.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import urlsplit

from identity.dit import base_dn_for
from identity.errors import ConfigError
from mailstack.settings import rules

T = TypeVar("T")

DEFAULT_QUOTA = 5 * 1024**3
MAX_FAILURE_DELAY = 15
DAY = 86400
MTA_STS_MODES = ("testing", "enforce", "none")


def setting(default: T, rule: rules.Rule[T], doc: str) -> T:
    """A key with its default, the rule its given value must pass and what it means.

    The default is used as it is (it passes its rule); a relative path, given or default, is
    taken from the settings file's folder."""
    return field(default=default, metadata={"rule": rule, "doc": doc})


def section(kind: type[T]) -> T:
    """A section of keys, named by the field (``[ports]``)."""
    return field(default_factory=kind, metadata={"section": kind})


@dataclass(frozen=True)
class Section:
    def checked(self, settings: Settings) -> Self:
        """This section, its keys checked against each other and the whole (a rule over
        several keys). By default there is none."""
        return self


@dataclass(frozen=True)
class Ports(Section):
    """Unprivileged defaults, so the embedded stack never clashes with a system mail server.
    Production settings use the standard ports (389, 143, 993, 110, 995, 25, 587, 465).
    Each 1-65535, all different."""

    ldap: int = setting(3389, rules.port, "slapd")
    imap: int = setting(10143, rules.port, "IMAP with STARTTLS")
    imaps: int = setting(10993, rules.port, "IMAP over TLS")
    pop3: int = setting(10110, rules.port, "POP3 with STARTTLS")
    pop3s: int = setting(10995, rules.port, "POP3 over TLS")
    smtp: int = setting(10025, rules.port, "SMTP from other servers")
    submission: int = setting(10587, rules.port, "submission with STARTTLS")
    submissions: int = setting(10465, rules.port, "submission over TLS")
    sink: int = setting(
        10026, rules.port, "the embedded stack's outbound sink (only with outbound = sink)"
    )
    dkim: int = setting(
        10891, rules.port, "OpenDKIM's milter socket (Postfix connects to it; loopback only)"
    )
    sender_milter: int = setting(
        10892, rules.port, "the From: check on submission (a milter; loopback only)"
    )
    web: int = setting(
        10880, rules.port, "the web service (API, portal, helpdesk); Chromium refuses 10080"
    )
    webmail: int = setting(10443, rules.port, "webmail (Roundcube on nginx; TLS when web.tls)")

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]

    def checked(self, settings: Settings) -> Self:
        seen: dict[int, str] = {}
        for name, port in self.items():
            if port in seen:
                raise ConfigError(
                    f"ports.{name}: port {port} is already used by ports.{seen[port]}"
                )
            seen[port] = name
        return self


@dataclass(frozen=True)
class Tls(Section):
    """The server certificate: both or neither; neither means a local CA is made."""

    cert: Path | None = setting(None, rules.optional_path, "certificate chain (PEM)")
    key: Path | None = setting(None, rules.optional_path, "its private key (PEM)")

    def checked(self, settings: Settings) -> Self:
        if (self.cert is None) != (self.key is None):
            raise ConfigError("tls.cert, tls.key: give both a certificate and its key, or neither")
        return self


@dataclass(frozen=True)
class Web(Section):
    public_url: str = setting(
        "",
        rules.public_url,
        "the address people use for the web service (links in mails; https:// makes its "
        "cookies Secure): an http(s) URL with a host, maybe a port and a path. "
        "Default: http://<listen>:<ports.web>, for the embedded stack",
    )
    tls: bool = setting(
        False,
        rules.boolean,
        "serve the web service over TLS with the stack's certificate (default: plain HTTP, "
        "for loopback or behind a TLS proxy)",
    )
    webmail_url: str = setting(
        "",
        rules.origin_url,
        "the address people use for the webmail (Roundcube signs in at its /index.php/login/oauth "
        "there). Default: http(s)://<web.public_url's host, or listen>:<ports.webmail>, https "
        "when web.tls",
    )
    access_token_ttl: int = setting(
        600,
        rules.bounded(5, 3600),
        "seconds an access token of the OpenID Connect provider lives (5-3600); a cut token "
        "stops at once, an expired one within a second, at the provider and in Dovecot",
    )


@dataclass(frozen=True)
class Legacy(Section):
    """The old mail system, migrated from and retired at a cutoff."""

    imap_host: str = setting("", rules.stripped, "the old IMAP server")
    imap_port: int = setting(993, rules.port, "its port")
    security: str = setting(
        "imaps", rules.choice("imaps", "starttls", "no"), "how to reach it: imaps, starttls, no"
    )
    domain: str = setting(
        "",
        rules.optional_dns_name,
        "the old mail domain, which Postfix serves as an alias domain; never domain or mail_host",
    )
    cutoff: str = setting("", rules.date, "when the old domain stops (YYYY-MM-DD)")
    reminder_days: tuple[int, ...] = setting(
        (30, 7), rules.days, "days before the cutoff a reminder goes out, each 0 to 365"
    )

    def checked(self, settings: Settings) -> Self:
        if self.domain in (settings.domain, settings.mail_host):
            raise ConfigError(
                f"legacy.domain: '{self.domain}' is the new mail domain; give the old one, which "
                f"Postfix serves as an alias domain"
            )
        return self


@dataclass(frozen=True)
class Circles(Section):
    """Circles of alumni (provisioning/circles)."""

    interest_approval: bool = setting(
        False,
        rules.boolean,
        "true: a new interest circle an alumnus creates waits, seen by its owner and staff only, "
        "until staff activate it (alumail circle activate); false: it is live at once",
    )
    domain: str = setting(
        "",
        rules.optional_dns_name,
        "the domain of circle addresses (NAME@<it>), a mail domain of ours apart from domain so "
        "circle names never collide with UIDs; default circles.<domain>",
    )

    def checked(self, settings: Settings) -> Self:
        domain = self.domain or rules.dns_name("circles.domain", f"circles.{settings.domain}")
        taken = {settings.domain, settings.mail_host, settings.legacy.domain} - {""}
        if domain in taken:
            raise ConfigError(
                f"circles.domain: '{domain}' is already a domain of the stack; give one of its "
                f"own (default circles.{settings.domain}), so circle names never meet UIDs"
            )
        return replace(self, domain=domain)


@dataclass(frozen=True)
class Dns(Section):
    """For ``alumail dns``."""

    ipv4: str = setting(
        "",
        rules.ip_address_of(4),
        "the mail host's public IPv4 address (default: listen, when it is a specific one)",
    )
    ipv6: str = setting("", rules.ip_address_of(6), "the mail host's public IPv6 address")
    mta_sts_mode: str = setting(
        "testing", rules.choice(*MTA_STS_MODES), "testing (default), enforce or none"
    )
    report_address: str = setting(
        "",
        rules.report_address,
        "where DMARC and TLS reports go (default postmaster@<domain>)",
    )


@dataclass(frozen=True)
class Auth(Section):
    # Past ~15 s mail clients give up on the answer and retry, so a longer delay only ties up
    # connections; a day is the longest a cached login may outlive a change.
    failure_delay: int = setting(
        2,
        rules.bounded(0, MAX_FAILURE_DELAY),
        "whole seconds Dovecot waits before answering a failed login",
    )
    cache_ttl: int = setting(300, rules.bounded(0, DAY), "Dovecot's auth cache, whole seconds")
    cache_negative_ttl: int = setting(
        60, rules.bounded(0, DAY), "the same for failed lookups, whole seconds"
    )
    penalty: bool = setting(
        True,
        rules.boolean,
        "Dovecot slows every login from an address that recently failed (its anvil penalty, "
        "up to 15 s). Test stacks turn it off so a deliberate wrong password does not delay "
        "the next test; ppolicy's lockout applies either way",
    )


@dataclass(frozen=True)
class Sessions(Section):
    max: int = setting(
        4000,
        rules.bounded(10, 100_000),
        "the most concurrent IMAP sessions, and separately POP3 sessions, the server holds. "
        "Past it a client is refused with an IMAP/POP3 error. Each session is one Dovecot mail "
        "process (a few MB); logins run in high-performance mode",
    )
    per_user_ip: int = setting(
        20,
        rules.bounded(1, 1000),
        "concurrent sessions of one account from one address, per protocol (mail clients "
        "open up to ~5 per account, NAT puts households and offices behind one address)",
    )


@dataclass(frozen=True)
class Settings:
    """Every setting: the top-level keys, then the sections."""

    domain: str = setting(
        "alumni.example.edu",
        rules.dns_name,
        "a DNS name with at least two labels (letters, digits, hyphens; the last not all "
        "digits, so an IP address is refused)",
    )
    mail_host: str = setting("", rules.optional_dns_name, "a DNS name; default mail.<domain>")
    state_dir: Path = setting(
        Path("state"),
        rules.path,
        "relative paths are taken from the settings file's folder (or the working directory "
        "when there is no file). Every folder above it must be searchable by the daemons' "
        "users (mode o+x)",
    )
    listen: str = setting("127.0.0.1", rules.address, "an IPv4 or IPv6 address")
    default_quota: int = setting(DEFAULT_QUOTA, rules.size, "bytes or a size such as 5G; 1M to 1T")
    message_size_limit: int = setting(50 * 1024**2, rules.size, "bytes or a size such as 50M")
    outbound: str = setting(
        "sink",
        rules.outbound,
        "where mail for other domains goes: sink (a local SMTP sink that keeps each message "
        "under state/outbound/), direct (to each domain's MX) or relay (through relay_host)",
    )
    relay_host: str = setting(
        "",
        rules.relay_host,
        "host, [host] or either with :port 1-65535, such as [smtp.example.edu]:587",
    )
    postmaster: tuple[str, ...] = setting(
        (),
        rules.addresses,
        "the address(es) mail to postmaster@ and abuse@ of our domains goes to (a list, or "
        "one string with commas). Required when outbound is direct or relay; the embedded "
        "stack (sink) defaults to postmaster@<mail_host>, kept by the sink",
    )
    ports: Ports = section(Ports)
    tls: Tls = section(Tls)
    web: Web = section(Web)
    legacy: Legacy = section(Legacy)
    dns: Dns = section(Dns)
    auth: Auth = section(Auth)
    sessions: Sessions = section(Sessions)
    circles: Circles = section(Circles)

    def checked(self) -> Settings:
        """These settings with the top-level keys' defaults derived from each other and every
        rule over several keys checked, the sections' included."""
        mail_host = self.mail_host or rules.dns_name("mail_host", f"mail.{self.domain}")
        if self.outbound == "relay" and not self.relay_host:
            rules.check_relay_host("relay_host", "")  # refused, in the rule's own words
        postmaster = self.postmaster
        if not postmaster:
            if self.outbound != "sink":
                raise ConfigError(
                    "postmaster: give the address(es) that receive mail to postmaster@ and "
                    "abuse@ (RFC 5321 requires postmaster) when outbound is direct or relay"
                )
            postmaster = (f"postmaster@{mail_host}",)
        top = replace(self, mail_host=mail_host, postmaster=postmaster)
        sections = {f.name: getattr(top, f.name).checked(top) for f in fields(top) if is_section(f)}
        return replace(top, **sections)

    @property
    def public_url(self) -> str:
        """Where people reach the web service (links in mails); no trailing slash."""
        if self.web.public_url:
            return self.web.public_url
        host = url_host(self.connect_host)
        return f"{'https' if self.web.tls else 'http'}://{host}:{self.ports.web}"

    @property
    def webmail_url(self) -> str:
        """Where people reach the webmail: scheme, host and a port only when not the scheme's
        default (the form Roundcube builds its own URLs in); no trailing slash."""
        url = urlsplit(self.web.webmail_url)
        if url.hostname:
            scheme, host, port = url.scheme, url_host(url.hostname), url.port
        else:
            # nginx on ports.webmail, at the web service's public name when it has one.
            scheme = "https" if self.web.tls else "http"
            public = urlsplit(self.web.public_url).hostname
            host, port = url_host(public or self.connect_host), self.ports.webmail
        if port is None or port == {"http": 80, "https": 443}[scheme]:
            return f"{scheme}://{host}"
        return f"{scheme}://{host}:{port}"

    @property
    def service_url(self) -> str:
        """Where the stack's own daemons (Dovecot, Roundcube) reach the web service: on this
        host, whatever ``web.public_url`` says."""
        host = url_host(self.connect_host)
        return f"{'https' if self.web.tls else 'http'}://{host}:{self.ports.web}"

    @property
    def web_secure(self) -> bool:
        """Served over TLS (by us, or by a proxy in front): cookies get the Secure flag."""
        return self.web.tls or self.public_url.startswith("https://")

    @property
    def base_dn(self) -> str:
        return base_dn_for(self.domain)

    @property
    def connect_host(self) -> str:
        """The address clients use to reach a listener bound to ``listen``."""
        if self.listen in ("0.0.0.0", "::"):
            return "127.0.0.1" if self.listen == "0.0.0.0" else "::1"
        return self.listen


def url_host(host: str) -> str:
    """``host`` as it stands before ``:port`` in a URL or an address: an IPv6 address in
    brackets (RFC 3986), a name or an IPv4 address as it is."""
    return f"[{host}]" if ":" in host else host


def is_section(f: Field[Any]) -> bool:
    return "section" in f.metadata
