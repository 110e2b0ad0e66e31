"""The alumni portal: registration, sign-in, self-service (profile, password, quota, client
settings) and password recovery. Plain HTML forms that work without JavaScript; one small
script only adds live feedback (UID availability, password rules)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from identity.errors import AccessDeniedError, FieldErrors, ValidationError
from identity.passwords import DEFAULT_POLICY
from identity.roles import PORTAL, STAFF_ROLES, Role
from provisioning.i18n import N_, _
from provisioning.people import recovery_address
from provisioning.people.registration import RegistrationForm
from provisioning.store import Session
from provisioning.web import language, preferences, sessions
from provisioning.web.oidc import sign_in_targets
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD, allow_form_targets, client_address

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Field = Annotated[str, Form()]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
MISMATCH = N_("must be the same password again")
PROFILE_FIELDS = ("display_name", "given_name", "family_name", "phone", "postal_address")


def _errors(error: ValidationError) -> dict[str, str]:
    return error.errors if isinstance(error, FieldErrors) else {error.field: error.rule}


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host) may follow a sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/account"


# -- home, sign-in ---------------------------------------------------------------------------


@router.get("/")
def home(request: Request, svc: Svc) -> Response:
    return svc.page(request, "home.html")


def _login_page(request: Request, svc: Services, status: int, **values: Any) -> Response:
    """The sign-in page; one that resumes an application's sign-in may end back there."""
    page = svc.page(request, "login.html", status, **values)
    return allow_form_targets(page, sign_in_targets(svc.store, values["form"]["next"]))


@router.get("/login")
def login_form(request: Request, svc: Svc, next: str = "") -> Response:
    return _login_page(request, svc, 200, form={"next": _safe_next(next)})


@router.post("/login")
def login(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    login: Field = "",
    password: Field = "",
    next: Field = "",
) -> Response:
    svc.csrf.check(request, csrf)
    # Failed sign-ins count, per address and per account; successful ones do not (a campus
    # network's alumni behind one address are not an attack).
    address, account = client_address(request), login.strip().lower()
    svc.limiter.check("login", address, svc.limits.login_client)
    svc.limiter.check("login-account", account, svc.limits.login_account)
    try:
        who = svc.root.signin.authenticate(login, password)
    except AccessDeniedError as error:
        svc.limiter.failed("login", address, svc.limits.login_client)
        svc.limiter.failed("login-account", account, svc.limits.login_account)
        form = {"login": login, "next": _safe_next(next)}
        return _login_page(request, svc, 401, form=form, error=error.message)
    target = "/account/password" if who.must_change else _safe_next(next)
    if who.role in STAFF_ROLES and target == "/account":
        target = "/helpdesk"
    response = RedirectResponse(target, status_code=303)
    sessions.open_session(response, svc.store, svc.settings, who)
    # The language the person chose before, on any browser, wins from now on.
    chosen = preferences.signed_in_language(svc, who.uid, who.role)
    if chosen is not None:
        preferences.remember(response, svc, chosen)
    return response


@router.post("/logout")
def logout(request: Request, svc: Svc, csrf: CsrfToken = "") -> Response:
    """This browser's session ends, and the person's session at the provider with it: every
    token of theirs is revoked (the webmail's session ends at its next request) and the
    applications that registered for it are told (back-channel logout)."""
    svc.csrf.check(request, csrf)
    session = sessions.current(request, svc.store, svc.root.signin)
    response = RedirectResponse("/", status_code=303)
    sessions.close(request, response, svc.store)
    if session is not None:
        svc.root.session_end.ended(entry_uuids=[session.standing.entry_uuid])
    return response


# -- registration ----------------------------------------------------------------------------


@router.get("/register")
def register_form(request: Request, svc: Svc) -> Response:
    return svc.page(request, "register.html")


@router.get("/uid-available")
def uid_available(request: Request, svc: Svc, uid: str = "") -> Response:
    svc.limiter.hit("lookup", client_address(request), svc.limits.lookup_client)
    problem = svc.registration.uid_problem(uid.strip())
    # What the page shows as it is typed (static/forms.js), in the page's language.
    shown = uid.strip()
    message = (
        _("{uid} is available").format(uid=shown)
        if problem is None
        else language.field_error(shown, problem)
    )
    return JSONResponse(
        {"uid": uid, "available": problem is None, "reason": problem, "message": message}
    )


