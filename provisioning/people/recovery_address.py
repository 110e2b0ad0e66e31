"""An alumnus changes their own recovery address: the new address is confirmed by a link
mailed to it before it replaces the old one (a recovery address its owner cannot read would
lock them out of a password reset for good).

The functions are handed the service's store, the mailer and the account service they act
through; the portal only parses the form and shows the outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.accounts import check_recovery_address
from identity.errors import ValidationError
from mailstack.settings import Settings
from provisioning.collaborators import MailSender
from provisioning.i18n import N_, _
from provisioning.mailer import check_recipient
from provisioning.people.accounts import AccountService
from provisioning.store import Store

KIND = "recovery-email"
LINK_TTL = 24 * 3600


@dataclass(frozen=True)
class Pending:
    uid: str
    address: str


def request_change(
    settings: Settings, store: Store, mailer: MailSender, uid: str, address: str
) -> str:
    """Mail a confirmation link to ``address`` (outside this service) for ``uid``; the address
    as it will be recorded."""
    address = check_recovery_address(
        check_recipient(address, field="recovery_email"), settings.domain
    )
    token = store.issue(KIND, uid, {"address": address}, LINK_TTL)
    link = f"{settings.public_url}/account/recovery?token={token}"
    mailer.send(
        address,
        _("Confirm your recovery address"),
        _(
            "The jAccount '{uid}' wants to use this address to recover its password.\n\n"
            "To confirm, open this link within 24 hours:\n\n{link}\n\n"
            "If you do not know this account, ignore this message.\n"
        ).format(uid=uid, link=link),
    )
    return address


def pending(store: Store, token: str) -> Pending | None:
    """The change ``token`` confirms, if the link is still good (nothing is used up)."""
    found = store.peek(KIND, token)
    return Pending(found.subject, found.payload["address"]) if found else None


def confirm(store: Store, accounts: AccountService, token: str) -> Pending:
    """Record the address ``token`` was mailed to as its account's recovery address (the link
    works once)."""
    found = store.consume(KIND, token)
    if found is None:
        raise ValidationError("token", N_("this confirmation link is not valid or has expired"))
    change = Pending(found.subject, found.payload["address"])
    accounts.modify(change.uid, recovery_email=change.address)
    return change
