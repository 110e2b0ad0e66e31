"""What a use case is handed instead of building it: the roles it plays with, as small
protocols. provisioning.composition builds the real ones once per process (a CLI command, the
web service); tests/unit/fakes.py holds in-memory ones. A second machine replaces an
implementation (doveadm's HTTP API for MailboxAdmin, SMTP submission for MailSender) without a
use case noticing."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from identity.directory import DirectoryConnection
from identity.roles import Actor
from mailstack.mailbox.imapsync import FolderCount, ImapSource
from mailstack.mailbox.mailboxes import QuotaUse


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
    """Mailbox administration (mailstack.mailbox.mailboxes.DoveadmMailboxes: local doveadm)."""

    def flush_auth_cache(self, *names: str) -> None: ...

    def flush_token_logins(self) -> None:
        """Forget every cached token login (Dovecot's cache cannot single out one person's)."""
        ...

    def flush_token_login(self, login: str, token: str) -> None:
        """Forget the cached login of ``login`` with one bearer ``token`` (a secret)."""
        ...

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
