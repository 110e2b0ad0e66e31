"""The one way an alumnus's password is written.

slapd lets no person and no staff member replace an alumnus's password (identity/access.py):
a value written straight to the directory could be a pre-hashed weak password, or cleartext that
every backup would then hold. The use cases that may change one (a helpdesk reset, the
alumnus's own change proven by a bind, recovery by mail) check the policy here, hash with
argon2id and write with the service's own connection, then write their audit line.
"""

from __future__ import annotations

from identity.accounts import ACCOUNT_ATTRIBUTES, Account
from identity.directory import Directory
from identity.dit import Tree
from identity.errors import NotFoundError
from identity.passwords import DEFAULT_POLICY, hash_password
from mailstack.context import RenderContext, build_context
from mailstack.layout import Layout
from mailstack.mailbox.mailboxes import Mailboxes
from mailstack.settings import Settings


def password_writer(settings: Settings) -> Directory:
    """The connection alumail writes passwords with: the host's root over ldapi, one of
    identity.access.web_service_rules for slapd."""
    return Directory(Layout(settings.state_dir).ldapi_uri)


def write_password(
    settings: Settings,
    uid: str,
    password: str,
    *,
    must_change: bool,
    unlock: bool = False,
    ctx: RenderContext | None = None,
) -> Account:
    """Check ``password`` against the policy, store its argon2id hash on alumnus ``uid`` and
    say in the same write whether it must be changed at next login (ppolicy's pwdReset, which
    keeps mail logins out meanwhile). ``unlock`` also clears a lockout. Dovecot forgets what it
    cached for the account. Returns the account."""
    DEFAULT_POLICY.check(password, uid=uid)
    tree = Tree(settings.base_dn)
    dn = tree.person(uid)
    changes: dict[str, list[str] | None] = {
        "userPassword": [hash_password(password)],
        # Said outright: ppolicy itself would mark a password root writes as to be changed.
        "pwdReset": ["TRUE"] if must_change else None,
    }
    with password_writer(settings) as writer:
        entry = writer.get(dn, ACCOUNT_ATTRIBUTES)
        if entry is None:
            raise NotFoundError(f"no account with uid '{uid}'")
        if unlock and (writer.get(dn, ["pwdAccountLockedTime"]) or {}).get("pwdAccountLockedTime"):
            changes["pwdAccountLockedTime"] = None
        writer.replace(dn, changes)
    account = Account.from_entry(entry, default_quota=settings.default_quota)
    mailboxes = Mailboxes(ctx or build_context(settings, create_secrets=False))
    mailboxes.flush_auth_cache(account.uid, account.mail, *account.aliases)
    return account
