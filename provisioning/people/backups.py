"""Per-user mailbox backup and restore (the format is described in
:mod:`mailstack.mailbox.mailbackup`), for admins from the CLI and for an alumnus's own mailbox from
the portal. Audited."""

from __future__ import annotations

from pathlib import Path

from identity.markers import N_
from identity.roles import Role
from provisioning.people.accounts import AccountService


class MailboxBackups:
    """Mailbox backup and restore for the actor of ``accounts`` (whose lookups, roles and audit
    they share)."""

    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts

    def backup(self, uid: str, target: Path) -> Path:
        accounts = self.accounts
        with accounts.audited("mailbox-backup", uid) as outcome:
            actor = accounts.actor
            own = actor.role is Role.ALUMNUS and actor.name == uid
            accounts.require(
                actor.can_administer() or own, N_("back up the mailbox of '{uid}'").format(uid=uid)
            )
            account = accounts.get(uid)
            accounts.mailboxes.backup(account.mail, target)
            outcome.changes = {"file": str(target), "bytes": target.stat().st_size}
        return target

    def restore(self, uid: str, source: Path) -> None:
        accounts = self.accounts
        with accounts.audited("mailbox-restore", uid) as outcome:
            accounts.require(
                accounts.actor.can_administer(),
                N_("restore the mailbox of '{uid}'").format(uid=uid),
            )
            account = accounts.get(uid)
            accounts.mailboxes.restore(account.mail, source, quota=account.quota)
            outcome.changes = {"file": str(source)}
