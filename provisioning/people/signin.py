"""Signing in, whatever the face: who a login names, whether a password proves it, the same
refusal for a name that does not exist, and whether the account may sign in now.

No web framework here. The command line's actors (``--actor``), the web service's sessions
(provisioning/web/sessions.py keeps the cookie), the API's tokens and the coming OpenID Connect
provider all sign in through these functions.

A password is proven by an LDAP bind as the person (so ppolicy counts failures and locks); the
password is then kept only by an actor of this process (the CLI), never by a session, which
acts through proxied authorization. An unknown name costs the same argon2id work as a known
one, and both get the same answer.

Sign-in runs before any use case and, in the web service, on any request's thread: each check
opens short directory connections of its own (``open_connections``, from the composition root,
which also hands in the audit log).
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from identity.accounts import check_uid
from identity.directory import Credentials
from identity.dit import Tree
from identity.errors import AccessDeniedError, NotFoundError
from identity.markers import N_
from identity.passwords import hash_password, verify_password
from identity.roles import Actor, Role, identify
from provisioning.audit import AuditLog
from provisioning.collaborators import Connections
from provisioning.people import api_tokens, standing
from provisioning.people.api_tokens import Binding
from provisioning.people.lookups import AccountLookups
from provisioning.people.standing import AccountState
from provisioning.store import Standing, Store

REFUSED = N_("the jAccount name or password is not right (or the account is locked)")
SUSPENDED = N_("this jAccount is suspended: please contact the helpdesk")


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def decoy_check(password: str) -> None:
    """The argon2id work of a real password check, for a name that does not exist: unknown and
    known names then take about as long to refuse."""
    verify_password(password or "-", _decoy_hash())


@dataclass(frozen=True)
class SignedIn:
    uid: str
    role: Role
    must_change: bool
    standing: Standing


class SignIn:
    def __init__(
        self,
        tree: Tree,
        audit: AuditLog,
        open_connections: Callable[[], AbstractContextManager[Connections]],
    ) -> None:
        self.tree = tree
        self.audit = audit
        self.open_connections = open_connections

    # -- who a login names, and what the directory says of them now ----------------------------

    def login_uid(self, login: str) -> str | None:
        """The UID a login (a UID or an address) names (AccountLookups.login_uid)."""
        with self.open_connections() as connections:
            return AccountLookups(self.tree, connections).login_uid(login)

    def identity_of(self, uid: str) -> tuple[str, Role]:
        """The entry ``uid`` signs in as and its role now (identity.roles.identify)."""
        with self.open_connections() as connections:
            return identify(connections.system, self.tree, uid)

    def proves(self, dn: str, password: str) -> bool:
        """True if ``password`` binds as ``dn`` (slapd's ppolicy counts a failure and locks)."""
        with self.open_connections() as connections:
            return connections.proves(dn, password)

    def account_state(self, uid: str) -> AccountState | None:
        """See provisioning.people.standing.account_state (a session's standing, read now)."""
        with self.open_connections() as connections:
            return standing.account_state(connections.system, self.tree, uid)

    def staff_binding(self, uid: str) -> Binding | None:
        """See provisioning.people.standing.staff_binding."""
        with self.open_connections() as connections:
            return standing.staff_binding(connections.system, self.tree, uid)

    def token_binding(self, uid: str) -> Binding:
        """See provisioning.people.standing.token_binding (what a new API token is bound to)."""
        with self.open_connections() as connections:
            return standing.token_binding(connections.system, self.tree, uid)

    # -- the faces' ways in -------------------------------------------------------------------

    def resolve_actor(self, uid: str, password: str) -> Actor:
        """The actor ``uid`` is, proven by binding with ``password``: a staff member (role
        from group membership) or an alumnus. The command line's ``--actor``."""
        check_uid(uid, field="actor")
        refused = AccessDeniedError(f"actor: cannot sign in as '{uid}' with that password")
        try:
            dn, role = self.identity_of(uid)
        except NotFoundError as exc:
            decoy_check(password)
            raise refused from exc
        if not self.proves(dn, password):
            raise refused
        return Actor(uid, role, Credentials(dn, password))

    def actor_for(self, uid: str) -> Actor:
        """The actor for ``uid`` whose password was proven earlier (a web session, an API
        token): the role is read again now, and slapd judges every operation as that person
        through proxied authorization. NotFoundError once the account is gone."""
        check_uid(uid, field="actor")
        dn, role = self.identity_of(uid)
        return Actor(uid, role, Credentials.proxied(dn))

    def token_actor(self, store: Store, issued: Binding) -> Actor | None:
        """The staff member a valid API token (issued as ``issued``) acts as now; None when the
        token no longer holds: its member was removed (perhaps re-added: another entry),
        demoted, promoted or suspended since, and then it and every other token bound as they
        were stop for good. AccessDeniedError for a role that may not use the API."""
        now = self.staff_binding(issued.uid)
        if now != issued:
            api_tokens.revoke_stale(store, issued.uid, now)
            return None
        try:
            actor = self.actor_for(issued.uid)
        except NotFoundError:
            return None
        if not actor.can_support():
            raise AccessDeniedError(f"{actor} may not use the API")
        return actor

    def authenticate(self, login: str, password: str) -> SignedIn:
        """Who ``login`` (a UID or an address) is, proven by ``password``, and allowed to sign
        in now; AccessDeniedError(REFUSED or SUSPENDED) otherwise. Audited, but for unknown
        names."""
        audit = self.audit
        uid = self.login_uid(login)
        try:
            dn, role = self.identity_of(uid) if uid else ("", Role.ALUMNUS)
        except NotFoundError:
            uid = None
        if not uid:
            decoy_check(password)
            raise AccessDeniedError(REFUSED)
        if not self.proves(dn, password):
            audit.record(Actor(uid, role), "sign-in", uid, "denied", detail="web")
            raise AccessDeniedError(REFUSED)
        state = self.account_state(uid)
        if state is None or not state.active:
            audit.record(Actor(uid, role), "sign-in", uid, "denied", detail="suspended")
            raise AccessDeniedError(SUSPENDED)
        audit.record(Actor(uid, role), "sign-in", uid, "ok", detail="web")
        return SignedIn(uid, role, state.must_change, state.standing)
