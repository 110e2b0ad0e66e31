"""Settings: one typed object, read once from ``alumail.toml`` and ``ALUMAIL_*`` variables.

Only the CLI calls :func:`load`; everything below it receives a Settings value. Rules:
- ``domain``: a DNS name with at least two labels (letters, digits, hyphens; the last not all
  digits, so an IP address is refused).
- ``mail_host``: a DNS name; defaults to ``mail.<domain>``.
- ``state_dir``: a path; relative paths are taken from the settings file's folder (or the
  working directory when there is no file). Every folder above it must be searchable by the
  daemons' users (mode o+x).
- ``listen``: an IPv4 or IPv6 address. The embedded default is 127.0.0.1.
- ``ports.<service>``: 1-65535, all different.
- ``default_quota``: bytes or a size such as ``5G``; 1M to 1T.
- ``outbound``: where mail for other domains goes: ``sink`` (default: a local SMTP sink that
  keeps each message under ``state/outbound/``), ``direct`` (to each domain's MX) or ``relay``
  (through ``relay_host``: ``host``, ``[host]`` or either with ``:port`` 1-65535, such as
  ``[smtp.example.edu]:587``).
- ``legacy.domain``: the old mail domain; never ``domain`` or ``mail_host``.
- ``tls.cert`` / ``tls.key``: both or neither; neither means a local CA is made.
- ``web.public_url``: the address people use for the web service (links in mails; ``https://``
  makes its cookies Secure). Default: ``http://<listen>:<ports.web>``, for the embedded stack.
- ``dns.ipv4`` / ``dns.ipv6``: the mail host's public addresses, for ``alumail dns`` (default:
  the listen address when it is a specific one). ``dns.mta_sts_mode``: testing (default),
  enforce or none. ``dns.report_address``: where DMARC and TLS reports go (default
  postmaster@<domain>).
- ``postmaster``: the address(es) mail to postmaster@ and abuse@ of our domains goes to (a
  list, or one string with commas). Required when ``outbound`` is ``direct`` or ``relay``; the
  embedded stack (``sink``) defaults to ``postmaster@<mail_host>``, kept by the sink.
- ``web.tls``: true to serve the web service over TLS with the stack's certificate (default
  false: plain HTTP, for loopback or behind a TLS proxy).
- ``auth.failure_delay``: whole seconds, 0 to 15. ``auth.cache_ttl``, ``auth.cache_negative_ttl``:
  whole seconds, 0 to 86400.
- ``sessions.max``: the most concurrent IMAP sessions, and separately POP3 sessions, the server
  holds (default 4000; 10 to 100000). Past it a client is refused with an IMAP/POP3 error.
  Each session is one Dovecot mail process (a few MB); logins run in high-performance mode.
- ``sessions.per_user_ip``: concurrent sessions of one account from one address, per protocol
  (default 20; 1 to 1000; mail clients open up to ~5 per account, NAT puts households and
  offices behind one address).
- ``auth.penalty``: true (default) or false. Dovecot slows every login from an address that
  recently failed (its anvil penalty, up to 15 s). Test stacks turn it off so a deliberate wrong
  password does not delay the next test; ppolicy's lockout applies either way.

Environment overrides: ``ALUMAIL_<KEY>`` for a top-level key, ``ALUMAIL_<SECTION>_<KEY>`` for a
key in a section (``ALUMAIL_PORTS_IMAP=1143``); ``ALUMAIL_CONFIG`` names the settings file.
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from identity.dit import base_dn_for
from identity.errors import ConfigError, ValidationError
from identity.quota import parse_quota
from mailstack.files import open_regular

ENV_PREFIX = "ALUMAIL_"
DEFAULT_FILE = "alumail.toml"
DEFAULT_QUOTA = 5 * 1024**3
MAX_FAILURE_DELAY = 15
DAY = 86400
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # whole values: fullmatch


@dataclass(frozen=True)
class Ports:
    """Unprivileged defaults, so the embedded stack never clashes with a system mail server.
    Production settings use the standard ports (389, 143, 993, 110, 995, 25, 587, 465)."""

    ldap: int = 3389
    imap: int = 10143
    imaps: int = 10993
    pop3: int = 10110
    pop3s: int = 10995
    smtp: int = 10025
    submission: int = 10587
    submissions: int = 10465
    sink: int = 10026  # the embedded stack's outbound sink (only with outbound = "sink")
    dkim: int = 10891  # OpenDKIM's milter socket (Postfix connects to it; loopback only)
    sender_milter: int = 10892  # the From: check on submission (a milter; loopback only)
    web: int = 10880  # the web service (API, portal, helpdesk); Chromium refuses 10080

    def items(self) -> list[tuple[str, int]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass(frozen=True)
class Settings:
    domain: str = "alumni.example.edu"
    mail_host: str = ""
    state_dir: Path = Path("state")
    listen: str = "127.0.0.1"
    default_quota: int = DEFAULT_QUOTA
    message_size_limit: int = 50 * 1024**2
    ports: Ports = field(default_factory=Ports)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    auth_failure_delay: int = 2
    auth_cache_ttl: int = 300
    auth_cache_negative_ttl: int = 60
    auth_penalty: bool = True
    sessions_max: int = 4000
    sessions_per_user_ip: int = 20
    outbound: str = "sink"
    relay_host: str = ""
    postmaster: tuple[str, ...] = ()
    web_public_url: str = ""
    web_tls: bool = False
    dns_ipv4: str = ""
    dns_ipv6: str = ""
    dns_mta_sts_mode: str = "testing"
    dns_report_address: str = ""
    legacy_imap_host: str = ""
    legacy_imap_port: int = 993
    legacy_security: str = "imaps"
    legacy_domain: str = ""
    legacy_cutoff: str = ""  # YYYY-MM-DD
    legacy_reminder_days: tuple[int, ...] = (30, 7)

    @property
    def public_url(self) -> str:
        """Where people reach the web service (links in mails); no trailing slash."""
        if self.web_public_url:
            return self.web_public_url
        host = self.connect_host
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.web_tls else 'http'}://{host}:{self.ports.web}"

    @property
    def web_secure(self) -> bool:
        """Served over TLS (by us, or by a proxy in front): cookies get the Secure flag."""
        return self.web_tls or self.public_url.startswith("https://")

    @property
    def base_dn(self) -> str:
        return base_dn_for(self.domain)

    @property
    def connect_host(self) -> str:
        """The address clients use to reach a listener bound to ``listen``."""
        if self.listen in ("0.0.0.0", "::"):
            return "127.0.0.1" if self.listen == "0.0.0.0" else "::1"
        return self.listen


_SECTIONS: dict[str, dict[str, str]] = {
    # section -> {key in file: Settings field}
    "": {
        "domain": "domain",
        "mail_host": "mail_host",
        "state_dir": "state_dir",
        "listen": "listen",
        "default_quota": "default_quota",
        "message_size_limit": "message_size_limit",
        "outbound": "outbound",
        "relay_host": "relay_host",
        "postmaster": "postmaster",
    },
    "tls": {"cert": "tls_cert", "key": "tls_key"},
    "web": {"public_url": "web_public_url", "tls": "web_tls"},
    "legacy": {
        "imap_host": "legacy_imap_host",
        "imap_port": "legacy_imap_port",
        "security": "legacy_security",
        "domain": "legacy_domain",
        "cutoff": "legacy_cutoff",
        "reminder_days": "legacy_reminder_days",
    },
    "dns": {
        "ipv4": "dns_ipv4",
        "ipv6": "dns_ipv6",
        "mta_sts_mode": "dns_mta_sts_mode",
        "report_address": "dns_report_address",
    },
    "auth": {
        "failure_delay": "auth_failure_delay",
        "cache_ttl": "auth_cache_ttl",
        "cache_negative_ttl": "auth_cache_negative_ttl",
        "penalty": "auth_penalty",
    },
    "sessions": {"max": "sessions_max", "per_user_ip": "sessions_per_user_ip"},
    "ports": {f.name: f.name for f in fields(Ports)},
}


def to_values(settings: Settings) -> dict[str, Any]:
    """The flat values :func:`build` makes ``settings`` from (paths absolute), so another
    process (the web service) gets exactly these settings."""
    values: dict[str, Any] = {}
    for section, keys in _SECTIONS.items():
        for key, attribute in keys.items():
            if section == "ports":
                value = getattr(settings.ports, attribute)
            else:
                value = getattr(settings, attribute)
            if value is None or value == "":
                continue
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            values[f"{section}.{key}" if section else key] = value
    return values


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (or ``ALUMAIL_CONFIG``, or ./alumail.toml if present) and ``env``."""
    env = env or {}
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    if path is None and Path(DEFAULT_FILE).is_file():
        path = Path(DEFAULT_FILE)
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        raw = _read_toml(path)
        base = path.resolve().parent
    values = _flatten(raw, str(path))
    values.update(_from_env(env))
    return build(values, base=base)


