"""Forgotten passwords: a single-use link, valid for an hour, mailed to the recovery address.

Asking gives the same answer, in about the same time, whether or not the account exists: the
directory is searched either way, and the mail is handed to Postfix from a background thread so
the answer never waits for it. Setting the new password through the link clears a forced change
and a lockout (the owner has proved they read the recovery mailbox) and ends every browser
session of the account.
"""

from __future__ import annotations

import logging

from identity.accounts import ACCOUNT_ATTRIBUTES, Account, AccountStatus
from identity.directory import Directory
from identity.dit import Tree
from identity.errors import ValidationError
from identity.passwords import DEFAULT_POLICY
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.accounts import login_uid
from provisioning.audit import AuditLog, audit_path
from provisioning.mailer import Mailer, Outbox
from provisioning.passwords import write_password
from provisioning.registration import PORTAL
from provisioning.store import Store

RESET_TTL = 3600
KIND = "reset"
log = logging.getLogger(__name__)


class Recovery:
    def __init__(self, settings: Settings, store: Store, mailer: Mailer, outbox: Outbox) -> None:
        self.settings = settings
        self.store = store
        self.mailer = mailer
        self.outbox = outbox
        self.tree = Tree(settings.base_dn)
        self.uri = Layout(settings.state_dir).ldapi_uri
        self.audit = AuditLog(audit_path(settings.state_dir))

    def _account(self, identifier: str) -> Account | None:
        uid = login_uid(self.settings, identifier)
        if uid is None:
            return None
        with Directory(self.uri) as system:
            entry = system.get(self.tree.person(uid), ACCOUNT_ATTRIBUTES)
        return (
            Account.from_entry(entry, default_quota=self.settings.default_quota) if entry else None
        )

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
        self.outbox.put(
            lambda: self.mailer.send(
                to,
                "Reset your alumni jAccount password",
                f"Someone asked to reset the password of the jAccount '{uid}'.\n\n"
                f"To choose a new password, open this link within an hour:\n\n{link}\n\n"
                "If it was not you, ignore this message: your password stays as it is.\n",
            )
        )
        self.audit.record(PORTAL, "recovery-mail", uid, "ok")

    def valid(self, token: str) -> str | None:
        """The UID a reset link is for, if it is still good."""
        found = self.store.peek(KIND, token)
        return found.subject if found and found.subject != "-" else None

    def reset(self, token: str, password: str) -> str:
        uid = self.valid(token)
        if uid is None:
            raise ValidationError("token", "this reset link is not valid or has expired")
        DEFAULT_POLICY.check(password, uid=uid)
        if self.store.consume(KIND, token) is None:
            raise ValidationError("token", "this reset link is not valid or has expired")
        # Proven by the mailed link: no change forced, a lockout cleared, in one write.
        write_password(self.settings, uid, password, must_change=False, unlock=True)
        self.store.close_sessions_of(uid)
        self.audit.record(PORTAL, "password-recovery", uid, "ok", changes={"password": "changed"})
        return uid
