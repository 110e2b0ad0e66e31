"""Reminders before the legacy cutoff: holders who have not migrated get a mail at each
configured offset (``legacy.reminder_days``, e.g. 30 and 7 days before ``legacy.cutoff``),
at their new address and their recovery address, through our own Postfix.

Run daily (cron). Each offset is sent once per holder (recorded in the service's store); a day
missed is caught up with the latest offset due, never with a burst of old ones. Audited.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from identity.directory import DirectoryConnection
from identity.dit import Tree
from identity.errors import ConfigError
from identity.legacy import LegacyState
from identity.roles import PORTAL
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.collaborators import MailSender
from provisioning.i18n import ENGLISH, _, speaking
from provisioning.legacy import holders
from provisioning.store import Store


@dataclass(frozen=True)
class Reminder:
    uid: str
    offset: int
    recipients: tuple[str, ...]
    language: str = ""  # the holder's preferredLanguage (English when none)

    def as_dict(self) -> dict[str, object]:
        return {"uid": self.uid, "days_before": self.offset, "to": list(self.recipients)}


class CutoffReminders:
    """The reminders due, read from the directory's holders (the ``system`` connection) and the
    ``store``'s record of those sent; sent through ``mailer`` and audited in ``audit``
    (provisioning.composition builds it)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        system: DirectoryConnection,
        mailer: MailSender,
        audit: AuditLog,
    ) -> None:
        self.settings = settings
        self.store = store
        self.system = system
        self.mailer = mailer
        self.audit = audit

    def due(self, today: datetime.date) -> list[Reminder]:
        settings = self.settings
        if not settings.legacy.cutoff:
            raise ConfigError("legacy.cutoff: set the date the legacy mailboxes close")
        days_left = (datetime.date.fromisoformat(settings.legacy.cutoff) - today).days
        if days_left < 0:
            return []
        offsets = [d for d in settings.legacy.reminder_days if d >= days_left]
        if not offsets:
            return []
        offset = min(offsets)  # the latest reminder due
        with self.store.connect() as db:
            sent = {
                row[0]
                for row in db.execute("SELECT uid FROM reminders WHERE offset = ?", (offset,))
            }
        result = []
        for holder in holders.holders(self.system, Tree(settings.base_dn)):
            if holder.state == LegacyState.MIGRATED or holder.uid in sent:
                continue
            recipients = tuple(a for a in (holder.mail, holder.recovery_email) if a)
            result.append(Reminder(holder.uid, offset, recipients, holder.preferred_language))
        return result

    def send(self, today: datetime.date, *, dry_run: bool) -> list[Reminder]:
        reminders = self.due(today)
        if dry_run:
            return reminders
        cutoff, url = self.settings.legacy.cutoff, self.settings.public_url
        for reminder in reminders:
            with speaking(reminder.language or ENGLISH):
                subject = _("Your old alumni mailbox closes on {cutoff}").format(cutoff=cutoff)
                body = _(
                    "Your legacy lifelong mailbox closes on {cutoff}, in {days} days or less, and "
                    "its mail has not been moved yet.\n\n"
                    "Move it now: sign in at {url}/account/migration with your jAccount, then "
                    "give your old mailbox password. Or download a copy from the old service "
                    "before it closes.\n"
                ).format(cutoff=cutoff, days=reminder.offset, url=url)
                for address in reminder.recipients:
                    self.mailer.send(address, subject, body)
            with self.store.connect() as db:
                db.execute(
                    "INSERT OR IGNORE INTO reminders VALUES (?, ?, strftime('%s', 'now'))",
                    (reminder.uid, reminder.offset),
                )
            self.audit.record(
                PORTAL, "legacy-reminder", reminder.uid, "ok", changes=reminder.as_dict()
            )
        return reminders
