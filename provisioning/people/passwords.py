"""The one home of password changes: set by an admin, reset by the helpdesk (a change forced at
next login), changed by their owner, recovered through a mailed link. Each path checks its
rules, writes through the one writer below, makes Dovecot forget what it cached and writes its
audit line here, and nowhere else.

slapd lets no person and no staff member replace a password (identity/access.py): a value
written straight to the directory could be a pre-hashed weak password, or cleartext that every
backup would then hold. So the policy is checked here, the password hashed with argon2id and
written with the service's own connection (the system connection: root over ldapi, one of
identity.access.web_service_rules for slapd).
"""

from __future__ import annotations

from collections.abc import Callable

from identity.accounts import ACCOUNT_ATTRIBUTES, Account, check_uid
from identity.directory import Credentials
from identity.dit import Tree
from identity.errors import AccessDeniedError, NotFoundError, ValidationError
from identity.markers import N_
from identity.passwords import DEFAULT_POLICY, generate_password, hash_password
from identity.roles import PORTAL, Actor, Role
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.collaborators import Connections, MailboxAdmin
from provisioning.people.lookups import AccountLookups, require
from provisioning.store import Store

# The store's kind of one-time token a recovery mail carries (people/recovery.py issues it).
RESET_TOKEN_KIND = "reset"  # noqa: S105 -- a kind of token, not a secret
RESET_LINK_NOT_VALID = N_("this reset link is not valid or has expired")


class Passwords:
    def __init__(
        self,
        settings: Settings,
        connections: Connections,
        mailboxes: MailboxAdmin,
        audit: AuditLog,
        end_sessions: Callable[[str], None],
    ) -> None:
        self.settings = settings
        self.tree = Tree(settings.base_dn)
        self.connections = connections
        self.lookups = AccountLookups(self.tree, connections)
        self.mailboxes = mailboxes
        self.audit = audit
        # Every browser session of a UID ends (the web service's store, opened on first use).
        self.end_sessions = end_sessions

    # -- the four ways a password changes ------------------------------------------------------

    def set_by_admin(self, actor: Actor, uid: str, password: str) -> None:
        with self.audit.action(actor, "set-password", uid) as outcome:
            require(actor, actor.can_administer(), N_("set passwords (use helpdesk reset)"))
            self._visible_to(actor, uid)
            self._write(uid, password, must_change=False)
            outcome.changes = {"password": "changed"}

    def reset_by_helpdesk(self, actor: Actor, uid: str, password: str | None = None) -> str:
        """Set a temporary password (generated unless given) and force a change at next login.
        Returns the temporary password, shown once to the helpdesk member. Every browser
        session of the alumnus ends.

        The reset is the helpdesk's only way to a password: slapd gives the helpdesk no write
        on userPassword or pwdReset, so a working password can be neither set nor kept without
        this path, which always forces the change."""
        with self.audit.action(actor, "reset-password", uid) as outcome:
            require(actor, actor.can_support(), N_("reset passwords"))
            self.lookups.require_alumnus(actor, uid)
            self._visible_to(actor, uid)
            temporary = password if password is not None else generate_password()
            self._write(uid, temporary, must_change=True)
            outcome.changes = {"password": "reset", "must_change_password": True}
        self.end_sessions(uid)
        return temporary

    def change_own(self, uid: str, current: str, new: str) -> None:
        """A person (alumnus or staff member) replaces their own password, proving the current
        (or temporary) one by a bind as themselves (ppolicy counts a failure). This is also how
        a forced change after a helpdesk reset is completed. Every browser session of theirs
        ends (they also see the new pwdChangedTime, but only to the second)."""
        check_uid(uid)
        DEFAULT_POLICY.check(new, uid=uid)
        if self.lookups.is_staff(uid):
            dn, role = self.tree.staff_member(uid), self.lookups.staff_role(uid)
        else:
            dn, role = self.tree.person(uid), Role.ALUMNUS
        actor = Actor(uid, role, Credentials(dn, current))
        with self.audit.action(actor, "passwd", uid) as outcome:
            if not self.connections.proves(dn, current):
                raise AccessDeniedError(f"passwd: the current password of '{uid}' was refused")
            if role is Role.ALUMNUS:
                self._write(uid, new, must_change=False)
            else:
                # Staff have no mailbox: no Dovecot cache to flush.
                self.connections.system.replace(
                    dn, {"userPassword": [hash_password(new)], "pwdReset": None}
                )
            outcome.changes = {"password": "changed"}
        self.end_sessions(uid)

    def recover_by_token(self, store: Store, token: str, password: str) -> str:
        """Set a new password through a mailed reset link (single use, kept in the service
        ``store``). Proven by the link: no change forced, a lockout cleared, in one write;
        every browser session of the account ends. Returns the UID."""
        uid = reset_link_holder(store, token)
        DEFAULT_POLICY.check(password, uid=uid)
        if store.consume(RESET_TOKEN_KIND, token) is None:  # used up meanwhile
            raise ValidationError("token", RESET_LINK_NOT_VALID)
        self._write(uid, password, must_change=False, unlock=True)
        self.end_sessions(uid)
        self.audit.record(PORTAL, "password-recovery", uid, "ok", changes={"password": "changed"})
        return uid

    # -- the one writer ------------------------------------------------------------------------

    def _visible_to(self, actor: Actor, uid: str) -> None:
        """The actor may see the account (slapd's ACLs judge the read)."""
        check_uid(uid)
        if self.connections.as_actor(actor).get(self.tree.person(uid), ["uid"]) is None:
            raise NotFoundError(N_("no account with uid '{uid}'").format(uid=uid))

    def _write(self, uid: str, password: str, *, must_change: bool, unlock: bool = False) -> None:
        """Check ``password`` against the policy, store its argon2id hash on alumnus ``uid`` and
        say in the same write whether it must be changed at next login (ppolicy's pwdReset,
        which keeps mail logins out meanwhile). ``unlock`` also clears a lockout. Dovecot
        forgets what it cached for the account."""
        DEFAULT_POLICY.check(password, uid=uid)
        dn = self.tree.person(uid)
        changes: dict[str, list[str] | None] = {
            "userPassword": [hash_password(password)],
            # Said outright: ppolicy itself would mark a password root writes as to be changed.
            "pwdReset": ["TRUE"] if must_change else None,
        }
        writer = self.connections.system
        entry = writer.get(dn, [*ACCOUNT_ATTRIBUTES, "pwdAccountLockedTime"])
        if entry is None:
            raise NotFoundError(N_("no account with uid '{uid}'").format(uid=uid))
        if unlock and entry.get("pwdAccountLockedTime"):
            changes["pwdAccountLockedTime"] = None
        writer.replace(dn, changes)
        account = Account.from_entry(entry, default_quota=self.settings.default_quota)
        self.mailboxes.flush_auth_cache(account.uid, account.mail, *account.aliases)


def reset_link_holder(store: Store, token: str) -> str:
    """The UID a reset link is for; ValidationError if it is not (any longer) good. A link
    asked for an unknown login names "-" and is never good."""
    found = store.peek(RESET_TOKEN_KIND, token)
    if found is None or found.subject == "-":
        raise ValidationError("token", RESET_LINK_NOT_VALID)
    return found.subject
