"""The LDAP client: the one module that imports python-ldap.

Everything else speaks in DNs and entries as plain values (``dict[str, list[str]]``) and gets
AlumailError subclasses, never ldap exceptions. Filter values are always escaped here.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import ldap
import ldap.controls.simple
import ldap.filter
import ldap.sasl

from identity import readback
from identity.errors import (
    AccessDeniedError,
    AlumailError,
    ConflictError,
    DirectoryError,
    NotFoundError,
    ValidationError,
)
from identity.rules import field_of

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
    """How to bind: SASL EXTERNAL over ldapi (root on this host) or a simple bind.

    ``acting_as`` is for a service that proved a person's identity earlier (a web session, an
    API token): it binds as root over ldapi and asks slapd to run every operation as that DN
    (RFC 4370 proxied authorization), so slapd's ACLs judge the person, not the service."""

    dn: str | None = None
    password: str | None = None
    acting_as: str | None = None

    @property
    def external(self) -> bool:
        return self.dn is None

    @property
    def identity(self) -> str | None:
        """The DN whose rights apply: the bound DN, or the one acted for."""
        return self.dn or self.acting_as

    @classmethod
    def proxied(cls, dn: str) -> Credentials:
        return cls(acting_as=dn)

    def __repr__(self) -> str:  # never show a password
        return f"Credentials(dn={self.identity!r})"


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
                if credentials.acting_as:
                    # The value must be bytes: python-ldap sends controlValue as it is.
                    control = ldap.controls.simple.ProxyAuthzControl(
                        True, f"dn:{credentials.acting_as}".encode()
                    )
                    conn.set_option(ldap.OPT_SERVER_CONTROLS, [control])
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
        return [(dn, _decode(dn, attrs)) for dn, attrs in rows if dn]

    def get(self, dn: str, attributes: Sequence[str] | None = None) -> Entry | None:
        rows = self.search(dn, attributes=attributes, scope="base")
        return rows[0][1] if rows else None

    def iter_search(
        self, base: str, filterstr: str, attributes: Sequence[str], *, page_size: int = 1000
    ) -> Iterator[tuple[str, Entry]]:
        """Entries below ``base`` one page at a time (the module's iter_search)."""
        return iter_search(self, base, filterstr, attributes, page_size=page_size)

    def pipeline(self, window: int = 64) -> Pipeline:
        """Asynchronous writes on this connection, up to ``window`` in flight (Pipeline)."""
        return Pipeline(self, window)

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
    try:
        yield
    except ldap.LDAPError as exc:
        raise _translate(exc, action, dn) from exc


def _translate(exc: ldap.LDAPError, action: str, dn: str) -> AlumailError:
    """python-ldap's exception as the AlumailError a person can act on."""
    if isinstance(exc, ldap.ALREADY_EXISTS):
        return ConflictError(f"{dn} already exists")
    if isinstance(exc, ldap.NO_SUCH_OBJECT):
        return NotFoundError(f"{dn} does not exist")
    if isinstance(exc, ldap.INSUFFICIENT_ACCESS):
        return AccessDeniedError(f"the directory refused to {action} {dn}: no access")
    if isinstance(exc, ldap.CONSTRAINT_VIOLATION):
        reason = _describe(exc)
        # The unique overlay names the values it searched for, not the one it found:
        # "non-unique attributes found with (|(mail=x)(alumailStudentNumber=y))".
        if "non-unique attributes" in reason:
            names = re.findall(r"\(([A-Za-z0-9-]+)=", reason)
            fields = ", ".join(dict.fromkeys(field_of(name) for name in names)) or "entry"
            return ConflictError(f"{fields}: already taken by another account")
        # The constraint overlay: "modify breaks constraint on telephoneNumber".
        broken = re.search(r"breaks constraint on ([A-Za-z0-9-]+)", reason)
        if broken:
            return ValidationError(
                field_of(broken.group(1)), "refused by the directory: breaks its format rule"
            )
        # ppolicy's refusals ("Password is in history of old passwords", ...), in its words.
        field = "password" if "password" in reason.lower() else "entry"
        return ValidationError(field, f"refused by the directory: {reason}")
    if isinstance(exc, ldap.NO_SUCH_ATTRIBUTE | ldap.TYPE_OR_VALUE_EXISTS):
        return ConflictError(f"cannot {action} {dn}: {_describe(exc)}")
    return DirectoryError(f"cannot {action} {dn}: {_describe(exc)}")