MAX_FILE_BYTES = 1024 * 1024  # a settings file is a few hundred bytes; refuse a runaway one


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed settings file, or a ConfigError naming the file and what is wrong with it."""
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"settings file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"settings file {path} cannot be read: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"settings file {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"settings file {path} is not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses once per level of nested arrays/tables
        raise ConfigError(f"settings file {path} nests values too deeply") from exc


def build(values: Mapping[str, Any], *, base: Path | None = None) -> Settings:
    """Settings from flat ``{"domain": ..., "ports.imap": ...}`` values, every rule checked."""
    base = base or Path.cwd()
    kwargs: dict[str, Any] = {}
    port_values: dict[str, int] = {}
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        target = _SECTIONS.get(section, {}).get(name)
        if target is None:
            raise ConfigError(f"{key}: unknown setting")
        if section == "ports":
            port_values[name] = _port(key, value)
        else:
            kwargs[target] = value

    domain = _dns_name("domain", kwargs.get("domain", Settings.domain))
    mail_host = _dns_name("mail_host", kwargs.get("mail_host") or f"mail.{domain}")
    state_dir = Path(_text("state_dir", kwargs.get("state_dir", "state")))
    if not state_dir.is_absolute():
        state_dir = base / state_dir
    listen = _address("listen", kwargs.get("listen", Settings.listen))
    quota = _size("default_quota", kwargs.get("default_quota", DEFAULT_QUOTA))
    size_limit = _size("message_size_limit", kwargs.get("message_size_limit", "50M"))
    outbound = str(kwargs.get("outbound", "sink")).strip()
    if outbound not in ("sink", "direct", "relay"):
        raise ConfigError("outbound: must be sink, direct or relay")
    relay_host = str(kwargs.get("relay_host", "")).strip()
    if outbound == "relay" or relay_host:
        _relay_host(relay_host)
    ports = Ports(**port_values)
    seen: dict[int, str] = {}
    for port_name, port in ports.items():
        if port in seen:
            raise ConfigError(
                f"ports.{port_name}: port {port} is already used by ports.{seen[port]}"
            )
        seen[port] = port_name
    public_url = _public_url(str(kwargs.get("web_public_url", "")).strip())
    cert, cert_key = kwargs.get("tls_cert"), kwargs.get("tls_key")
    if bool(cert) != bool(cert_key):
        raise ConfigError("tls.cert, tls.key: give both a certificate and its key, or neither")
    return Settings(
        domain=domain,
        mail_host=mail_host,
        state_dir=state_dir.resolve(),
        listen=listen,
        default_quota=quota,
        message_size_limit=size_limit,
        ports=ports,
        tls_cert=(base / _text("tls.cert", cert)).resolve() if cert else None,
        tls_key=(base / _text("tls.key", cert_key)).resolve() if cert_key else None,
        # Past ~15 s mail clients give up on the answer and retry, so a longer delay only
        # ties up connections; a day is the longest a cached login may outlive a change.
        auth_failure_delay=_bounded(
            "auth.failure_delay", kwargs.get("auth_failure_delay", 2), 0, MAX_FAILURE_DELAY
        ),
        auth_cache_ttl=_bounded("auth.cache_ttl", kwargs.get("auth_cache_ttl", 300), 0, DAY),
        auth_cache_negative_ttl=_bounded(
            "auth.cache_negative_ttl", kwargs.get("auth_cache_negative_ttl", 60), 0, DAY
        ),
        auth_penalty=_boolean("auth.penalty", kwargs.get("auth_penalty", True)),
        sessions_max=_bounded("sessions.max", kwargs.get("sessions_max", 4000), 10, 100_000),
        sessions_per_user_ip=_bounded(
            "sessions.per_user_ip", kwargs.get("sessions_per_user_ip", 20), 1, 1000
        ),
        outbound=outbound,
        relay_host=relay_host,
        postmaster=_postmaster(kwargs.get("postmaster"), outbound, mail_host),
        web_public_url=public_url,
        web_tls=_boolean("web.tls", kwargs.get("web_tls", False)),
        dns_ipv4=_public_address("dns.ipv4", kwargs.get("dns_ipv4", ""), 4),
        dns_ipv6=_public_address("dns.ipv6", kwargs.get("dns_ipv6", ""), 6),
        dns_mta_sts_mode=_choice(
            "dns.mta_sts_mode", kwargs.get("dns_mta_sts_mode", "testing"), MTA_STS_MODES
        ),
        dns_report_address=_report_address(kwargs.get("dns_report_address", "")),
        legacy_imap_host=str(kwargs.get("legacy_imap_host", "")).strip(),
        legacy_imap_port=_port("legacy.imap_port", kwargs.get("legacy_imap_port", 993)),
        legacy_security=_choice(
            "legacy.security", kwargs.get("legacy_security", "imaps"), ("imaps", "starttls", "no")
        ),
        legacy_domain=_legacy_domain(kwargs.get("legacy_domain"), domain, mail_host),
        legacy_cutoff=_date("legacy.cutoff", kwargs.get("legacy_cutoff", "")),
        legacy_reminder_days=_days("legacy.reminder_days", kwargs.get("legacy_reminder_days")),
    )


def _flatten(raw: Mapping[str, Any], origin: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in _SECTIONS or not key:
                raise ConfigError(f"{key}: unknown section in {origin}")
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        name = var[len(ENV_PREFIX) :].lower()
        try:
            value.encode("utf-8")  # undecodable bytes reach us as lone surrogates
        except UnicodeEncodeError as exc:
            raise ConfigError(f"{var}: is not valid UTF-8 text (environment)") from exc
        for section in _SECTIONS:
            if (
                section
                and name.startswith(section + "_")
                and name[len(section) + 1 :] in (_SECTIONS[section])
            ):
                flat[f"{section}.{name[len(section) + 1 :]}"] = value
                break
        else:
            if name not in _SECTIONS[""]:
                raise ConfigError(f"{var}: unknown setting (environment)")
            flat[name] = value
    return flat


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a non-empty string")
    if "\x00" in value:  # no path, name or address holds one (the OS refuses it in a path)
        raise ConfigError(f"{key}: must not contain a NUL character")
    return value.strip()


def _dns_name(key: str, value: Any, *, labels_min: int = 2) -> str:
    name = _text(key, value).lower().rstrip(".")
    labels = name.split(".")
    # A top-level label is never all digits: "1.2.3.4" is an address, not a name.
    if (
        len(name) > 253
        or len(labels) < labels_min
        or not all(_LABEL.fullmatch(x) for x in labels)
        or labels[-1].isdigit()
    ):
        rule = "two or more labels" if labels_min > 1 else "labels"
        raise ConfigError(
            f"{key}: '{value}' is not a DNS name ({rule} of letters, digits, hyphens; "
            f"the last not all digits)"
        )
    return name


def _host(key: str, text: str) -> str:
    """A DNS name (one label is enough: a relay may be `localhost`) or an IP address."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return _dns_name(key, bare, labels_min=1)