@router.post("/register")
def register(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    student_number: Field = "",
    name: Field = "",
    birth_date: Field = "",
    graduation_year: Field = "",
    uid: Field = "",
    password: Field = "",
    password_again: Field = "",
    recovery_email: Field = "",
) -> Response:
    svc.csrf.check(request, csrf)
    svc.limiter.hit("register", client_address(request), svc.limits.register_client)
    svc.limiter.hit(
        "register-account", student_number.strip().upper() or "-", svc.limits.register_account
    )
    form = RegistrationForm(
        student_number,
        name,
        birth_date,
        graduation_year,
        uid,
        password,
        password_again,
        recovery_email,
    )
    shown = {k: v for k, v in form.__dict__.items() if "password" not in k}
    try:
        started = svc.registration.start(form)
    except ValidationError as error:
        return svc.page(request, "register.html", 422, form=shown, errors=_errors(error))
    except AccessDeniedError as error:
        return svc.page(request, "register.html", 403, form=shown, error=error.message)
    return svc.page(
        request, "register_sent.html", address=started.recovery_email, legacy=started.legacy_address
    )


@router.get("/register/confirm")
def register_confirm_form(request: Request, svc: Svc, token: str = "") -> Response:
    pending = svc.registration.pending(token)
    if pending is None and svc.registration.registered_by(token) is not None:
        return _registered_already(request, svc)
    if pending is None:
        return _link_not_valid(
            request,
            svc,
            N_("This confirmation link is not valid or has expired. Please register again."),
        )
    return svc.page(request, "register_confirm.html", pending=pending, token=token)


@router.post("/register/confirm")
def register_confirm(
    request: Request, svc: Svc, csrf: CsrfToken = "", token: Field = ""
) -> Response:
    svc.csrf.check(request, csrf)
    if svc.registration.pending(token) is None and svc.registration.registered_by(token):
        return _registered_already(request, svc)
    account = svc.registration.confirm(token)
    return svc.page(request, "register_done.html", account=account)


def _registered_already(request: Request, svc: Services) -> Response:
    return svc.page(
        request,
        "message.html",
        title=N_("Registration done already"),
        note=N_("This link has done its work: your jAccount exists. Sign in with it."),
        next_link="/login",
    )


# -- forgotten password ----------------------------------------------------------------------


@router.get("/forgot")
def forgot_form(request: Request, svc: Svc) -> Response:
    return svc.page(request, "forgot.html")


@router.post("/forgot")
def forgot(request: Request, svc: Svc, csrf: CsrfToken = "", login: Field = "") -> Response:
    svc.csrf.check(request, csrf)
    svc.limiter.hit("forgot", client_address(request), svc.limits.forgot_client)
    svc.limiter.hit("forgot-account", login.strip().lower() or "-", svc.limits.forgot_account)
    svc.recovery.request(login)
    return svc.page(request, "forgot_sent.html")


@router.get("/reset")
def reset_form(request: Request, svc: Svc, token: str = "") -> Response:
    try:
        uid = svc.recovery.holder(token)
    except ValidationError:
        return _link_not_valid(
            request, svc, N_("This reset link is not valid or has expired. Ask for a new one.")
        )
    return svc.page(request, "reset.html", token=token, uid=uid)


@router.post("/reset")
def reset(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    token: Field = "",
    password: Field = "",
    password_again: Field = "",
) -> Response:
    svc.csrf.check(request, csrf)
    uid = svc.recovery.holder(token)
    if password != password_again:
        return svc.page(
            request,
            "reset.html",
            422,
            token=token,
            uid=uid,
            errors={"password_again": MISMATCH},
        )
    try:
        svc.recovery.reset(token, password)
    except ValidationError as error:
        return svc.page(request, "reset.html", 422, token=token, uid=uid, errors=_errors(error))
    return svc.page(
        request,
        "message.html",
        title=N_("Password changed"),
        note=N_("The password of '{uid}' is changed. Sign in with it now.").format(uid=uid),
    )


# -- self-service ----------------------------------------------------------------------------


def _link_not_valid(request: Request, svc: Services, what: str) -> Response:
    return svc.page(request, "message.html", 404, title=N_("Link not valid"), error=what)


def _own_view(svc: Services, session: Session) -> dict[str, Any]:
    actor = sessions.session_actor(svc.root.signin, session)
    with svc.accounts(actor) as accounts:
        view = accounts.show(session.uid)
    return {"account": view.account, "quota": view.quota_use, "actor": actor}


