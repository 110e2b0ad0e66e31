"""The helpdesk console: search alumni, see an account (status, lock, quota use, recent audit),
reset a password (the temporary one is shown once), unlock, suspend and resume.

Staff sign in on the portal's sign-in page; every action runs as the signed-in member through
the same use cases as ``alumail helpdesk``, judged by slapd's ACLs too, and audited. Staff
accounts live under ou=staff, which neither the search nor the actions reach.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from identity.accounts import AccountStatus
from identity.errors import AccessDeniedError, NotFoundError
from identity.roles import Actor
from provisioning.i18n import N_
from provisioning.people.helpdesk import Found, Helpdesk
from provisioning.web import sessions
from provisioning.web.confirm import Confirmed, ask, confirmed
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD

router = APIRouter(prefix="/helpdesk", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
RESULTS = 50


def staff_actor(request: Request, svc: Services) -> Actor:
    session = signed_in(request, svc)
    actor = sessions.session_actor(svc.root.signin, session)
    if not actor.can_support():
        raise AccessDeniedError(N_("the helpdesk console is for helpdesk staff and admins"))
    return actor


def search_page(
    request: Request, svc: Services, actor: Actor, q: str, template: str, paths: tuple[str, str]
) -> Response:
    """A page with the search of accounts and graduates (account_search.html), for the
    helpdesk and the admin console alike; ``paths``: where the form goes, and the folder of the
    account pages the results link to."""
    found = Found()
    if q.strip():
        with svc.service(Helpdesk, actor) as desk:
            found = desk.search(q, RESULTS)
    return svc.page(
        request,
        template,
        q=q,
        results=found.accounts,
        unregistered=found.unregistered,
        actor=actor,
        search_path=paths[0],
        account_path=paths[1],
    )


@router.get("")
def search(request: Request, svc: Svc, q: str = "") -> Response:
    actor = staff_actor(request, svc)
    return search_page(request, svc, actor, q, "helpdesk.html", ("/helpdesk", "/helpdesk/accounts"))


def _account_page(
    request: Request, svc: Services, actor: Actor, uid: str, **extra: Any
) -> Response:
    with svc.service(Helpdesk, actor) as desk:
        state = desk.status(uid)
        account = desk.accounts.get(uid)
        recent = desk.accounts.audit.query(target=uid)[-10:]
    return svc.page(
        request,
        "helpdesk_account.html",
        actor=actor,
        account=account,
        state=state,
        recent=list(reversed(recent)),
        **extra,
    )


@router.get("/accounts/{uid}")
def account(request: Request, svc: Svc, uid: str) -> Response:
    return _account_page(request, svc, staff_actor(request, svc), uid)


# What each action asks before it acts: the question, what follows, the button.
QUESTIONS = {
    "reset-password": (
        N_("Reset the password of {uid}?"),
        N_(
            "A temporary password replaces theirs at once: their mail clients stop until they "
            "sign in with it and choose a new one."
        ),
        N_("Reset the password"),
    ),
    "unlock": (
        N_("Unlock {uid}?"),
        N_("Sign-ins with the right password work again at once."),
        N_("Unlock"),
    ),
    "suspend": (
        N_("Suspend {uid}?"),
        N_("No sign-in and no mail delivery until the account is resumed; their sessions end."),
        N_("Suspend"),
    ),
    "resume": (
        N_("Resume {uid}?"),
        N_("Sign-in and mail delivery work again."),
        N_("Resume"),
    ),
}


@router.post("/accounts/{uid}/{action}")
def act(
    request: Request,
    svc: Svc,
    uid: str,
    action: str,
    csrf: CsrfToken = "",
    answer: Confirmed = "",
) -> Response:
    svc.csrf.check(request, csrf)
    actor = staff_actor(request, svc)
    if action not in QUESTIONS:
        raise NotFoundError(f"no helpdesk action {action!r}")
    if not confirmed(answer):
        with svc.service(Helpdesk, actor) as desk:
            desk.accounts.get(uid)  # an account this member may see, or 404/403 now
        question, consequence, button = QUESTIONS[action]
        return ask(
            request,
            svc,
            question=question.format(uid=uid),
            consequence=consequence,
            action=f"/helpdesk/accounts/{uid}/{action}",
            button=button,
            back=f"/helpdesk/accounts/{uid}",
        )
    with svc.service(Helpdesk, actor) as desk:
        if action == "reset-password":
            temporary = desk.reset_password(uid)
            return _account_page(
                request,
                svc,
                actor,
                uid,
                temporary=temporary,
                note=N_(
                    "Password reset: give the temporary password to the alumnus. They must "
                    "choose a new one when they next sign in; mail refuses it until then."
                ),
            )
        if action == "unlock":
            done = desk.unlock(uid)
            note = N_("Unlocked.") if done else N_("The account was not locked.")
        elif action in ("suspend", "resume"):
            status = AccountStatus.SUSPENDED if action == "suspend" else AccountStatus.ACTIVE
            done = desk.set_status(uid, status)
            note = (
                (N_("Account suspended.") if done else N_("The account was suspended already."))
                if status is AccountStatus.SUSPENDED
                else (N_("Account active.") if done else N_("The account was active already."))
            )
        else:
            raise NotFoundError(f"no helpdesk action {action!r}")
    return _account_page(request, svc, actor, uid, note=note)
