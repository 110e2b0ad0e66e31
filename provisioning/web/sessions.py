"""The browser's session: opening it after a sign-in (provisioning/people/signin.py proves who it
is), the cookie that carries it, checking it on every request, and signing out.

The session acts as its person through proxied authorization: the password is never kept. A
session is bound to what it was granted against: the entry (entryUUID) and its password
(pwdChangedTime). Every request reads both again, with the account's status and ppolicy's
pwdReset, so a suspension, deletion, helpdesk reset or password change made by any face (this
service, the CLI, or a plain LDAP write) ends the person's sessions at their next request.
"""

from __future__ import annotations

from fastapi import Request, Response

from identity.roles import Actor
from mailstack.settings import Settings
from provisioning.people.signin import SignedIn, SignIn
from provisioning.store import Session, Store

SESSION_COOKIE = "alumail_session"
SESSION_TTL = 8 * 3600
_STATE_KEY = "alumail_session"


def open_session(response: Response, store: Store, settings: Settings, who: SignedIn) -> Session:
    session_id, session = store.open_session(
        who.uid, who.standing, must_change=who.must_change, ttl=SESSION_TTL
    )
    keep(response, settings, session_id)
    return session


def keep(response: Response, settings: Settings, session_id: str | None) -> None:
    """Give the browser its session cookie (or take it away when ``session_id`` is None)."""
    if session_id is None:
        response.delete_cookie(SESSION_COOKIE, path="/")
        return
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_TTL,
        httponly=True,
        secure=settings.web_secure,
        samesite="lax",
        path="/",
    )


def current(request: Request, store: Store, signin: SignIn) -> Session | None:
    """The request's session if it is still good: the account is read again each request, and
    a session its account no longer admits is ended (every other session of the person fails
    the same check at its next request)."""
    if hasattr(request.state, _STATE_KEY):
        found: Session | None = getattr(request.state, _STATE_KEY)
        return found
    session_id = request.cookies.get(SESSION_COOKIE)
    session = store.session(session_id) if session_id else None
    if session is not None and session_id:
        state = signin.account_state(session.uid)
        if state is None or not state.admits(session):
            store.close_session(session_id)
            session = None
    setattr(request.state, _STATE_KEY, session)
    return session


def session_actor(signin: SignIn, session: Session) -> Actor:
    """The session's person, with the role they have now."""
    return signin.actor_for(session.uid)


def password_changed(request: Request, store: Store, signin: SignIn, uid: str) -> str | None:
    """The person changed their own password here (Passwords.change_own ended every session
    of theirs): this browser gets a new one bound to the new password (its id, for ``keep``)."""
    state = signin.account_state(uid)
    session_id: str | None = None
    session: Session | None = None
    if state is not None and state.active:
        session_id, session = store.open_session(
            uid, state.standing, must_change=False, ttl=SESSION_TTL
        )
    setattr(request.state, _STATE_KEY, session)
    return session_id


def close(request: Request, response: Response, store: Store) -> None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        store.close_session(session_id)
    setattr(request.state, _STATE_KEY, None)
    response.delete_cookie(SESSION_COOKIE, path="/")
