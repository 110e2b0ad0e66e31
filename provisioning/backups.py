"""Per-user mailbox backup and restore (the format is described in
:mod:`mailstack.mailbox.mailbackup`), for admins from the CLI and for an alumnus's own mailbox from
the portal. Audited."""

from __future__ import annotations

from pathlib import Path

from identity.roles import Role
from mailstack.mailbox import mailbackup
from provisioning.accounts import AccountService


class MailboxBackups(AccountService):
    def backup(self, uid: str, target: Path) -> Path:
        with self.audited("mailbox-backup", uid) as outcome:
            own = self.actor.role is Role.ALUMNUS and self.actor.name == uid
            self.require(self.actor.can_administer() or own, f"back up the mailbox of '{uid}'")
            account = self.get(uid)
            mailbackup.backup(self.ctx, account.mail, target)
            outcome.changes = {"file": str(target), "bytes": target.stat().st_size}
        return target

    def restore(self, uid: str, source: Path) -> None:
        with self.audited("mailbox-restore", uid) as outcome:
            self.require(self.actor.can_administer(), f"restore the mailbox of '{uid}'")
            account = self.get(uid)
            mailbackup.restore(self.ctx, account.mail, source, quota=account.quota)
            outcome.changes = {"file": str(source)}
