"""Forgotten passwords: a single-use link, valid for an hour, mailed to the recovery address.

Asking gives the same answer, in about the same time, whether or not the account exists: the
directory is searched either way, and the mail is handed to Postfix from a background thread so
the answer never waits for it. Setting the new password through the link clears a forced change
and a lockout (the owner has proved they read the recovery mailbox) and ends every browser
session of the account.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager

from identity.accounts import Account, AccountStatus
from identity.errors import NotFoundError
from identity.roles import PORTAL
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.i18n import _, speaking
from provisioning.mailer import Mailer, Outbox
from provisioning.people.accounts import AccountService
from provisioning.people.passwords import RESET_TOKEN_KIND as KIND
from provisioning.people.passwords import reset_link_holder
from provisioning.store import Store

RESET_TTL = 3600
log = logging.getLogger(__name__)


class Recovery:
    """``portal_accounts`` opens the portal's account use cases for one request (their
    connections closed after it)."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        mailer: Mailer,
        outbox: Outbox,
        audit: AuditLog,
        portal_accounts: Callable[[], AbstractContextManager[AccountService]],
    ) -> None:
        self.settings = settings
        self.store = store
        self.mailer = mailer
        self.outbox = outbox
        self.audit = audit
        self.portal_accounts = portal_accounts

    def _account(self, identifier: str) -> Account | None:
        with self.portal_accounts() as accounts:
            uid = accounts.lookups.login_uid(identifier)
            if uid is None:
                return None
            try:
                return accounts.get(uid)
            except NotFoundError:
                return None

    def request(self, identifier: str) -> None:
        """Mail a reset link if ``identifier`` (UID or address) names an active account with a
        recovery address. Says nothing either way."""
        account = self._account(identifier)
        token = self.store.issue(KIND, account.uid if account else "-", {}, RESET_TTL)
        if account is None or account.status is not AccountStatus.ACTIVE:
            return
        if not account.recovery_email:
            return
        link = f"{self.settings.public_url}/reset?token={token}"
        to, uid = account.recovery_email, account.uid
        with speaking(account.preferred_language) as language:  # the holder's, else the page's
            subject = _("Reset your alumni jAccount password")
            body = _(
                "Someone asked to reset the password of the jAccount '{uid}'.\n\n"
                "To choose a new password, open this link within an hour:\n\n{link}\n\n"
                "If it was not you, ignore this message: your password stays as it is.\n"
            ).format(uid=uid, link=link)
        # Composed in the background too: whatever goes wrong, the page says the same thing.
        self.outbox.put(lambda: self._send(language, to, subject, body))
        self.audit.record(PORTAL, "recovery-mail", uid, "ok")

    def _send(self, language: str, to: str, subject: str, body: str) -> None:
        with speaking(language):  # the sender's name and Content-Language too
            self.mailer.send(to, subject, body)

    def holder(self, token: str) -> str:
        """The UID a reset link is for; ValidationError if it is not (any longer) good."""
        return reset_link_holder(self.store, token)

    def reset(self, token: str, password: str) -> str:
        """See Passwords.recover_by_token."""
        with self.portal_accounts() as accounts:
            return accounts.passwords.recover_by_token(self.store, token, password)
