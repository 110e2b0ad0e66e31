"""Settings: one typed object, read once from ``alumail.toml`` and ``ALUMAIL_*`` variables.

Only the CLI calls :func:`load`; everything below it receives a Settings value. Rules:
- ``domain``: a DNS name with at least two labels (letters, digits, hyphens).
- ``mail_host``: a DNS name; defaults to ``mail.<domain>``.
- ``state_dir``: a path; relative paths are taken from the settings file's folder (or the
  working directory when there is no file). Every folder above it must be searchable by the
  daemons' users (mode o+x).
- ``listen``: an IPv4 or IPv6 address. The embedded default is 127.0.0.1.
- ``ports.<service>``: 1-65535, all different.
- ``default_quota``: bytes or a size such as ``5G``; 1M to 1T.
- ``outbound``: where mail for other domains goes: ``sink`` (default: a local SMTP sink that
  keeps each message under ``state/outbound/``), ``direct`` (to each domain's MX) or ``relay``
  (through ``relay_host``, such as ``[smtp.example.edu]:587``).
- ``tls.cert`` / ``tls.key``: both or neither; neither means a local CA is made.
- ``web.public_url``: the address people use for the web service (links in mails; ``https://``
  makes its cookies Secure). Default: ``http://<listen>:<ports.web>``, for the embedded stack.
- ``dns.ipv4`` / ``dns.ipv6``: the mail host's public addresses, for ``alumail dns`` (default:
  the listen address when it is a specific one). ``dns.mta_sts_mode``: testing (default),
  enforce or none. ``dns.report_address``: where DMARC and TLS reports go (default
  postmaster@<domain>).
- ``web.tls``: true to serve the web service over TLS with the stack's certificate (default
  false: plain HTTP, for loopback or behind a TLS proxy).
- ``auth.failure_delay``, ``auth.cache_ttl``, ``auth.cache_negative_ttl``: whole seconds >= 0.
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
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from identity.dit import base_dn_for
from identity.errors import ConfigError, ValidationError
from identity.quota import parse_quota

ENV_PREFIX = "ALUMAIL_"
DEFAULT_FILE = "alumail.toml"
DEFAULT_QUOTA = 5 * 1024**3
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


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
    outbound: str = "sink"
    relay_host: str = ""
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
        with open(path, "rb") as handle:
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
    if outbound == "relay" and not re.fullmatch(r"\[?[A-Za-z0-9.:-]+\]?(:\d{1,5})?", relay_host):
        raise ConfigError("relay_host: give the relay as host, [host] or [host]:port")
    ports = Ports(**port_values)
    seen: dict[int, str] = {}
    for port_name, port in ports.items():
        if port in seen:
            raise ConfigError(
                f"ports.{port_name}: port {port} is already used by ports.{seen[port]}"
            )
        seen[port] = port_name
    public_url = str(kwargs.get("web_public_url", "")).strip().rstrip("/")
    if public_url and not re.fullmatch(r"https?://[A-Za-z0-9.\-\[\]:]+(/[^\s?#]*)?", public_url):
        raise ConfigError("web.public_url: give an http:// or https:// URL without query")
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
        auth_failure_delay=_seconds("auth.failure_delay", kwargs.get("auth_failure_delay", 2)),
        auth_cache_ttl=_seconds("auth.cache_ttl", kwargs.get("auth_cache_ttl", 300)),
        auth_cache_negative_ttl=_seconds(
            "auth.cache_negative_ttl", kwargs.get("auth_cache_negative_ttl", 60)
        ),
        auth_penalty=_boolean("auth.penalty", kwargs.get("auth_penalty", True)),
        outbound=outbound,
        relay_host=relay_host,
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
        legacy_domain=(
            _dns_name("legacy.domain", kwargs["legacy_domain"])
            if kwargs.get("legacy_domain")
            else ""
        ),
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


def _dns_name(key: str, value: Any) -> str:
    name = _text(key, value).lower().rstrip(".")
    labels = name.split(".")
    if len(name) > 253 or len(labels) < 2 or not all(_LABEL.match(x) for x in labels):
        raise ConfigError(
            f"{key}: '{value}' is not a DNS name (two or more labels of letters, digits, hyphens)"
        )
    return name


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


def _port(key: str, value: Any) -> int:
    port = _integer(key, value)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{key}: must be a port number from 1 to 65535")
    return port


def _seconds(key: str, value: Any) -> int:
    seconds = _integer(key, value)
    if seconds < 0:
        raise ConfigError(f"{key}: must be 0 or more seconds")
    return seconds


def _size(key: str, value: Any) -> int:
    try:
        return parse_quota(value if isinstance(value, int) else str(value), field=key)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
