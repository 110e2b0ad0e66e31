"""Moving mail from the legacy lifelong-mailbox server into the new mailboxes.

The copy itself is Dovecot's dsync (:mod:`mailstack.mailbox.imapsync`); this module owns the
rest: one account or a CSV list, the holder's state in the directory
(:class:`identity.legacy.LegacyState`: migrating, migrated or failed), a report per account
(folders, messages and bytes copied, errors), an audit line per account, and one account's
failure never stopping the others.

CSV columns: ``legacy_login,legacy_password,uid``. A row without a password is copied with the
legacy server's admin (master) login given on the command line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from identity.accounts import check_uid
from identity.dit import Tree
from identity.errors import AlumailError, ConfigError, NotFoundError, ValidationError
from identity.legacy import LegacyState, state_change
from identity.markers import N_
from identity.roles import ROOT, Actor
from mailstack.mailbox.imapsync import FolderCount, ImapSource, survey
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.collaborators import Connections, MailboxAdmin
from provisioning.csvrows import open_csv, read_rows

CSV_COLUMNS = ("legacy_login", "legacy_password", "uid")


@dataclass(frozen=True)
class Job:
    uid: str
    login: str
    password: str = ""  # empty: use the master login

    def __repr__(self) -> str:
        return f"Job({self.login} -> {self.uid})"


@dataclass
class AccountReport:
    uid: str
    login: str
    ok: bool = False
    folders: int = 0
    messages_copied: int = 0
    bytes_copied: int = 0
    messages_total: int = 0
    seconds: float = 0.0
    error: str = ""
    per_folder: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def read_jobs(path: Path) -> list[Job]:
    with open_csv(path, "csv") as handle:
        _, rows = read_rows(handle, CSV_COLUMNS)
        jobs = []
        for line, row in rows:
            login = (row.get("legacy_login") or "").strip()
            if not login:
                raise ValidationError("legacy_login", f"line {line}: must not be empty")
            try:
                uid = check_uid((row.get("uid") or "").strip())
            except ValidationError as error:
                raise ValidationError("uid", f"line {line}: {error.rule}") from error
            jobs.append(Job(uid, login, (row.get("legacy_password") or "")))
    return jobs


class Migrator:
    """Copies for ``actor`` (audited as theirs) on the connections, mailbox administration and
    audit log it is handed (provisioning.composition.Composition.migrator). The holder's state
    is alumail's own write, through the system connection."""

    def __init__(
        self,
        settings: Settings,
        actor: Actor = ROOT,
        *,
        connections: Connections,
        mailboxes: MailboxAdmin,
        audit: AuditLog,
        master_user: str = "",
        master_password: str = "",
        verify_tls: bool = True,
    ) -> None:
        if not settings.legacy.imap_host:
            raise ConfigError("legacy.imap_host: set the legacy IMAP server to migrate from")
        self.settings = settings
        self.actor = actor
        self.master_user = master_user
        self.master_password = master_password
        self.verify_tls = verify_tls
        self.connections = connections
        self.mailboxes = mailboxes
        self.tree = Tree(settings.base_dn)
        self.audit = audit

    def source(self, job: Job) -> ImapSource:
        s = self.settings
        if job.password:
            return ImapSource(
                s.legacy.imap_host,
                s.legacy.imap_port,
                s.legacy.security,
                job.login,
                job.password,
                verify_tls=self.verify_tls,
            )
        if not self.master_user:
            raise ValidationError(
                "legacy_password", f"{job.login}: give the password or a master login"
            )
        return ImapSource(
            s.legacy.imap_host,
            s.legacy.imap_port,
            s.legacy.security,
            job.login,
            self.master_password,
            master_user=self.master_user,
            verify_tls=self.verify_tls,
        )

    def set_state(self, uid: str, state: LegacyState) -> None:
        self.connections.system.replace(self.tree.person(uid), state_change(state))

    def run(
        self, jobs: Iterable[Job], progress: Callable[[AccountReport], None] | None = None
    ) -> list[AccountReport]:
        reports = []
        for job in jobs:
            report = self.one(job)
            reports.append(report)
            if progress:
                progress(report)
        return reports

    def plan(self, job: Job) -> AccountReport:
        """A dry run: the account exists, the legacy server takes the login, and what it holds
        (messages per folder). Nothing is copied or changed."""
        report = AccountReport(job.uid, job.login)
        try:
            if self.connections.system.get(self.tree.person(job.uid), ["mail"]) is None:
                raise NotFoundError(N_("no account with uid '{uid}'").format(uid=job.uid))
            folders = survey(self.source(job))
            report.per_folder = folders
            report.folders = len(folders)
            report.messages_total = sum(folders.values())
            report.ok = True
        except AlumailError as error:
            report.error = error.message
        return report

    def one(self, job: Job) -> AccountReport:
        report = AccountReport(job.uid, job.login)
        started = time.monotonic()
        try:
            entry = self.connections.system.get(self.tree.person(job.uid), ["mail"])
            if entry is None:
                raise NotFoundError(N_("no account with uid '{uid}'").format(uid=job.uid))
            user = entry["mail"][0]
            source = self.source(job)
            self.set_state(job.uid, LegacyState.MIGRATING)
            before = self.mailboxes.counts(user)
            self.mailboxes.pull(user, source)
            after = self.mailboxes.counts(user)
            self._fill(report, before, after)
            report.ok = True
            self.set_state(job.uid, LegacyState.MIGRATED)
        except AlumailError as error:
            report.error = error.message + (f": {error.detail}" if error.detail else "")
            with contextlib.suppress(AlumailError):  # no account: the report says so
                self.set_state(job.uid, LegacyState.FAILED)
        report.seconds = round(time.monotonic() - started, 2)
        self.audit.record(
            self.actor,
            "migrate",
            job.uid,
            "ok" if report.ok else "failed",
            changes={
                "messages": report.messages_copied,
                "bytes": report.bytes_copied,
                "folders": report.folders,
            }
            if report.ok
            else None,
            detail=report.error or None,
        )
        return report

    @staticmethod
    def _fill(
        report: AccountReport, before: dict[str, FolderCount], after: dict[str, FolderCount]
    ) -> None:
        report.folders = len(after)
        for name, count in after.items():
            was = before.get(name)
            copied = count.messages - (was.messages if was else 0)
            report.per_folder[name] = copied
            report.messages_copied += max(copied, 0)
            report.bytes_copied += max(count.bytes - (was.bytes if was else 0), 0)
            report.messages_total += count.messages
