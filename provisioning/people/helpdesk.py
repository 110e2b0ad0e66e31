"""Helpdesk use cases: reset a password (the alumnus must change it before mail works again),
clear a lockout, and see an account's state. Helpdesk members may act only on alumni: staff
accounts live under ou=staff, which neither these functions nor the helpdesk's ACLs reach.

What the alumnus sees after a reset: the temporary password is refused by IMAP, POP3 and SMTP
(Dovecot's password filter excludes entries with ppolicy's pwdReset=TRUE) until they choose a
new password with it (`alumail passwd`, or the portal).

The reset itself is provisioning.people.passwords' (the one home of password changes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from identity.accounts import Account, AccountStatus
from identity.markers import N_
from identity.names import sort_key
from provisioning.people import roster
from provisioning.people.accounts import AccountService, check_search, login_names
from provisioning.people.passwords import Passwords
from provisioning.store import Store

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


@dataclass(frozen=True)
class Found:
    """A helpdesk search's answer: accounts, and graduates on the roster who have not
    registered (no account to act on: the helpdesk can only tell them to register)."""

    accounts: list[Account] = field(default_factory=list)
    unregistered: list[roster.Graduate] = field(default_factory=list)


class Helpdesk:
    """The helpdesk's use cases for the actor of ``accounts`` (whose lookups, roles and audit
    they share); ``store`` holds the roster."""

    def __init__(self, accounts: AccountService, passwords: Passwords, store: Store) -> None:
        self.accounts = accounts
        self.passwords = passwords
        self.store = store

    def search(self, query: str, limit: int) -> Found:
        """Alumni by a part of their name (Han or pinyin), UID, address or student number, and
        the roster's graduates not registered yet, by name or student number. A read: not
        audited."""
        accounts = self.accounts
        accounts.require(accounts.actor.can_support(), N_("search accounts"))
        query = check_search(query)
        found = accounts.find(search=query, limit=limit)
        waiting = roster.unregistered_matching(self.store, query, limit)
        # Listed by name as people look for one: Han names by their pinyin among the others.
        return Found(
            sorted(found, key=lambda a: sort_key(a.display_name)),
            sorted(waiting, key=lambda g: sort_key(g.name)),
        )

    def roster(
        self,
        *,
        search: str | None = None,
        unregistered: bool = False,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "student_number",
    ) -> list[roster.Graduate]:
        """The roster's graduates for staff (the console's search, listed and paged): by
        student number or by name; ``search`` finds a part of the name (Han, pinyin, the Latin
        spelling) or of the student number. A read: not audited."""
        self.accounts.require(self.accounts.actor.can_support(), N_("list the roster"))
        query = check_search(search) if search is not None else None
        return roster.listing(
            self.store,
            query=query,
            unregistered=unregistered,
            limit=limit,
            offset=offset,
            sort=sort,
        )

    def reset_password(self, uid: str, password: str | None = None) -> str:
        """See Passwords.reset_by_helpdesk: returns the temporary password."""
        return self.passwords.reset_by_helpdesk(self.accounts.actor, uid, password)

    def set_status(self, uid: str, status: AccountStatus) -> bool:
        """Suspend or resume (see AccountService.set_status, which holds the role rule)."""
        return self.accounts.set_status(uid, status)

    def unlock(self, uid: str) -> bool:
        """Clear a ppolicy lockout. False when the account was not locked."""
        accounts = self.accounts
        with accounts.audited("unlock", uid) as outcome:
            accounts.require(accounts.actor.can_support(), N_("unlock accounts"))
            accounts.require_alumnus_target(uid)
            account = accounts.get(uid)
            entry = (
                accounts.directory.get(accounts.tree.person(uid), ["pwdAccountLockedTime"]) or {}
            )
            if not entry.get("pwdAccountLockedTime"):
                outcome.unchanged = True
                return False
            # pwdFailureTime cannot be modified; the next successful bind clears it.
            accounts.directory.modify(
                accounts.tree.person(uid), [("delete", "pwdAccountLockedTime", None)]
            )
            accounts.mailboxes.flush_auth_cache(*login_names(account))
            outcome.changes = {"locked": [True, False]}
        return True

    def status(self, uid: str) -> AccountState:
        accounts = self.accounts
        accounts.require(accounts.actor.can_support(), N_("see account state"))
        accounts.require_alumnus_target(uid)
        account = accounts.get(uid)
        # Operational attributes, read as the host's root once the role is checked above.
        system = accounts.connections.system
        entry = system.get(accounts.tree.person(uid), STATE_ATTRIBUTES) or {}
        use = accounts.quota_use(account)
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
