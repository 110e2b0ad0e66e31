"""The rule of each setting's value: ``rule(key, value) -> parsed value`` or a ConfigError that
names the key and the rule.

A value comes from TOML (any TOML type) or from the environment (always a string), so every
rule takes both. Factories (``bounded``, ``choice``, ``ip_address_of``) make a rule from its
limits; a section field names its rule in its metadata (see ``sections.setting``).
"""

from __future__ import annotations

import datetime
import ipaddress
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from identity.errors import ConfigError, ValidationError
from identity.quota import parse_quota

T = TypeVar("T")
Rule = Callable[[str, Any], T]

_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")  # whole values: fullmatch
_ADDRESS = re.compile(r"[^@\s,]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{key}: must be a non-empty string")
    if "\x00" in value:  # no path, name or address holds one (the OS refuses it in a path)
        raise ConfigError(f"{key}: must not contain a NUL character")
    return value.strip()


def stripped(key: str, value: Any) -> str:
    """Any text, white space around it trimmed (the rule is checked where it is used)."""
    return str(value).strip()


def path(key: str, value: Any) -> Path:
    """A path; the loader takes a relative one from the settings file's folder."""
    return Path(text(key, value))


def optional_path(key: str, value: Any) -> Path | None:
    return path(key, value) if value else None


def dns_name(key: str, value: Any, *, labels_min: int = 2) -> str:
    name = text(key, value).lower().rstrip(".")
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


def optional_dns_name(key: str, value: Any) -> str:
    """A DNS name, or "" when none is given (the section then derives or omits it)."""
    return dns_name(key, value) if value else ""


def address(key: str, value: Any) -> str:
    try:
        return str(ipaddress.ip_address(text(key, value)))
    except ValueError as exc:
        raise ConfigError(f"{key}: '{value}' is not an IPv4 or IPv6 address") from exc


def ip_address_of(version: int) -> Rule[str]:
    """An optional IPv4 (``version`` 4) or IPv6 (6) address, as the DNS records publish it."""

    def rule(key: str, value: Any) -> str:
        given = str(value or "").strip()
        if not given:
            return ""
        try:
            parsed = ipaddress.ip_address(given)
        except ValueError as exc:
            raise ConfigError(f"{key}: '{given}' is not an IPv{version} address") from exc
        if parsed.version != version:
            raise ConfigError(f"{key}: '{given}' is not an IPv{version} address")
        return str(parsed)

    return rule


def host(key: str, given: str) -> str:
    """A DNS name (one label is enough: a relay may be `localhost`) or an IP address."""
    bare = given[1:-1] if given.startswith("[") and given.endswith("]") else given
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        return dns_name(key, bare, labels_min=1)


def relay_host(key: str, value: Any) -> str:
    """``host``, ``host:port``, ``[host]`` or ``[host]:port`` (brackets: no MX lookup), or ""."""
    given = str(value).strip()
    if given:
        check_relay_host(key, given)
    return given


def check_relay_host(key: str, given: str) -> None:
    match = re.fullmatch(r"(\[[^\]]+\]|[^:\[\]]+)(?::(\d+))?", given)
    if not match:
        raise ConfigError(f"{key}: give the relay as host, [host] or [host]:port")
    host(key, match.group(1))
    if match.group(2) is not None:
        port(key, match.group(2))


def outbound(key: str, value: Any) -> str:
    given = str(value).strip()
    if given not in ("sink", "direct", "relay"):
        raise ConfigError(f"{key}: must be sink, direct or relay")
    return given


def public_url(key: str, value: Any) -> str:
    """An http(s) URL with a host, maybe a port and a path; no query, fragment or user."""
    given = str(value).strip()
    if not given:
        return ""
    rule = "give an http:// or https:// URL with a host, without query or user"
    try:
        url = urllib.parse.urlsplit(given)
        url_port = url.port
    except ValueError as exc:
        raise ConfigError(f"{key}: {rule} ({exc})") from exc
    if (
        url.scheme not in ("http", "https")
        or not url.hostname
        or url.query
        or url.fragment
        or url.username is not None
        or re.search(r"\s", given)
    ):
        raise ConfigError(f"{key}: {rule}")
    host(key, url.hostname)
    if url_port is not None:
        port(key, url_port)
    return given.rstrip("/")


def origin_url(key: str, value: Any) -> str:
    """A :func:`public_url` without a path: a service served at the root of its own address."""
    given = public_url(key, value)
    if urllib.parse.urlsplit(given).path not in ("", "/"):
        raise ConfigError(f"{key}: give the URL's scheme, host and port only, without a path")
    return given.rstrip("/")


def date(key: str, value: Any) -> str:
    """An optional date as YYYY-MM-DD."""
    given = str(value or "").strip()
    if not given:
        return ""
    try:
        return datetime.date.fromisoformat(given).isoformat()
    except ValueError as exc:
        raise ConfigError(f"{key}: must be a date as YYYY-MM-DD") from exc


def days(key: str, value: Any) -> tuple[int, ...]:
    """Days before a date, 0 to 365 each (a list, or one string with commas), latest first."""
    if value is None or value == "":
        return (30, 7)
    items = value if isinstance(value, list) else str(value).split(",")
    numbers = tuple(sorted({integer(key, str(i).strip()) for i in items}, reverse=True))
    if any(d < 0 or d > 365 for d in numbers):
        raise ConfigError(f"{key}: days before the cutoff, each from 0 to 365")
    return numbers


def choice(*allowed: str) -> Rule[str]:
    def rule(key: str, value: Any) -> str:
        given = str(value).strip()
        if given not in allowed:
            raise ConfigError(f"{key}: must be one of {', '.join(allowed)}")
        return given

    return rule


def addresses(key: str, value: Any) -> tuple[str, ...]:
    """E-mail addresses (a list, or one string with commas), lower case; maybe none."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    found = tuple(str(item).strip().lower() for item in items if str(item).strip())
    for one in found:
        if not _ADDRESS.fullmatch(one):
            raise ConfigError(f"{key}: '{one}' is not an e-mail address")
    return found


def report_address(key: str, value: Any) -> str:
    given = str(value or "").strip()
    if given and not re.fullmatch(r"[^@\s]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", given):
        raise ConfigError(f"{key}: give an e-mail address for DMARC and TLS reports")
    return given


def boolean(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    given = str(value).strip().lower()
    if given in ("true", "yes", "on", "1"):
        return True
    if given in ("false", "no", "off", "0"):
        return False
    raise ConfigError(f"{key}: must be true or false")


def integer(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{key}: must be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    raise ConfigError(f"{key}: must be a whole number")


def bounded(low: int, high: int) -> Rule[int]:
    def rule(key: str, value: Any) -> int:
        number = integer(key, value)
        if not low <= number <= high:
            raise ConfigError(f"{key}: must be a whole number from {low} to {high}")
        return number

    return rule


def port(key: str, value: Any) -> int:
    number = integer(key, value)
    if not 1 <= number <= 65535:
        raise ConfigError(f"{key}: must be a port number from 1 to 65535")
    return number


def size(key: str, value: Any) -> int:
    """Bytes, or a size such as ``5G``; 1M to 1T (the quota rule)."""
    try:
        return parse_quota(value if isinstance(value, int) else str(value), field=key)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
