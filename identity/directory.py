"""The LDAP client: the one module that imports python-ldap.

Everything else speaks in DNs and entries as plain values (``dict[str, list[str]]``) and gets
AlumailError subclasses, never ldap exceptions. Filter values are always escaped here.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import ldap
import ldap.filter
import ldap.sasl

from identity.errors import AccessDeniedError, ConflictError, DirectoryError, NotFoundError

Entry = dict[str, list[str]]


def ldapi_uri(socket_path: Path) -> str:
    """``ldapi://%2Fpath%2Fto%2Fsocket`` (the path percent-encoded, as libldap wants it)."""
    return "ldapi://" + urllib.parse.quote(str(socket_path), safe="")


def escape(value: str) -> str:
    """``value`` made safe to stand inside an LDAP filter (RFC 4515)."""
    return str(ldap.filter.escape_filter_chars(value))


def filter_equals(attribute: str, value: str) -> str:
    return f"({attribute}={escape(value)})"


@dataclass(frozen=True)
class Credentials:
    """How to bind: SASL EXTERNAL over ldapi (root on this host) or a simple bind."""

    dn: str | None = None
    password: str | None = None

    @property
    def external(self) -> bool:
        return self.dn is None

    def __repr__(self) -> str:  # never show a password
        return f"Credentials(dn={self.dn!r})"


EXTERNAL = Credentials()


class Directory:
    """A bound connection to slapd."""

    def __init__(self, uri: str, credentials: Credentials = EXTERNAL, *, timeout: float = 10):
        self.uri = uri
        try:
            conn = ldap.initialize(uri, bytes_mode=False)
            conn.set_option(ldap.OPT_PROTOCOL_VERSION, 3)
            conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
            conn.set_option(ldap.OPT_TIMEOUT, timeout)
            conn.set_option(ldap.OPT_REFERRALS, 0)
            if credentials.external:
                conn.sasl_non_interactive_bind_s("EXTERNAL")
            else:
                conn.simple_bind_s(credentials.dn, credentials.password)
        except ldap.INVALID_CREDENTIALS as exc:
            raise DirectoryError(f"LDAP bind as {credentials.dn} refused: bad credentials") from exc
        except ldap.LDAPError as exc:
            raise DirectoryError(f"cannot reach the directory at {uri}: {_describe(exc)}") from exc
        self._conn = conn

    def close(self) -> None:
        with suppress(ldap.LDAPError):
            self._conn.unbind_s()

    def __enter__(self) -> Directory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------------

    def whoami(self) -> str:
        with _translated("who am I"):
            return str(self._conn.whoami_s())

    def search(
        self,
        base: str,
        filterstr: str = "(objectClass=*)",
        attributes: Sequence[str] | None = None,
        *,
        scope: str = "subtree",
    ) -> list[tuple[str, Entry]]:
        """Entries below ``base`` matching ``filterstr`` (which must be built with escape())."""
        ldap_scope = {"base": ldap.SCOPE_BASE, "one": ldap.SCOPE_ONELEVEL}.get(
            scope, ldap.SCOPE_SUBTREE
        )
        try:
            rows = self._conn.search_ext_s(
                base, ldap_scope, filterstr, list(attributes) if attributes else None
            )
        except ldap.NO_SUCH_OBJECT:
            return []
        except ldap.LDAPError as exc:
            raise DirectoryError(f"search under {base} failed: {_describe(exc)}") from exc
        return [(dn, _decode(attrs)) for dn, attrs in rows if dn]

    def get(self, dn: str, attributes: Sequence[str] | None = None) -> Entry | None:
        rows = self.search(dn, attributes=attributes, scope="base")
        return rows[0][1] if rows else None

    # -- writing -------------------------------------------------------------------------------

    def add(self, dn: str, entry: Mapping[str, Sequence[str]]) -> None:
        with _write_errors("add", dn):
            self._conn.add_s(dn, [(k, _encode(v)) for k, v in entry.items()])

    def replace(self, dn: str, changes: Mapping[str, Sequence[str] | None]) -> None:
        """Set each attribute to the given values; None or [] removes the attribute."""
        self.modify(dn, [("replace", attr, values) for attr, values in changes.items()])

    def modify(self, dn: str, changes: Sequence[tuple[str, str, Sequence[str] | None]]) -> None:
        """Apply ``(op, attribute, values)`` changes in one operation; op is "add", "delete" or
        "replace" (None values with "delete" removes the whole attribute)."""
        ops = {"add": ldap.MOD_ADD, "delete": ldap.MOD_DELETE, "replace": ldap.MOD_REPLACE}
        mods = [
            (ops[op], attr, _encode(values) if values else None) for op, attr, values in changes
        ]
        with _write_errors("modify", dn):
            self._conn.modify_s(dn, mods)

    def delete(self, dn: str) -> None:
        with _write_errors("delete", dn):
            self._conn.delete_s(dn)


@contextmanager
def _write_errors(action: str, dn: str) -> Iterator[None]:
    """python-ldap's exceptions as the AlumailError a person can act on."""
    try:
        yield
    except ldap.ALREADY_EXISTS as exc:
        raise ConflictError(f"{dn} already exists") from exc
    except ldap.NO_SUCH_OBJECT as exc:
        raise NotFoundError(f"{dn} does not exist") from exc
    except ldap.INSUFFICIENT_ACCESS as exc:
        raise AccessDeniedError(f"the directory refused to {action} {dn}: no access") from exc
    except (ldap.NO_SUCH_ATTRIBUTE, ldap.TYPE_OR_VALUE_EXISTS) as exc:
        raise ConflictError(f"cannot {action} {dn}: {_describe(exc)}") from exc
    except ldap.LDAPError as exc:
        raise DirectoryError(f"cannot {action} {dn}: {_describe(exc)}") from exc


def can_bind(uri: str, dn: str, password: str, *, timeout: float = 5) -> bool:
    """True if a simple bind as ``dn`` with ``password`` succeeds."""
    try:
        Directory(uri, Credentials(dn, password), timeout=timeout).close()
    except DirectoryError:
        return False
    return True


def is_reachable(uri: str, *, timeout: float = 1) -> bool:
    """True if slapd answers an anonymous read of the root DSE at ``uri``."""
    conn = ldap.initialize(uri, bytes_mode=False)
    conn.set_option(ldap.OPT_NETWORK_TIMEOUT, timeout)
    conn.set_option(ldap.OPT_TIMEOUT, timeout)
    try:
        conn.search_ext_s("", ldap.SCOPE_BASE, "(objectClass=*)", ["namingContexts"])
    except ldap.LDAPError:
        return False
    finally:
        with suppress(ldap.LDAPError):
            conn.unbind_s()
    return True


@contextmanager
def _translated(action: str) -> Iterator[None]:
    try:
        yield
    except ldap.LDAPError as exc:
        raise DirectoryError(f"{action} failed: {_describe(exc)}") from exc


def _describe(exc: ldap.LDAPError) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    parts = [str(info.get("desc", type(exc).__name__))]
    if info.get("info"):
        parts.append(str(info["info"]))
    return ": ".join(parts)


def _encode(values: Sequence[str]) -> list[bytes]:
    return [v.encode("utf-8") for v in values]


def _decode(attrs: Mapping[str, Sequence[bytes]]) -> Entry:
    return {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in attrs.items()}
