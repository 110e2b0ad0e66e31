"""Helpdesk use cases: reset a password (the alumnus must change it before mail works again),
clear a lockout, and see an account's state. Helpdesk members may act only on alumni: staff
accounts live under ou=staff, which neither these functions nor the helpdesk's ACLs reach.

What the alumnus sees after a reset: the temporary password is refused by IMAP, POP3 and SMTP
(Dovecot's password filter excludes entries with ppolicy's pwdReset=TRUE) until they choose a
new password with it (`alumail passwd`, or the portal).

The reset is the helpdesk's only way to a password: slapd gives the helpdesk no write on
userPassword or pwdReset (identity/access.py), so a working password can be neither set nor
kept without this use case, which always forces the change and writes the audit line.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.directory import Directory
from identity.passwords import generate_password
from provisioning.accounts import AccountService, login_names
from provisioning.passwords import write_password

STATE_ATTRIBUTES = [
    "pwdAccountLockedTime",
    "pwdReset",
    "pwdFailureTime",
    "pwdLastSuccess",
    "pwdChangedTime",
]


@dataclass(frozen=True)
class AccountState:
    uid: str
    status: str
    locked: bool
    must_change_password: bool
    recent_failures: int
    last_login: str | None
    password_changed: str | None
    quota_used: int | None
    quota_limit: int

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class Helpdesk(AccountService):
    def reset_password(self, uid: str, password: str | None = None) -> str:
        """Set a temporary password (generated unless given) and force a change at next login.
        Returns the temporary password, shown once to the helpdesk member."""
        with self.audited("reset-password", uid) as outcome:
            self.require(self.actor.can_support(), "reset passwords")
            self.require_alumnus_target(uid)
            self.get(uid)  # the actor may see the account (slapd's ACLs judge the read)
            temporary = password if password is not None else generate_password()
            write_password(self.settings, uid, temporary, must_change=True, ctx=self.ctx)
            outcome.changes = {"password": "reset", "must_change_password": True}
        return temporary

    def unlock(self, uid: str) -> bool:
        """Clear a ppolicy lockout. False when the account was not locked."""
        with self.audited("unlock", uid) as outcome:
            self.require(self.actor.can_support(), "unlock accounts")
            self.require_alumnus_target(uid)
            account = self.get(uid)
            entry = self.directory.get(self.tree.person(uid), ["pwdAccountLockedTime"]) or {}
            if not entry.get("pwdAccountLockedTime"):
                outcome.unchanged = True
                return False
            # pwdFailureTime cannot be modified; the next successful bind clears it.
            self.directory.modify(self.tree.person(uid), [("delete", "pwdAccountLockedTime", None)])
            self.mailboxes.flush_auth_cache(*login_names(account))
            outcome.changes = {"locked": [True, False]}
        return True

    def status(self, uid: str) -> AccountState:
        self.require(self.actor.can_support(), "see account state")
        self.require_alumnus_target(uid)
        account = self.get(uid)
        # Operational attributes, read as the host's root once the role is checked above.
        with Directory(self.layout.ldapi_uri) as system:
            entry = system.get(self.tree.person(uid), STATE_ATTRIBUTES) or {}
        use = self.quota_use(account)
        state = AccountState(
            uid=uid,
            status=account.status.value,
            locked=bool(entry.get("pwdAccountLockedTime")),
            must_change_password=(entry.get("pwdReset") or ["FALSE"])[0].upper() == "TRUE",
            recent_failures=len(entry.get("pwdFailureTime", [])),
            last_login=_when(entry.get("pwdLastSuccess")),
            password_changed=_when(entry.get("pwdChangedTime")),
            quota_used=use.used_bytes if use else None,
            quota_limit=account.quota,
        )
        return state  # a read: not audited, so it works on a full disk too


def _when(values: list[str] | None) -> str | None:
    """LDAP GeneralizedTime ``20261128150428Z`` -> ``2026-11-28T15:04:28Z``."""
    if not values:
        return None
    v = values[0]
    return f"{v[0:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}Z"
