"""The language switch on every page (base.html's small form, no JavaScript needed): it sets
the language cookie and, for a signed-in alumnus or staff member, their entry's
``preferredLanguage``, which a later sign-in on any browser brings back (it wins over the
cookie from then on)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from identity.errors import ValidationError
from identity.roles import STAFF_ROLES, Role
from provisioning import i18n
from provisioning.i18n import N_
from provisioning.people.staff import StaffService
from provisioning.web import sessions
from provisioning.web.language import LANGUAGE_COOKIE
from provisioning.web.requests import Services, services
from provisioning.web.security import CSRF_FIELD

COOKIE_AGE = 365 * 24 * 3600
router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]


def remember(response: Response, svc: Services, language: str) -> None:
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=COOKIE_AGE,
        httponly=True,
        secure=svc.settings.web_secure,
        samesite="lax",
        path="/",
    )


def _back_to(target: str) -> str:
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


@router.post("/language")
def switch(
    request: Request,
    svc: Svc,
    csrf: Annotated[str, Form(alias=CSRF_FIELD)] = "",
    lang: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """The switch on every page: the cookie, and a signed-in person's preferredLanguage (which
    the next sign-in, on any browser, brings back)."""
    svc.csrf.check(request, csrf)
    language = i18n.supported(lang) if lang in i18n.LANGUAGES else None
    if language is None:
        raise ValidationError("lang", N_("must be zh-CN or en"))
    session = sessions.current(request, svc.store, svc.root.signin)
    if session is not None and not session.must_change:
        actor = sessions.session_actor(svc.root.signin, session)
        if actor.role is Role.ALUMNUS:
            with svc.accounts(actor) as accounts:
                if accounts.get(session.uid).preferred_language != language:
                    accounts.modify(session.uid, preferred_language=language)
        elif actor.role in STAFF_ROLES:
            with svc.service(StaffService, actor) as staff:
                if staff.language(session.uid) != language:
                    staff.set_language(session.uid, language)
    response = RedirectResponse(_back_to(next), status_code=303)
    remember(response, svc, language)
    return response


def signed_in_language(svc: Services, uid: str, role: Role) -> str | None:
    """The language a person chose before (their preferredLanguage), to set at sign-in."""
    actor = svc.root.signin.actor_for(uid)
    if role is Role.ALUMNUS:
        with svc.accounts(actor) as accounts:
            return i18n.supported(accounts.get(uid).preferred_language)
    if role in STAFF_ROLES:
        with svc.service(StaffService, actor) as staff:
            return i18n.supported(staff.language(uid))
    return None
