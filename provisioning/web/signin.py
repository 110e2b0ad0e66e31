"""The one sign-in: proving a password, the browser session, and signing out, all here.

A later OpenID Connect provider over the directory (webmail and other alumni apps) reuses
exactly these: ``authenticate`` for the login form, ``open_session``/``current`` for the
session it keeps, ``close`` for logout.

A password is proven by an LDAP bind as the person (so ppolicy counts failures and locks), and
the session then acts as that person through proxied authorization: the password is never kept.
An unknown name costs the same argon2id work as a known one, and both get the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request, Response

from identity.directory import Directory
from identity.errors import AccessDeniedError, NotFoundError
from identity.roles import Actor, Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.accounts import login_uid
from provisioning.audit import AuditLog, audit_path
from provisioning.staff import actor_for, decoy_check, identity_of, proves
from provisioning.store import Session, Store

SESSION_COOKIE = "alumail_session"
SESSION_TTL = 8 * 3600
REFUSED = "the jAccount name or password is not right (or the account is locked)"


@dataclass(frozen=True)
class SignedIn:
    uid: str
    role: Role
    must_change: bool


def authenticate(settings: Settings, login: str, password: str) -> SignedIn:
    """Who ``login`` is, proven by ``password``; AccessDeniedError(REFUSED) otherwise."""
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
    uri = Layout(settings.state_dir).ldapi_uri
    must_change = False
    if role is Role.ALUMNUS:
        with Directory(uri) as system:
            entry = system.get(dn, ["pwdReset", "alumailAccountStatus"]) or {}
        must_change = (entry.get("pwdReset") or ["FALSE"])[0].upper() == "TRUE"
        if (entry.get("alumailAccountStatus") or ["active"])[0] != "active":
            audit.record(Actor(uid, role), "sign-in", uid, "denied", detail="suspended")
            raise AccessDeniedError("this jAccount is suspended: please contact the helpdesk")
    audit.record(Actor(uid, role), "sign-in", uid, "ok", detail="web")
    return SignedIn(uid, role, must_change)


def open_session(response: Response, store: Store, settings: Settings, who: SignedIn) -> Session:
    session_id, session = store.open_session(who.uid, must_change=who.must_change, ttl=SESSION_TTL)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_TTL,
        httponly=True,
        secure=settings.web_secure,
        samesite="lax",
        path="/",
    )
    return session


def current(request: Request, store: Store) -> Session | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    return store.session(session_id) if session_id else None


def session_actor(settings: Settings, session: Session) -> Actor:
    """The session's person, with the role they have now."""
    return actor_for(settings, session.uid)


def password_changed(request: Request, store: Store) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        store.clear_must_change(session_id)


def close(request: Request, response: Response, store: Store) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        store.close_session(session_id)
    response.delete_cookie(SESSION_COOKIE, path="/")
