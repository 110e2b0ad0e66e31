"""Signing in, whatever the face: who a login names, whether a password proves it, the same
refusal for a name that does not exist, and whether the account may sign in now.

No web framework here. The command line's actors (``--actor``), the web service's sessions
(provisioning/web/sessions.py keeps the cookie), the API's tokens and the coming OpenID Connect
provider all sign in through these functions.

A password is proven by an LDAP bind as the person (so ppolicy counts failures and locks); the
password is then kept only by an actor of this process (the CLI), never by a session, which
acts through proxied authorization. An unknown name costs the same argon2id work as a known
one, and both get the same answer.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from identity.accounts import check_uid
from identity.directory import Credentials
from identity.dit import Tree
from identity.errors import AccessDeniedError, NotFoundError
from identity.passwords import hash_password, verify_password
from identity.roles import Actor, Role, identify
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning import api_tokens
from provisioning.api_tokens import Binding
from provisioning.audit import AuditLog, audit_path
from provisioning.connections import DirectoryConnections
from provisioning.lookups import AccountLookups
from provisioning.standing import account_state, staff_binding
from provisioning.store import Standing, Store

REFUSED = "the jAccount name or password is not right (or the account is locked)"
SUSPENDED = "this jAccount is suspended: please contact the helpdesk"


@contextmanager
def _system_lookups(settings: Settings) -> Iterator[AccountLookups]:
    """Lookups on a short connection of their own: sign-in runs before any use case, so before
    a composition root hands out connections."""
    connections = DirectoryConnections(Layout(settings.state_dir).ldapi_uri)
    try:
        yield AccountLookups(Tree(settings.base_dn), connections)
    finally:
        connections.close()


def login_uid(settings: Settings, login: str) -> str | None:
    """The UID a login (a UID or an address) names (AccountLookups.login_uid)."""
    with _system_lookups(settings) as lookups:
        return lookups.login_uid(login)


def identity_of(settings: Settings, uid: str) -> tuple[str, Role]:
    """The entry ``uid`` signs in as and its role now (identity.roles.identify)."""
    with _system_lookups(settings) as lookups:
        return identify(lookups.connections.system, lookups.tree, uid)


def proves(settings: Settings, dn: str, password: str) -> bool:
    """True if ``password`` binds as ``dn`` (slapd's ppolicy counts a failure and locks)."""
    return DirectoryConnections(Layout(settings.state_dir).ldapi_uri).proves(dn, password)


@functools.cache
def _decoy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def decoy_check(password: str) -> None:
    """The argon2id work of a real password check, for a name that does not exist: unknown and
    known names then take about as long to refuse."""
    verify_password(password or "-", _decoy_hash())


def resolve_actor(settings: Settings, uid: str, password: str) -> Actor:
    """The actor ``uid`` is, proven by binding with ``password``: a staff member (role from
    group membership) or an alumnus. The command line's ``--actor``."""
    check_uid(uid, field="actor")
    refused = AccessDeniedError(f"actor: cannot sign in as '{uid}' with that password")
    try:
        dn, role = identity_of(settings, uid)
    except NotFoundError as exc:
        decoy_check(password)
        raise refused from exc
    if not proves(settings, dn, password):
        raise refused
    return Actor(uid, role, Credentials(dn, password))


def actor_for(settings: Settings, uid: str) -> Actor:
    """The actor for ``uid`` whose password was proven earlier (a web session, an API token):
    the role is read again now, and slapd judges every operation as that person through
    proxied authorization. NotFoundError once the account is gone."""
    check_uid(uid, field="actor")
    dn, role = identity_of(settings, uid)
    return Actor(uid, role, Credentials.proxied(dn))


def token_actor(settings: Settings, store: Store, issued: Binding) -> Actor | None:
    """The staff member a valid API token (issued as ``issued``) acts as now; None when the
    token no longer holds: its member was removed (perhaps re-added: another entry), demoted,
    promoted or suspended since, and then it and every other token bound as they were stop for
    good. AccessDeniedError for a role that may not use the API."""
    now = staff_binding(settings, issued.uid)
    if now != issued:
        api_tokens.revoke_stale(store, issued.uid, now)
        return None
    try:
        actor = actor_for(settings, issued.uid)
    except NotFoundError:
        return None
    if not actor.can_support():
        raise AccessDeniedError(f"{actor} may not use the API")
    return actor


@dataclass(frozen=True)
class SignedIn:
    uid: str
    role: Role
    must_change: bool
    standing: Standing


def authenticate(settings: Settings, login: str, password: str) -> SignedIn:
    """Who ``login`` (a UID or an address) is, proven by ``password``, and allowed to sign in
    now; AccessDeniedError(REFUSED or SUSPENDED) otherwise. Audited, but for unknown names."""
    audit = AuditLog(audit_path(settings.state_dir))
    uid = login_uid(settings, login)
    try:
        dn, role = identity_of(settings, uid) if uid else ("", Role.ALUMNUS)
    except NotFoundError:
        uid = None
    if not uid:
        decoy_check(password)
        raise AccessDeniedError(REFUSED)
    if not proves(settings, dn, password):
        audit.record(Actor(uid, role), "sign-in", uid, "denied", detail="web")
        raise AccessDeniedError(REFUSED)
    state = account_state(settings, uid)
    if state is None or not state.active:
        audit.record(Actor(uid, role), "sign-in", uid, "denied", detail="suspended")
        raise AccessDeniedError(SUSPENDED)
    audit.record(Actor(uid, role), "sign-in", uid, "ok", detail="web")
    return SignedIn(uid, role, state.must_change, state.standing)