def _relay_host(value: str) -> None:
    """``host``, ``host:port``, ``[host]`` or ``[host]:port`` (brackets: no MX lookup)."""
    match = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?", value)
    if not match:
        raise ConfigError("relay_host: give the relay as host, [host] or [host]:port")
    _host("relay_host", match.group(1))
    if match.group(2) is not None:
        _port("relay_host", match.group(2))


def _public_url(value: str) -> str:
    """An http(s) URL with a host, maybe a port and a path; no query, fragment or user."""
    if not value:
        return ""
    rule = "give an http:// or https:// URL with a host, without query or user"
    try:
        url = urllib.parse.urlsplit(value)
        port = url.port
    except ValueError as exc:
        raise ConfigError(f"web.public_url: {rule} ({exc})") from exc
    if (
        url.scheme not in ("http", "https")
        or not url.hostname
        or url.query
        or url.fragment
        or url.username is not None
        or re.search(r"\s", value)
    ):
        raise ConfigError(f"web.public_url: {rule}")
    _host("web.public_url", url.hostname)
    if port is not None:
        _port("web.public_url", port)
    return value.rstrip("/")


def _legacy_domain(value: Any, domain: str, mail_host: str) -> str:
    if not value:
        return ""
    legacy = _dns_name("legacy.domain", value)
    if legacy in (domain, mail_host):
        raise ConfigError(
            f"legacy.domain: '{legacy}' is the new mail domain; give the old one, which "
            f"Postfix serves as an alias domain"
        )
    return legacy