class Pipeline:
    """Asynchronous writes with up to ``window`` operations in flight on one connection.

    A durable slapd spends most of an add waiting for its fsync; keeping many operations
    outstanding lets it group them. Each operation carries a caller's ``tag`` (a CSV line
    number, say); :meth:`completed` hands back ``(tag, error or None)`` as results arrive.
    """

    def __init__(self, directory: Directory, window: int = 64) -> None:
        self._conn = directory._conn
        self.window = window
        self._pending: dict[int, tuple[object, str, str]] = {}
        self._done: list[tuple[object, AlumailError | None]] = []

    def add(self, dn: str, entry: Mapping[str, Sequence[str]], tag: object) -> None:
        msgid = self._conn.add_ext(dn, [(k, _encode(v)) for k, v in entry.items()])
        self._submitted(msgid, tag, "add", dn)

    def replace(self, dn: str, changes: Mapping[str, Sequence[str] | None], tag: object) -> None:
        mods = [(ldap.MOD_REPLACE, a, _encode(v) if v else None) for a, v in changes.items()]
        msgid = self._conn.modify_ext(dn, mods)
        self._submitted(msgid, tag, "modify", dn)

    def _submitted(self, msgid: int, tag: object, action: str, dn: str) -> None:
        self._pending[msgid] = (tag, action, dn)
        while len(self._pending) >= self.window:
            self._collect_one()

    def _collect_one(self) -> None:
        try:
            _, _, msgid, _ = self._conn.result3(ldap.RES_ANY, all=1, timeout=60)
            error = None
        except ldap.LDAPError as exc:
            info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            msgid = info.get("msgid")
            if msgid not in self._pending:
                raise DirectoryError(f"the directory failed mid-import: {_describe(exc)}") from exc
            _, action, dn = self._pending[msgid]
            error = _translate(exc, action, dn)
        tag, _, _ = self._pending.pop(msgid)
        self._done.append((tag, error))

    def completed(self) -> list[tuple[object, AlumailError | None]]:
        done, self._done = self._done, []
        return done

    def drain(self) -> list[tuple[object, AlumailError | None]]:
        while self._pending:
            self._collect_one()
        return self.completed()


def iter_search(
    directory: Directory,
    base: str,
    filterstr: str,
    attributes: Sequence[str],
    *,
    page_size: int = 1000,
) -> Iterator[tuple[str, Entry]]:
    """Entries below ``base`` one page at a time (RFC 2696), so a large directory streams."""
    from ldap.controls import SimplePagedResultsControl

    control = SimplePagedResultsControl(True, size=page_size, cookie="")
    conn = directory._conn
    while True:
        try:
            msgid = conn.search_ext(
                base, ldap.SCOPE_SUBTREE, filterstr, list(attributes), serverctrls=[control]
            )
            _, rows, _, controls = conn.result3(msgid)
        except ldap.NO_SUCH_OBJECT:
            return
        except ldap.LDAPError as exc:
            raise DirectoryError(f"search under {base} failed: {_describe(exc)}") from exc
        for dn, attrs in rows:
            if dn:
                yield dn, _decode(dn, attrs)
        cookies = [c.cookie for c in controls if c.controlType == control.controlType]
        if not cookies or not cookies[0]:
            return
        control.cookie = cookies[0]


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


def _decode(dn: str, attrs: Mapping[str, Sequence[bytes]]) -> Entry:
    """An entry as text, each value through identity.readback (the one place values read from
    the directory are checked before anything shows or uses them)."""
    decoded = {k: [v.decode("utf-8", "replace") for v in vs] for k, vs in attrs.items()}
    return readback.entry(dn, decoded)


class WritePipeline(Protocol):
    """Writes in flight on one connection (:class:`Pipeline`), each tagged by the caller;
    ``drain`` waits for the rest and hands back ``(tag, error or None)`` for each."""

    def add(self, dn: str, entry: Mapping[str, Sequence[str]], tag: object) -> None: ...

    def replace(
        self, dn: str, changes: Mapping[str, Sequence[str] | None], tag: object
    ) -> None: ...

    def drain(self) -> list[tuple[object, AlumailError | None]]: ...


class DirectoryConnection(Protocol):
    """One bound connection to the directory: what use cases and identity's own readers ask of
    :class:`Directory` (and what tests/unit/fakes.py fakes)."""

    def search(
        self,
        base: str,
        filterstr: str = "(objectClass=*)",
        attributes: Sequence[str] | None = None,
        *,
        scope: str = "subtree",
    ) -> list[tuple[str, Entry]]: ...

    def get(self, dn: str, attributes: Sequence[str] | None = None) -> Entry | None: ...

    def whoami(self) -> str:
        """Who slapd takes this connection for (``dn:...``): an answer proves it is served."""
        ...

    def iter_search(
        self, base: str, filterstr: str, attributes: Sequence[str], *, page_size: int = 1000
    ) -> Iterator[tuple[str, Entry]]:
        """Entries below ``base`` (subtree), streamed a page at a time: for exports of any
        size."""
        ...

    def pipeline(self, window: int = 64) -> WritePipeline:
        """Writes kept in flight (bulk imports: slapd groups their fsyncs)."""
        ...

    def add(self, dn: str, entry: Mapping[str, Sequence[str]]) -> None: ...

    def replace(self, dn: str, changes: Mapping[str, Sequence[str] | None]) -> None: ...

    def modify(self, dn: str, changes: Sequence[tuple[str, str, Sequence[str] | None]]) -> None: ...

    def delete(self, dn: str) -> None: ...
