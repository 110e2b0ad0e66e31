"""Account use cases: create, show, list, suspend, resume. Each validates with identity's rules,
plans, applies, and leaves nothing half-done."""

from __future__ import annotations

from dataclasses import dataclass

from identity.accounts import (
    ACCOUNT_ATTRIBUTES,
    Account,
    AccountStatus,
    check_display_name,
    check_uid,
)
from identity.directory import Directory, escape
from identity.dit import Tree
from identity.errors import AlumailError, ConflictError, NotFoundError
from identity.passwords import DEFAULT_POLICY, hash_password
from identity.quota import parse_quota
from mailstack.context import RenderContext, build_context
from mailstack.layout import Layout
from mailstack.mailboxes import Mailboxes, QuotaUse
from mailstack.settings import Settings


@dataclass(frozen=True)
class AccountView:
    account: Account
    quota_use: QuotaUse | None

    def as_dict(self) -> dict[str, object]:
        data = self.account.as_dict()
        if self.quota_use is not None:
            data["quota_used"] = self.quota_use.used_bytes
            data["messages"] = self.quota_use.messages
        return data


def login_names(account: Account) -> list[str]:
    """Every name a client may log in with."""
    return [account.uid, account.mail, *account.aliases]


class AccountService:
    """The account use cases over one directory connection (root over ldapi)."""

    def __init__(self, settings: Settings, ctx: RenderContext | None = None) -> None:
        self.settings = settings
        self.ctx = ctx or build_context(settings, create_secrets=False)
        self.tree = Tree(settings.base_dn)
        self.mailboxes = Mailboxes(self.ctx)
        self._directory: Directory | None = None

    @property
    def directory(self) -> Directory:
        if self._directory is None:
            self._directory = Directory(Layout(self.settings.state_dir).ldapi_uri)
        return self._directory

    def close(self) -> None:
        if self._directory is not None:
            self._directory.close()
            self._directory = None

    def __enter__(self) -> AccountService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queries -------------------------------------------------------------------------------

    def get(self, uid: str) -> Account:
        check_uid(uid)
        entry = self.directory.get(self.tree.person(uid), ACCOUNT_ATTRIBUTES)
        if entry is None:
            raise NotFoundError(f"no account with uid '{uid}'")
        return Account.from_entry(entry, default_quota=self.settings.default_quota)

    def show(self, uid: str) -> AccountView:
        account = self.get(uid)
        try:
            use: QuotaUse | None = self.mailboxes.quota(account.mail)
        except AlumailError:
            use = None  # Dovecot stopped: the account is still shown
        return AccountView(account, use)

    def list(self) -> list[Account]:
        rows = self.directory.search(
            self.tree.people, "(objectClass=alumailAccount)", ACCOUNT_ATTRIBUTES, scope="one"
        )
        accounts = [
            Account.from_entry(entry, default_quota=self.settings.default_quota)
            for _, entry in rows
        ]
        return sorted(accounts, key=lambda a: a.uid)

    def address_owner(self, address: str) -> str | None:
        value = escape(address)
        rows = self.directory.search(
            self.tree.people,
            f"(|(mail={value})(alumailMailAlias={value}))",
            ["uid"],
            scope="one",
        )
        return rows[0][1]["uid"][0] if rows else None

    # -- changes -------------------------------------------------------------------------------

    def create(
        self,
        uid: str,
        display_name: str,
        password: str | None,
        *,
        quota: str | int | None = None,
    ) -> Account:
        """A new jAccount with its mailbox and standard folders, or nothing at all."""
        check_uid(uid)
        name = check_display_name(display_name)
        if password is not None:
            DEFAULT_POLICY.check(password, uid=uid)
        limit = parse_quota(quota) if quota is not None else self.settings.default_quota
        account = Account(
            uid=uid, display_name=name, mail=f"{uid}@{self.settings.domain}", quota=limit
        )
        dn = self.tree.person(uid)
        if self.directory.get(dn, ["uid"]) is not None:
            raise ConflictError(f"uid: an account '{uid}' already exists")
        owner = self.address_owner(account.mail)
        if owner is not None:
            raise ConflictError(f"uid: the address {account.mail} already belongs to '{owner}'")
        if self.mailboxes.exists_on_disk(account.mail):
            raise ConflictError(
                f"uid: a mailbox for {account.mail} is still on disk from an earlier account; "
                "archive or remove it before the address is given again"
            )
        self.directory.add(dn, account.to_entry(hash_password(password) if password else None))
        try:
            self.mailboxes.create(account.mail)
        except BaseException:
            # No account without its mailbox: undo the entry, then report the cause.
            self.directory.delete(dn)
            raise
        return account

    def set_status(self, uid: str, status: AccountStatus) -> bool:
        """Suspend or resume. Takes effect at the next login whatever Dovecot cached. Returns
        False when the account already had that status (nothing changed)."""
        account = self.get(uid)
        if account.status == status:
            return False
        self.directory.replace(self.tree.person(uid), {"alumailAccountStatus": [status.value]})
        self.mailboxes.flush_auth_cache(*login_names(account))
        return True

    def set_password(self, uid: str, password: str) -> None:
        DEFAULT_POLICY.check(password, uid=uid)
        account = self.get(uid)
        self.directory.replace(self.tree.person(uid), {"userPassword": [hash_password(password)]})
        self.mailboxes.flush_auth_cache(*login_names(account))

    def set_quota(self, uid: str, quota: str | int) -> Account:
        limit = parse_quota(quota)
        account = self.get(uid)
        self.directory.replace(self.tree.person(uid), {"alumailMailQuota": [str(limit)]})
        # Dovecot caches user lookups too: the new limit applies from the next session.
        self.mailboxes.flush_auth_cache(*login_names(account))
        return self.get(uid)