@router.get("/account")
def account_page(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    actor = sessions.session_actor(svc.root.signin, session)
    if actor.role is not Role.ALUMNUS:
        return RedirectResponse("/helpdesk", status_code=303)
    return svc.page(request, "account.html", **_own_view(svc, session))


@router.post("/account")
def account_update(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    display_name: Field = "",
    given_name: Field = "",
    family_name: Field = "",
    phone: Field = "",
    postal_address: Field = "",
    recovery_email: Field = "",
) -> Response:
    svc.csrf.check(request, csrf)
    session = signed_in(request, svc)
    actor = sessions.session_actor(svc.root.signin, session)
    values = {
        "display_name": display_name,
        "given_name": given_name,
        "family_name": family_name,
        "phone": phone,
        "postal_address": postal_address,
    }
    notes = []
    try:
        with svc.accounts(actor) as accounts:
            current = accounts.get(session.uid)
            wanted = {k: v for k, v in values.items() if (getattr(current, k) or "") != v.strip()}
            changes = accounts.modify(session.uid, **wanted) if wanted else {}
        new_recovery = recovery_email.strip()
        if new_recovery and new_recovery != (current.recovery_email or ""):
            recovery_address.request_change(
                svc.settings, svc.store, svc.mailer, session.uid, new_recovery
            )
            notes.append(
                N_(
                    "A confirmation link was sent to {address}: the recovery address "
                    "changes when it is followed."
                ).format(address=new_recovery)
            )
    except ValidationError as error:
        view = _own_view(svc, session)
        return svc.page(request, "account.html", 422, errors=_errors(error), form=values, **view)
    if changes:
        notes.insert(0, N_("Your details are saved."))
    view = _own_view(svc, session)
    return svc.page(request, "account.html", notes=notes or [N_("Nothing changed.")], **view)


@router.get("/account/recovery")
def recovery_confirm_form(request: Request, svc: Svc, token: str = "") -> Response:
    change = recovery_address.pending(svc.store, token)
    if change is None:
        return _link_not_valid(
            request, svc, N_("This confirmation link is not valid or has expired.")
        )
    return svc.page(
        request, "recovery_confirm.html", token=token, uid=change.uid, address=change.address
    )


@router.post("/account/recovery")
def recovery_confirm(
    request: Request, svc: Svc, csrf: CsrfToken = "", token: Field = ""
) -> Response:
    svc.csrf.check(request, csrf)
    with svc.accounts(PORTAL) as accounts:
        change = recovery_address.confirm(svc.store, accounts, token)
    return svc.page(
        request,
        "message.html",
        title=N_("Recovery address confirmed"),
        note=N_("{address} is now the recovery address of '{uid}'.").format(
            address=change.address, uid=change.uid
        ),
    )


@router.get("/account/password")
def password_form(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc, changing_password=True)
    return svc.page(request, "password.html", forced=session.must_change)


@router.post("/account/password")
def password_change(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    current: Field = "",
    password: Field = "",
    password_again: Field = "",
) -> Response:
    svc.csrf.check(request, csrf)
    session = signed_in(request, svc, changing_password=True)
    svc.limiter.hit("login-account", session.uid, svc.limits.login_account)
    errors: dict[str, str] = {}
    try:
        DEFAULT_POLICY.check(password, uid=session.uid)
    except ValidationError as error:
        errors["password"] = error.rule
    if password != password_again:
        errors["password_again"] = MISMATCH
    if not errors:
        try:
            with svc.root.for_request() as root:
                root.passwords.change_own(session.uid, current, password)
        except AccessDeniedError:
            errors["current"] = N_("is not your current password")
        except ValidationError as error:
            errors.update(_errors(error))
    if errors:
        return svc.page(request, "password.html", 422, forced=session.must_change, errors=errors)
    renewed = sessions.password_changed(request, svc.store, svc.root.signin, session.uid)
    response = svc.page(
        request,
        "message.html",
        title=N_("Password changed"),
        note=N_(
            "Your new password works for the portal, IMAP, POP3 and SMTP from now on. "
            "Every other session of yours has ended."
        ),
        next_link="/account",
    )
    sessions.keep(response, svc.settings, renewed)
    return response


@router.get("/account/clients")
def clients_page(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    return svc.page(request, "clients.html", uid=session.uid)