def _address(key: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(_text(key, value)))
    except ValueError as exc:
        raise ConfigError(f"{key}: '{value}' is not an IPv4 or IPv6 address") from exc


MTA_STS_MODES = ("testing", "enforce", "none")


def _date(key: str, value: Any) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise ConfigError(f"{key}: must be a date as YYYY-MM-DD") from exc


def _days(key: str, value: Any) -> tuple[int, ...]:
    if value is None or value == "":
        return (30, 7)
    items = value if isinstance(value, list) else str(value).split(",")
    days = tuple(sorted({_integer(key, str(i).strip()) for i in items}, reverse=True))
    if any(d < 0 or d > 365 for d in days):
        raise ConfigError(f"{key}: days before the cutoff, each from 0 to 365")
    return days


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    text = str(value).strip()
    if text not in allowed:
        raise ConfigError(f"{key}: must be one of {', '.join(allowed)}")
    return text


def _public_address(key: str, value: Any, version: int) -> str:
    text = str(value or "").strip()
    if not text:
        return ""
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise ConfigError(f"{key}: '{text}' is not an IPv{version} address") from exc
    if address.version != version:
        raise ConfigError(f"{key}: '{text}' is not an IPv{version} address")
    return str(address)


_ADDRESS = re.compile(r"[^@\s,]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _postmaster(value: Any, outbound: str, mail_host: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    addresses = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for address in addresses:
        if not _ADDRESS.fullmatch(address):
            raise ConfigError(f"postmaster: '{address}' is not an e-mail address")
    if addresses:
        return addresses
    if outbound == "sink":
        return (f"postmaster@{mail_host}",)
    raise ConfigError(
        "postmaster: give the address(es) that receive mail to postmaster@ and abuse@ "
        "(RFC 5321 requires postmaster) when outbound is direct or relay"
    )


def _report_address(value: Any) -> str:
    text = str(value or "").strip()
    if text and not re.fullmatch(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text):
        raise ConfigError("dns.report_address: give an e-mail address for DMARC and TLS reports")
    return text


def _boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{key}: must be true or false")


def _integer(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{key}: must be a whole number")


def _bounded(key: str, value: Any, low: int, high: int) -> int:
    number = _integer(key, value)
    if not low <= number <= high:
        raise ConfigError(f"{key}: must be a whole number from {low} to {high}")
    return number


def _port(key: str, value: Any) -> int:
    port = _integer(key, value)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{key}: must be a port number from 1 to 65535")
    return port


def _size(key: str, value: Any) -> int:
    try:
        return parse_quota(value if isinstance(value, int) else str(value), field=key)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
