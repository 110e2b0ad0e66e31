"""In-memory stand-ins for the collaborators a use case is handed (provisioning.collaborators),
for fast unit tests of the use cases' own rules: roles, audit lines, cache flushes, undoing a
half-made change. What slapd, Dovecot and OpenDKIM themselves enforce is tested against the
real daemons in tests/integration; these fakes judge nothing (no ACLs, no schema)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from identity.accounts import Account
from identity.directory import Credentials, Entry
from identity.dit import Tree, staff_entry
from identity.errors import AlumailError, ConflictError, NotFoundError, ValidationError
from identity.passwords import hash_password
from identity.roles import Actor, Role
from mailstack.errors import DaemonError
from mailstack.keys.dkim import DkimKey
from mailstack.mailbox.imapsync import FolderCount, ImapSource
from mailstack.mailbox.mailboxes import QuotaUse
from mailstack.settings import build
from provisioning.audit import AuditLog
from provisioning.composition import Composition
from provisioning.store import Standing, Store

_TERM = re.compile(r"\((?P<attr>[\w-]+)=(?P<value>[^()]*)\)")


def _unescape(value: str) -> str:
    return re.sub(r"\\([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), value)


def _matches(entry: Entry, text: str) -> bool:
    """An RFC 4515 filter of &, |, ! and equality or substring terms (all use cases write)."""
    matched, rest = _match(entry, text)
    assert not rest, f"unparsed filter text: {rest!r}"
    return matched


def _match(entry: Entry, text: str) -> tuple[bool, str]:
    if text[:2] in ("(&", "(|", "(!"):
        op, rest, results = text[1], text[2:], []
        while rest.startswith("("):
            result, rest = _match(entry, rest)
            results.append(result)
        assert rest.startswith(")"), text
        combined = {"&": all(results), "|": any(results), "!": not all(results)}[op]
        return combined, rest[1:]
    term = _TERM.match(text)
    assert term, f"filter term not understood: {text!r}"
    attr, value = term.group("attr"), term.group("value")
    pattern = ".*".join(re.escape(_unescape(part)) for part in value.split("*"))
    values = entry.get(attr, [])
    found = any(re.fullmatch(pattern, v, re.IGNORECASE) for v in values)
    return found, text[term.end() :]


@dataclass
class FakeDirectory:
    """Entries by DN, shared by every connection of a FakeConnections; each operation is
    logged with the name of the connection that made it."""

    entries: dict[str, Entry] = field(default_factory=dict)
    writes: list[tuple[str, str, str]] = field(default_factory=list)  # (who, operation, dn)

    def connection(self, who: str) -> FakeConnection:
        return FakeConnection(self, who)


@dataclass
class FakeConnection:
    directory: FakeDirectory
    who: str

    @property
    def entries(self) -> dict[str, Entry]:
        return self.directory.entries

    def whoami(self) -> str:
        return f"dn:{self.who}"

    def search(
        self,
        base: str,
        filterstr: str = "(objectClass=*)",
        attributes: Sequence[str] | None = None,
        *,
        scope: str = "subtree",
    ) -> list[tuple[str, Entry]]:
        rows = []
        for dn, entry in sorted(self.entries.items()):
            if scope == "base":
                inside = dn == base
            elif scope == "one":
                inside = dn.endswith("," + base) and "," not in dn[: -len(base) - 1]
            else:
                inside = dn == base or dn.endswith("," + base)
            if inside and (filterstr == "(objectClass=*)" or _matches(entry, filterstr)):
                wanted = {k: list(v) for k, v in entry.items() if not attributes or k in attributes}
                rows.append((dn, wanted))
        return rows

    def get(self, dn: str, attributes: Sequence[str] | None = None) -> Entry | None:
        rows = self.search(dn, attributes=attributes, scope="base")
        return rows[0][1] if rows else None

    def iter_search(
        self, base: str, filterstr: str, attributes: Sequence[str], *, page_size: int = 1000
    ) -> Iterator[tuple[str, Entry]]:
        return iter(self.search(base, filterstr, attributes))

    def pipeline(self, window: int = 64) -> FakePipeline:
        return FakePipeline(self)

    def add(self, dn: str, entry: Mapping[str, Sequence[str]]) -> None:
        if dn in self.entries:
            raise ConflictError(f"{dn} exists")
        self.entries[dn] = {k: list(v) for k, v in entry.items()}
        self.directory.writes.append((self.who, "add", dn))

    def replace(self, dn: str, changes: Mapping[str, Sequence[str] | None]) -> None:
        self.modify(dn, [("replace", attr, values) for attr, values in changes.items()])

    def modify(self, dn: str, changes: Sequence[tuple[str, str, Sequence[str] | None]]) -> None:
        entry = self.entries.get(dn)
        if entry is None:
            raise NotFoundError(f"no entry {dn}")
        for op, attr, values in changes:
            current = entry.get(attr, [])
            if op == "add":
                entry[attr] = [*current, *(values or [])]
            elif op == "delete" and values:
                entry[attr] = [v for v in current if v not in values]
            else:  # replace, or delete of the whole attribute
                entry[attr] = list(values or []) if op == "replace" else []
            if not entry[attr]:
                del entry[attr]
        self.directory.writes.append((self.who, "modify", dn))

    def delete(self, dn: str) -> None:
        if self.entries.pop(dn, None) is None:
            raise NotFoundError(f"no entry {dn}")
        self.directory.writes.append((self.who, "delete", dn))


@dataclass
class FakePipeline:
    """Writes made at once, their outcomes handed back by drain (as Pipeline's are)."""

    connection: FakeConnection
    done: list[tuple[object, AlumailError | None]] = field(default_factory=list)

    def add(self, dn: str, entry: Mapping[str, Sequence[str]], tag: object) -> None:
        self._made(tag, lambda: self.connection.add(dn, entry))

    def replace(self, dn: str, changes: Mapping[str, Sequence[str] | None], tag: object) -> None:
        self._made(tag, lambda: self.connection.replace(dn, changes))

    def _made(self, tag: object, write: Callable[[], None]) -> None:
        try:
            write()
            self.done.append((tag, None))
        except AlumailError as error:
            self.done.append((tag, error))

    def drain(self) -> list[tuple[object, AlumailError | None]]:
        done, self.done = self.done, []
        return done


@dataclass
class FakeConnections:
    """``system`` and one connection per actor over one FakeDirectory; ``passwords`` holds
    what a bind as a DN would accept."""

    directory: FakeDirectory = field(default_factory=FakeDirectory)
    passwords: dict[str, str] = field(default_factory=dict)

    @property
    def system(self) -> FakeConnection:
        return self.directory.connection("system")

    def as_actor(self, actor: Actor) -> FakeConnection:
        return self.directory.connection(actor.name)

    def proves(self, dn: str, password: str) -> bool:
        return bool(password) and self.passwords.get(dn) == password


@dataclass
class FakeMailboxes:
    """Mailboxes as a set of addresses; every auth cache flush is remembered."""

    existing: set[str] = field(default_factory=set)
    flushed: list[str] = field(default_factory=list)
    token_flushes: int = 0  # whole-cache flushes (Dovecot's cached bearer-token logins)
    tokens_flushed: list[tuple[str, str]] = field(default_factory=list)  # one login each
    fail_create: bool = False

    def flush_auth_cache(self, *names: str) -> None:
        self.flushed.extend(names)

    def flush_token_logins(self) -> None:
        self.token_flushes += 1

    def flush_token_login(self, login: str, token: str) -> None:
        self.tokens_flushed.append((login, token))

    def quota(self, user: str) -> QuotaUse:
        return QuotaUse(0, None, 0)

    def create(self, user: str) -> list[str]:
        if self.fail_create:
            raise DaemonError(f"mailbox of {user} lacks folders: INBOX")
        self.existing.add(user)
        return ["INBOX"]

    def exists(self, user: str) -> bool:
        return user in self.existing

    def archive(self, user: str, uid: str) -> Path:
        return Path(f"/archive/{uid}.tar.gz")

    def remove(self, user: str) -> None:
        self.existing.discard(user)

    def backup(self, user: str, target: Path) -> Path:
        target.write_bytes(b"backup of " + user.encode())
        return target

    def restore(self, user: str, source: Path, *, quota: int) -> None:
        self.existing.add(user)

    def pull(self, user: str, source: ImapSource) -> str:
        return ""

    def counts(self, user: str) -> dict[str, FolderCount]:
        return {}


@dataclass
class FakeKeyFiles:
    """DKIM keys as selector names; the one in use is the last made."""

    names: list[str] = field(default_factory=lambda: ["old"])

    def current(self) -> DkimKey | None:
        return self.key(self.names[-1]) if self.names else None

    def selectors(self) -> list[str]:
        return list(self.names)

    def key(self, selector: str) -> DkimKey:
        return DkimKey(selector, Path(f"/dkim/{selector}.private"), Path(f"/dkim/{selector}.txt"))

    def generate(self, domain: str, selector: str | None = None) -> DkimKey:
        selector = selector or f"k{len(self.names)}"
        if selector in self.names:
            raise ValidationError("selector", f"a key '{selector}' exists already")
        self.names.append(selector)
        return self.key(selector)

    def retire(self, selector: str) -> None:
        if selector == self.names[-1]:
            raise ValidationError("selector", f"'{selector}' is the key in use; rotate first")
        if selector not in self.names:
            raise NotFoundError(f"no DKIM key '{selector}'")
        self.names.remove(selector)


@dataclass
class Composed:
    """A composition root over the fakes above (and a real audit log and store in a temporary
    folder: both are plain files), with helpers to seed the directory."""

    root: Composition
    directory: FakeDirectory
    connections: FakeConnections
    mailboxes: FakeMailboxes
    audit: AuditLog

    @property
    def tree(self) -> Tree:
        return Tree(self.root.settings.base_dn)

    def alumnus(self, uid: str, password: str = "Alumnus-Pass-42", **values: object) -> str:
        account = Account(
            uid=uid,
            mail=f"{uid}@{self.root.settings.domain}",
            display_name=uid.title(),
            quota=self.root.settings.default_quota,
            aliases=(f"{uid}.alias@{self.root.settings.domain}",),
        )
        dn = self.tree.person(uid)
        self.directory.entries[dn] = account.to_entry(hash_password(password))
        self.directory.entries[dn].update({k: [str(v)] for k, v in values.items()})
        self.connections.passwords[dn] = password
        self.mailboxes.existing.add(account.mail)
        return dn

    def staff(self, uid: str, role: Role, password: str = "Staff-Pass-4242") -> Actor:
        dn = self.tree.staff_member(uid)
        self.directory.entries[dn] = staff_entry(uid, uid.title(), hash_password(password))
        group = self.tree.admins_group if role is Role.ADMIN else self.tree.helpdesk_group
        members = self.directory.entries.setdefault(group, {"member": []})["member"]
        members.append(dn)
        self.connections.passwords[dn] = password
        return Actor(uid, role, Credentials(dn, password))

    def signed_in(self, uid: str) -> str:
        """A browser session of ``uid`` in the store (its id)."""
        standing = Standing(f"uuid-of-{uid}", "20261128150428Z")
        session_id, _ = self.root.store.open_session(uid, standing, must_change=False, ttl=600)
        return session_id

    def has_session(self, session_id: str) -> bool:
        return self.root.store.session(session_id) is not None

    def trail(self) -> list[tuple[str, str, str]]:
        """(action, target, outcome) of every audit line, in order."""
        return [
            (str(line["action"]), str(line["target"]), str(line["outcome"]))
            for line in self.audit.lines()
        ]

    def last_changes(self) -> object:
        return list(self.audit.lines())[-1].get("changes")


def composed(tmp_path: Path) -> Composed:
    settings = build({"domain": "alumni.example.edu", "state_dir": str(tmp_path / "state")})
    connections = FakeConnections()
    mailboxes = FakeMailboxes()
    audit = AuditLog(tmp_path / "audit.jsonl")
    root = Composition(
        settings,
        connections=connections,
        mailboxes=mailboxes,
        audit=audit,
        store=Store(tmp_path / "store" / "web.db"),
    )
    return Composed(root, connections.directory, connections, mailboxes, audit)
