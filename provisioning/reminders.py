"""Reminders before the legacy cutoff: holders who have not migrated get a mail at each
configured offset (``legacy.reminder_days``, e.g. 30 and 7 days before ``legacy.cutoff``),
at their new address and their recovery address, through our own Postfix.

Run daily (cron). Each offset is sent once per holder (recorded in the service's store); a day
missed is caught up with the latest offset due, never with a burst of old ones. Audited.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from identity.directory import Directory
from identity.dit import Tree
from identity.errors import ConfigError
from identity.legacy import LegacyState
from identity.roles import PORTAL
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning import legacy
from provisioning.audit import AuditLog, audit_path
from provisioning.mailer import Mailer
from provisioning.store import Store


@dataclass(frozen=True)
class Reminder:
    uid: str
    offset: int
    recipients: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"uid": self.uid, "days_before": self.offset, "to": list(self.recipients)}


def due(settings: Settings, store: Store, today: datetime.date) -> list[Reminder]:
    if not settings.legacy.cutoff:
        raise ConfigError("legacy.cutoff: set the date the legacy mailboxes close")
    days_left = (datetime.date.fromisoformat(settings.legacy.cutoff) - today).days
    if days_left < 0:
        return []
    offsets = [d for d in settings.legacy.reminder_days if d >= days_left]
    if not offsets:
        return []
    offset = min(offsets)  # the latest reminder due
    with store.connect() as db:
        sent = {
            row[0] for row in db.execute("SELECT uid FROM reminders WHERE offset = ?", (offset,))
        }
    result = []
    with Directory(Layout(settings.state_dir).ldapi_uri) as system:
        found = legacy.holders(system, Tree(settings.base_dn))
    for holder in found:
        if holder.state == LegacyState.MIGRATED or holder.uid in sent:
            continue
        recipients = tuple(a for a in (holder.mail, holder.recovery_email) if a)
        result.append(Reminder(holder.uid, offset, recipients))
    return result


def send(
    settings: Settings, store: Store, today: datetime.date, *, dry_run: bool
) -> list[Reminder]:
    reminders = due(settings, store, today)
    if dry_run:
        return reminders
    mailer = Mailer(settings)
    audit = AuditLog(audit_path(settings.state_dir))
    cutoff = settings.legacy.cutoff
    for reminder in reminders:
        for address in reminder.recipients:
            mailer.send(
                address,
                f"Your old alumni mailbox closes on {cutoff}",
                f"Your legacy lifelong mailbox closes on {cutoff}, in {reminder.offset} days or "
                "less, and its mail has not been moved yet.\n\n"
                f"Move it now: sign in at {settings.public_url}/account/migration with your "
                "jAccount, then give your old mailbox password. Or download a copy from the old "
                "service before it closes.\n",
            )
        with store.connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO reminders VALUES (?, ?, strftime('%s', 'now'))",
                (reminder.uid, reminder.offset),
            )
        audit.record(PORTAL, "legacy-reminder", reminder.uid, "ok", changes=reminder.as_dict())
    return reminders
