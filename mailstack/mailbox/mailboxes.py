"""Mailboxes as Dovecot holds them, through ``doveadm`` on our own instance: the mailbox
administration the use cases are handed (provisioning.collaborators.MailboxAdmin). Make a new
mailbox with its standard folders, read quota use, forget cached logins, archive and remove a
mailbox, back one up, restore it, pull one from another IMAP server.

It needs only the layout (paths to doveadm's configuration and the mail store), so a use case
never builds a RenderContext or a Dovecot daemon object to reach a mailbox; another machine's
mailbox administration (doveadm's HTTP API) can stand in its place."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mailstack.errors import DaemonError
from mailstack.layout import Layout
from mailstack.mailbox import authcache, imapsync, mailbackup, mailstore
from mailstack.mailbox.doveadm import Doveadm
from mailstack.mailbox.imapsync import FolderCount, ImapSource

# Created and subscribed at once, each with its SPECIAL-USE flag (dovecot.conf), so every
# client maps them the same way.
STANDARD_FOLDERS = ("Drafts", "Sent", "Trash", "Junk", "Archive")


@dataclass(frozen=True)
class QuotaUse:
    used_bytes: int
    limit_bytes: int | None
    messages: int

    @property
    def percent(self) -> float | None:
        if not self.limit_bytes:
            return None
        return 100.0 * self.used_bytes / self.limit_bytes


class DoveadmMailboxes:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.doveadm = Doveadm.of(layout)

    def folders(self, user: str) -> list[str]:
        """The user's folders. Opening the mailbox creates it and the auto-created folders."""
        out = self.doveadm("mailbox", "list", "-u", user)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def create(self, user: str) -> list[str]:
        folders = self.folders(user)
        missing = [name for name in ("INBOX", *STANDARD_FOLDERS) if name not in folders]
        if missing:
            raise DaemonError(f"mailbox of {user} lacks folders: {', '.join(missing)}")
        return folders

    def quota(self, user: str) -> QuotaUse:
        out = self.doveadm("-f", "json", "quota", "get", "-u", user)
        used = limit = None
        messages = 0
        for row in json.loads(out or "[]"):
            if row.get("type") == "STORAGE":
                used = int(row["value"]) * 1024
                limit = (
                    int(row["limit"]) * 1024 if row.get("limit") not in ("-", "", None) else None
                )
            elif row.get("type") == "MESSAGE":
                messages = int(row["value"])
        return QuotaUse(used or 0, limit, messages)

    @property
    def auth_master(self) -> Path:
        return self.layout.dovecot_run / "auth-master"

    def flush_auth_cache(self, *names: str) -> None:
        """Make the next login under any of ``names`` (Dovecot keys its cache by the name the
        client typed: the UID, the address or an alias) go to the directory."""
        if names and self.doveadm.dovecot_running():
            authcache.flush(self.auth_master, names)

    def flush_token_logins(self) -> None:
        """Dovecot 2.3 caches an accepted bearer token under a key that joins the user name and
        the token with no separator (the oauth2 passdb's ``%u%w``): a user's name never matches
        it, so tokens cut without their values at hand are forgotten only by flushing the whole
        cache (every cached login then binds once more)."""
        if self.doveadm.dovecot_running():
            authcache.flush(self.auth_master)

    def flush_token_login(self, login: str, token: str) -> None:
        """Forget the one cached login of ``login`` with bearer ``token`` (its key is the two
        joined)."""
        if self.doveadm.dovecot_running():
            authcache.flush(self.auth_master, [login + token])

    def home(self, user: str) -> Path:
        """The mailbox's home (``mail/<domain>/<local part>``, as the userdb says)."""
        local, _, domain = user.partition("@")
        return self.layout.mail / domain / local

    def exists(self, user: str) -> bool:
        return mailstore.home_exists(self.home(user))

    def archive(self, user: str, uid: str) -> Path:
        """The mailbox's home as ``archive/UID-TIME.tar.gz``."""
        return mailstore.archive_home(self.home(user), self.layout.archive, uid)

    def remove(self, user: str) -> None:
        mailstore.remove_home(self.home(user))

    def backup(self, user: str, target: Path) -> Path:
        return mailbackup.backup(self.doveadm, user, target)

    def restore(self, user: str, source: Path, *, quota: int) -> None:
        mailbackup.restore(self.doveadm, user, source, quota=quota)

    def pull(self, user: str, source: ImapSource) -> str:
        return imapsync.pull(self.doveadm, user, source)

    def counts(self, user: str) -> dict[str, FolderCount]:
        return imapsync.counts(self.doveadm, user)
