"""Account use cases: create, show, list, modify, suspend, resume, delete, aliases, quota.

Each validates with identity's rules, checks the actor's role, plans the change, applies it
through the actor's own directory connection (so slapd's ACLs hold too), and audits it,
refusals included: its intent before acting (no change without it), its outcome after. Nothing
is left half-done: an account whose mailbox cannot be made is removed again; a mailbox is
archived before its account is deleted.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from identity.accounts import (
    ACCOUNT_ATTRIBUTES,
    PROFILE_RULES,
    Account,
    AccountStatus,
    check_address,
    check_display_name,
    check_recovery_address,
    check_uid,
)
from identity.directory import DirectoryConnection, escape
from identity.dit import Tree
from identity.errors import (
    AccessDeniedError,
    AlumailError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from identity.markers import N_
from identity.names import compose_display_name, name_matches, search_key, sort_key
from identity.passwords import DEFAULT_POLICY, hash_password
from identity.quota import parse_quota
from identity.roles import Actor, Role
from mailstack.mailbox.mailboxes import QuotaUse
from mailstack.settings import Settings
from provisioning.audit import AuditLog, Outcome
from provisioning.collaborators import Connections, MailboxAdmin
from provisioning.people.lookups import AccountLookups, require
from provisioning.people.passwords import Passwords

PAGE_SIZE = 100
# The orders a list of accounts comes in: each total (the UID is unique), so paging by offset
# is stable.
ACCOUNT_ORDERS: dict[str, Callable[[Account], Any]] = {
    "uid": lambda account: account.uid,
    "name": lambda account: (sort_key(account.display_name), account.uid),
}
SEARCH_MAX = 100


def account_matches(query: str, account: Account) -> bool:
    """A helpdesk search for ``query`` finds ``account``: by its name (identity.names), a part
    of its UID, addresses or student number."""
    key = search_key(query)
    if not key:
        return False
    names = [account.display_name]
    if account.given_name and account.family_name:
        names.append(compose_display_name(account.given_name, account.family_name))
    if any(name_matches(query, name) for name in names):
        return True
    keys = [account.uid, account.mail, *account.aliases, account.student_number or ""]
    return any(key in search_key(value) for value in keys)


def check_search(text: str, *, field: str = "search") -> str:
    """A search term (a part of a name, UID, address or student number): something to match,
    stripped, printable (spaces of any width allowed: names are typed with full-width ones) and
    short."""
    text = text.strip()
    if not text:
        raise ValidationError(field, "must not be empty or only spaces")
    if len(text) > SEARCH_MAX:
        raise ValidationError(field, f"must be at most {SEARCH_MAX} characters long")
    if not text.isprintable() and any(unicodedata.category(c).startswith("C") for c in text):
        raise ValidationError(field, "must not contain control characters")
    return text


@dataclass(frozen=True)
class AccountView:
    account: Account
    quota_use: QuotaUse | None

    def as_dict(self) -> dict[str, object]:
        data = self.account.as_dict()
        if self.quota_use is not None:
            data["quota_used"] = self.quota_use.used_bytes
            data["quota_percent"] = round(self.quota_use.percent or 0.0, 2)
            data["messages"] = self.quota_use.messages
        return data


def login_names(account: Account) -> list[str]:
    """Every name a client may log in with (Dovecot keys its cache by the typed name)."""
    return [account.uid, account.mail, *account.aliases]


def plan_account(
    settings: Settings,
    uid: str,
    display_name: str,
    *,
    quota: str | int | None = None,
    **profile: Any,
) -> Account:
    """The one place a new account is made from what a face was given (a command's options, an
    API body, a registration, an import row): each field checked by its rule, and the address
    and quota this service gives. Nothing is written."""
    check_uid(uid)
    values: dict[str, Any] = {"display_name": check_display_name(display_name)}
    for name, value in profile.items():
        rule = PROFILE_RULES.get(name)
        if rule is None:
            raise ValidationError(name, "is not an account field")
        values[name] = rule(value, field=name)
    if isinstance(recovery := values.get("recovery_email"), str):
        check_recovery_address(recovery, settings.domain)
    limit = parse_quota(quota) if quota is not None else settings.default_quota
    return Account(uid=uid, mail=f"{uid}@{settings.domain}", quota=limit, **values)


# What a role that may not change an account's status is refused, by the change.
REFUSED_STATUS_CHANGES = {
    "suspend": N_("suspend accounts"),
    "resume": N_("resume accounts"),
    "retire": N_("retire accounts"),
}


class AccountService:
    """The account use cases for one actor, on the directory connections, mailbox
    administration and audit log it is handed (provisioning.composition builds them)."""

    def __init__(
        self,
        settings: Settings,
        actor: Actor,
        *,
        connections: Connections,
        mailboxes: MailboxAdmin,
        audit: AuditLog,
        passwords: Passwords,
        end_sessions: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.actor = actor
        self.tree = Tree(settings.base_dn)
        self.connections = connections
        self.lookups = AccountLookups(self.tree, connections)
        self.mailboxes = mailboxes
        self.audit = audit
        self.passwords = passwords
        # Every browser session of a UID ends (the web service's store, opened on first use).
        self.end_sessions = end_sessions

    @property
    def directory(self) -> DirectoryConnection:
        """The actor's own connection: slapd's ACLs judge every read and write too."""
        return self.connections.as_actor(self.actor)

    # -- auditing and roles --------------------------------------------------------------------

    def audited(self, action: str, target: str) -> AbstractContextManager[Outcome]:
        """Intent line, the block, outcome line (see provisioning.audit): a change the trail
        cannot record is not made. Queries are never audited."""
        return self.audit.action(self.actor, action, target)

    def require(self, allowed: bool, what: str) -> None:
        require(self.actor, allowed, what)

    def require_alumnus_target(self, uid: str) -> None:
        """Staff accounts live apart; no alumnus use case may reach one."""
        self.lookups.require_alumnus(self.actor, uid)

    # -- queries -------------------------------------------------------------------------------

    def get(self, uid: str) -> Account:
        check_uid(uid)
        entry = self.directory.get(self.tree.person(uid), ACCOUNT_ATTRIBUTES)
        if entry is None:
            raise NotFoundError(N_("no account with uid '{uid}'").format(uid=uid))
        return Account.from_entry(entry, default_quota=self.settings.default_quota)

    def show(self, uid: str) -> AccountView:
        account = self.get(uid)
        return AccountView(account, self.quota_use(account))

    def quota_use(self, account: Account) -> QuotaUse | None:
        try:
            return self.mailboxes.quota(account.mail)
        except AlumailError:
            return None  # Dovecot stopped: the account is still shown

    def find(
        self,
        *,
        status: AccountStatus | None = None,
        graduation_year: int | None = None,
        search: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        sort: str = "uid",
    ) -> list[Account]:
        """Accounts by UID (``sort="name"``: by name, a Han name by its pinyin, as the helpdesk
        lists them; the UID breaks ties, so an offset pages the same order each time), filtered;
        ``search`` matches a part of the name (spaces, width and case aside, or of its pinyin:
        张伟 is found by ``zhang wei``), of the UID or an address, or of the student number."""
        order = ACCOUNT_ORDERS.get(sort)
        if order is None:
            raise ValidationError("sort", N_("must be uid or name"))
        terms = ["(objectClass=alumailAccount)"]
        if status is not None:
            terms.append(f"(alumailAccountStatus={escape(status.value)})")
        if graduation_year is not None:
            terms.append(f"(alumailGraduationYear={int(graduation_year)})")
        query = check_search(search) if search is not None else None
        rows = self.directory.search(
            self.tree.people, f"(&{''.join(terms)})", ACCOUNT_ATTRIBUTES, scope="one"
        )
        # The search is decided here, not by a substring filter in slapd: pinyin and spaces of
        # any width are not LDAP matching rules. Keys are computed as names are met (and kept,
        # identity.names.pinyin_keys); README "Names" has the measurement behind this choice.
        accounts = sorted(
            (
                account
                for account in (
                    Account.from_entry(e, default_quota=self.settings.default_quota)
                    for _, e in rows
                )
                if query is None or account_matches(query, account)
            ),
            key=order,
        )
        end = offset + limit if limit is not None else None
        return accounts[offset:end]

    def address_owner(self, address: str) -> str | None:
        return self.lookups.address_owner(address)

    def over_quota(self, percent: float) -> list[AccountView]:
        """Accounts using more than ``percent`` of their quota."""
        if not 0 <= percent <= 1000:
            raise ValidationError("percent", "must be between 0 and 1000")
        views = []
        for account in self.find():
            use = self.quota_use(account)
            if use and use.percent is not None and use.percent > percent:
                views.append(AccountView(account, use))
        return views

    # -- changes -------------------------------------------------------------------------------

    def create(
        self,
        uid: str,
        display_name: str,
        password: str | None,
        *,
        quota: str | int | None = None,
        password_hash: str | None = None,
        **profile: Any,
    ) -> Account:
        """A new jAccount with its mailbox and standard folders, or nothing at all.

        ``password_hash`` is for a password that was checked and hashed earlier (a registration
        waiting for its e-mail confirmation keeps the hash, never the password)."""
        with self.audited("create", uid) as outcome:
            self.require(self.actor.can_administer(), N_("create accounts"))
            account = self.plan_new(uid, display_name, quota=quota, **profile)
            if password is not None:
                DEFAULT_POLICY.check(password, uid=uid)
                password_hash = hash_password(password)
            self.check_new_is_free(account)
            dn = self.tree.person(uid)
            self.directory.add(dn, account.to_entry(password_hash))
            try:
                # A lookup before the account existed may sit in Dovecot's negative cache.
                self.mailboxes.flush_auth_cache(*login_names(account))
                self.mailboxes.create(account.mail)
            except BaseException:
                # No account without its mailbox: undo the entry, then report the cause.
                self.directory.delete(dn)
                raise
            outcome.changes = {k: v for k, v in account.as_dict().items() if v not in (None, [])}
            if password_hash is not None:
                outcome.changes["password"] = "set"  # noqa: S105 -- a marker, not a secret
        return account

    def plan_new(
        self, uid: str, display_name: str, *, quota: str | int | None = None, **profile: Any
    ) -> Account:
        return plan_account(self.settings, uid, display_name, quota=quota, **profile)

    def check_new_is_free(self, account: Account) -> None:
        if self.directory.get(self.tree.person(account.uid), ["uid"]) is not None:
            raise ConflictError(f"uid: an account '{account.uid}' already exists")
        if self.lookups.is_staff(account.uid):
            raise ConflictError(f"uid: '{account.uid}' is taken by a staff account")
        owner = self.address_owner(account.mail)
        if owner is not None:
            raise ConflictError(f"uid: the address {account.mail} already belongs to '{owner}'")
        if self.mailboxes.exists(account.mail):
            raise ConflictError(
                f"uid: a mailbox for {account.mail} is still on disk from an earlier account; "
                "archive or remove it before the address is given again"
            )

    def modify(self, uid: str, /, **fields: Any) -> dict[str, Any]:
        """Change profile fields (see PROFILE_RULES); returns {field: [old, new]}.

        The UID cannot be renamed: it is the login and the lifelong address, and other
        systems keep it; an extra address is added as an alias instead.
        """
        with self.audited("modify", uid) as outcome:
            if "uid" in fields or "mail" in fields:
                raise ValidationError("uid", "cannot be changed (add an alias instead)")
            own = self.actor.role is Role.ALUMNUS and self.actor.name == uid
            self.require(
                self.actor.can_administer() or own, N_("modify account '{uid}'").format(uid=uid)
            )
            current = self.get(uid)
            values: dict[str, Any] = {}
            for name, value in fields.items():
                rule = PROFILE_RULES.get(name)
                if rule is None:
                    raise ValidationError(name, "is not a field that can be modified")
                if own and name in ("student_number", "graduation_year"):
                    require(self.actor, False, N_("change {name}").format(name=name))
                if own and name == "recovery_email":
                    raise AccessDeniedError(
                        f"{self.actor} may not change recovery_email without confirming it: "
                        "the portal's account page mails a confirmation link to the new address"
                    )
                values[name] = rule(value, field=name)
            if values.get("display_name") is None and "display_name" in values:
                raise ValidationError("display_name", "must not be empty")
            if isinstance(recovery := values.get("recovery_email"), str):
                check_recovery_address(recovery, self.settings.domain)
            updated = replace(current, **values)
            outcome.changes = self._apply(current, updated)
            outcome.unchanged = not outcome.changes
        return outcome.changes

    def _apply(self, current: Account, updated: Account) -> dict[str, object]:
        before, after = current.attributes(), updated.attributes()
        mods = {a: after[a] for a in after if sorted(after[a]) != sorted(before[a])}
        if mods:
            self.directory.replace(self.tree.person(current.uid), mods)
        old, new = current.as_dict(), updated.as_dict()
        return {k: [old[k], new[k]] for k in new if old[k] != new[k]}

    def set_status(self, uid: str, status: AccountStatus) -> bool:
        """Suspend, resume or retire. Takes effect at the next login and the next delivery
        whatever Dovecot cached; suspending or retiring ends every browser session of the
        account. False when the account already had that status."""
        action = {AccountStatus.SUSPENDED: "suspend", AccountStatus.ACTIVE: "resume"}.get(
            status, "retire"
        )
        with self.audited(action, uid) as outcome:
            # Retiring is an admin's decision; the helpdesk suspends and resumes.
            allowed = (
                self.actor.can_administer()
                if status is AccountStatus.RETIRED
                else self.actor.can_support()
            )
            self.require(allowed, REFUSED_STATUS_CHANGES[action])
            self.require_alumnus_target(uid)
            account = self.get(uid)
            if account.status == status:
                outcome.unchanged = True
                return False
            self.directory.replace(self.tree.person(uid), {"alumailAccountStatus": [status.value]})
            self.mailboxes.flush_auth_cache(*login_names(account))
            outcome.changes = {"status": [account.status.value, status.value]}
        if status is not AccountStatus.ACTIVE:
            self.end_sessions(uid)
        return True

    def set_password(self, uid: str, password: str) -> None:
        self.passwords.set_by_admin(self.actor, uid, password)

    def set_quota(self, uid: str, quota: str | int) -> Account:
        with self.audited("quota", uid) as outcome:
            self.require(self.actor.can_administer(), N_("change quotas"))
            limit = parse_quota(quota)
            account = self.get(uid)
            if account.quota == limit:
                outcome.unchanged = True
                return account
            self.directory.replace(self.tree.person(uid), {"alumailMailQuota": [str(limit)]})
            # Dovecot caches user lookups too: the new limit applies from the next session.
            self.mailboxes.flush_auth_cache(*login_names(account))
            outcome.changes = {"quota": [account.quota, limit]}
        return self.get(uid)

    def add_alias(self, uid: str, address: str) -> bool:
        with self.audited("alias-add", uid) as outcome:
            self.require(self.actor.can_administer(), N_("add aliases"))
            alias = check_address(address, field="alias").lower()
            if not alias.endswith("@" + self.settings.domain):
                raise ValidationError("alias", f"must be an address in {self.settings.domain}")
            check_uid(alias.split("@")[0], field="alias")
            account = self.get(uid)
            owner = self.address_owner(alias)
            if owner == uid:
                outcome.unchanged = True
                return False
            if owner is not None:
                raise ConflictError(f"alias: {alias} already belongs to '{owner}'")
            if self.lookups.is_staff(alias.split("@")[0]):
                raise ConflictError(f"alias: {alias} is taken by a staff account")
            self.directory.modify(self.tree.person(uid), [("add", "alumailMailAlias", [alias])])
            # The address may sit in Dovecot's negative cache from a lookup before it existed.
            self.mailboxes.flush_auth_cache(*login_names(account), alias)
            outcome.changes = {"aliases": {"added": alias}}
        return True

    def remove_alias(self, uid: str, address: str) -> bool:
        with self.audited("alias-remove", uid) as outcome:
            self.require(self.actor.can_administer(), N_("remove aliases"))
            alias = check_address(address, field="alias").lower()
            account = self.get(uid)
            if alias not in account.aliases:
                outcome.unchanged = True
                return False
            self.directory.modify(self.tree.person(uid), [("delete", "alumailMailAlias", [alias])])
            self.mailboxes.flush_auth_cache(*login_names(account), alias)
            outcome.changes = {"aliases": {"removed": alias}}
        return True

    def delete(self, uid: str, *, purge_mail: bool = False) -> Path | None:
        """Remove the account. Its mailbox is first archived to state/archive/ as a tar.gz
        (returned), unless ``purge_mail`` says to discard it: mail is never lost silently."""
        with self.audited("delete", uid) as outcome:
            self.require(self.actor.can_administer(), N_("delete accounts"))
            account = self.get(uid)
            archive = None
            if self.mailboxes.exists(account.mail) and not purge_mail:
                archive = self.mailboxes.archive(account.mail, account.uid)
                outcome.changes["archive"] = str(archive)
            self.directory.delete(self.tree.person(uid))
            self.mailboxes.flush_auth_cache(*login_names(account))
            self.mailboxes.remove(account.mail)
            outcome.changes["mailbox"] = "archived" if archive else "purged"
        self.end_sessions(uid)
        return archive
