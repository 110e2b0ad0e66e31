"""What a use case is handed instead of building it: the roles it plays with, as small
protocols. provisioning.composition builds the real ones once per process (a CLI command, the
web service); tests/unit/fakes.py holds in-memory ones. A second machine replaces an
implementation (doveadm's HTTP API for MailboxAdmin, SMTP submission for MailSender) without a
use case noticing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from identity.directory import Entry
from identity.roles import Actor
from mailstack.imapsync import FolderCount, ImapSource
from mailstack.mailboxes import QuotaUse


class DirectoryConnection(Protocol):
    """One bound connection to the directory (identity.directory.Directory)."""

    def search(
        self,
        base: str,
        filterstr: str = "(objectClass=*)",
        attributes: Sequence[str] | None = None,
        *,
        scope: str = "subtree",
    ) -> list[tuple[str, Entry]]: ...

    def get(self, dn: str, attributes: Sequence[str] | None = None) -> Entry | None: ...

    def add(self, dn: str, entry: Mapping[str, Sequence[str]]) -> None: ...

    def replace(self, dn: str, changes: Mapping[str, Sequence[str] | None]) -> None: ...

    def modify(self, dn: str, changes: Sequence[tuple[str, str, Sequence[str] | None]]) -> None: ...

    def delete(self, dn: str) -> None: ...


class Connections(Protocol):
    """The directory connections of one command or request: ``system`` (the host's root, for
    lookups every actor needs answered alike and for alumail's own writes) and one per actor
    (bound once, reused), so slapd's ACLs judge each actor's reads and writes too."""

    @property
    def system(self) -> DirectoryConnection: ...

    def as_actor(self, actor: Actor) -> DirectoryConnection: ...

    def proves(self, dn: str, password: str) -> bool:
        """True if ``password`` binds as ``dn`` (slapd's ppolicy counts a failure and locks)."""
        ...


class MailboxAdmin(Protocol):
    """Mailbox administration (mailstack.mailboxes.DoveadmMailboxes: local doveadm)."""

    def flush_auth_cache(self, *names: str) -> None: ...

    def quota(self, user: str) -> QuotaUse: ...

    def create(self, user: str) -> list[str]: ...

    def exists(self, user: str) -> bool: ...

    def archive(self, user: str, uid: str) -> Path: ...

    def remove(self, user: str) -> None: ...

    def backup(self, user: str, target: Path) -> Path: ...

    def restore(self, user: str, source: Path, *, quota: int) -> None: ...

    def pull(self, user: str, source: ImapSource) -> str: ...

    def counts(self, user: str) -> dict[str, FolderCount]: ...


class MailSender(Protocol):
    """Hands a message to the mail system (provisioning.mailer.Mailer: sendmail)."""

    def send(self, to: str, subject: str, body: str) -> None: ...
