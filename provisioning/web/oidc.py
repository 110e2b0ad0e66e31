"""The OpenID Connect provider's HTTP face: discovery, JWKS, authorization (the portal's one
sign-in, then consent for a client that is not trusted), token, userinfo, revocation and
introspection. The protocol is provisioning/oidc/provider.py (Authlib's server side); this
module only turns requests and answers into HTTP.

An authorization request whose client or redirect URI is not right gets an error page, never a
redirect; later errors go back to the client's registered redirect URI as the protocol says.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from identity.errors import ValidationError
from provisioning.i18n import N_
from provisioning.oidc import rules
from provisioning.oidc.provider import Answer, HttpRequest, OAuth2Error, Person, Provider
from provisioning.oidc.storage import OidcStore
from provisioning.store import Store
from provisioning.web import sessions
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD, allow_form_targets, client_address

router = APIRouter(include_in_schema=False)
CLIENT_AUTH = "oidc-client-auth"
Svc = Annotated[Services, Depends(services)]
Field = Annotated[str, Form()]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
CONSENT_FIELDS = (CSRF_FIELD, "decision")
MAX_CLIENT_ID = 64
SCOPE_TEXT = {
    "openid": N_("who you are (an identifier for your jAccount that never changes)"),
    "profile": N_("your name and jAccount name"),
    "email": N_("your alumni e-mail address"),
    "alumni": N_("your graduation year"),
    "groups": N_("the names of the circles you are in"),
    "mail": N_("your mailbox: read and send mail as you (IMAP, POP3, SMTP)"),
}


def provider(request: Request) -> Provider:
    found: Provider = request.app.state.oidc
    return found


Oidc = Annotated[Provider, Depends(provider)]


def _http(request: Request, form: list[tuple[str, str]] | None = None) -> HttpRequest:
    return HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=request.headers,
        query=list(request.query_params.multi_items()),
        form=form or [],
    )


async def _form(request: Request) -> list[tuple[str, str]]:
    data = await request.form()
    return [(k, v) for k, v in data.multi_items() if isinstance(v, str)]


def _answer(answer: Answer) -> Response:
    status, body, headers = answer
    if status == 302:
        return Response(status_code=302, headers=dict(headers))
    return JSONResponse(body, status_code=status, headers=dict(headers))


@router.get("/.well-known/openid-configuration")
def discovery(oidc: Oidc) -> Response:
    return JSONResponse(oidc.discovery())


@router.get("/oidc/jwks")
def jwks(oidc: Oidc) -> Response:
    return JSONResponse(oidc.keys.jwks())


# -- authorization -------------------------------------------------------------------------------


# What a person reads for each OAuth error code on the error page, in their language. Authlib's
# own descriptions are English (and meant for the client's developer): the page shows ours and
# the code, which the developer looks up; the JSON answers of the token and introspection
# endpoints keep OAuth's English codes and descriptions, as the protocol says.
ERROR_TEXTS = {
    "invalid_client": N_("The application that sent you here is not registered with this site."),
    "invalid_request": N_(
        "The application's request is incomplete or not valid (for example, it names a return"
        " address it did not register)."
    ),
    "unauthorized_client": N_("The application may not sign people in this way."),
    "unsupported_response_type": N_(
        "The application asked for a kind of answer this site does not give."
    ),
    "invalid_scope": N_("The application asked for access this site does not grant."),
    "access_denied": N_("The sign-in was refused."),
    "server_error": N_("Something went wrong on this site. Please try again later."),
    "temporarily_unavailable": N_("Sign-in is not available now. Please try again later."),
}
UNKNOWN_ERROR_TEXT = N_("The application's sign-in request is not valid.")


def _refused(request: Request, svc: Services, oidc: Oidc, error: OAuth2Error) -> Response:
    """A redirect to the client when its redirect URI was proven, an error page otherwise."""
    if error.redirect_uri:
        return _answer(oidc.handle_error_response(None, error))
    code = str(error.error)
    return svc.page(
        request,
        "message.html",
        400,
        title=N_("Sign-in request refused"),
        error=ERROR_TEXTS.get(code, UNKNOWN_ERROR_TEXT),
        note=N_("Error code: {code}").format(code=code),
    )


def _authorize(request: Request, svc: Services, oidc: Provider, http: HttpRequest) -> Response:
    """Validate the request, sign the person in (the portal's sign-in), ask for consent when
    needed, then answer with a code. ``http.form`` holds a submitted consent."""
    session = sessions.current(request, svc.store, svc.root.signin)
    person = None
    if session is not None:
        person = Person(
            session.uid,
            session.standing.entry_uuid,
            session.standing.password_stamp,
            int(session.expires - sessions.SESSION_TTL),
        )
    try:
        grant = oidc.get_consent_grant(http, end_user=person)
    except OAuth2Error as error:
        return _refused(request, svc, oidc, error)
    if person is None:
        target = request.url.path + ("?" + request.url.query if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    signed_in(request, svc)  # a forced password change comes first
    client = grant.client.record
    scopes = grant.request.scope.split()
    decision = dict(http.form).get("decision")
    if decision is not None:
        svc.csrf.check(request, dict(http.form).get(CSRF_FIELD))
        if decision != "allow":
            return _answer(oidc.create_authorization_response(http, grant_user=None, grant=grant))
        oidc.oidc.consent(person.entry_uuid, client.client_id, scopes)
    elif not client.trusted and not oidc.oidc.consented(
        person.entry_uuid, client.client_id, scopes
    ):
        params = [(k, v) for k, v in http.query + http.form if k not in CONSENT_FIELDS]
        page = svc.page(
            request,
            "oidc_consent.html",
            client=client,
            scopes=[(s, SCOPE_TEXT[s]) for s in scopes if s in rules.SCOPE_CLAIMS],
            params=params,
        )
        return allow_form_targets(page, [grant.redirect_uri])
    return _answer(oidc.create_authorization_response(http, grant_user=person, grant=grant))


def sign_in_targets(store: Store, next_path: str) -> list[str]:
    """Where a sign-in that continues to ``next_path`` may end: the redirect URI of the
    authorization request it resumes, when that client registered it (else nowhere else)."""
    url = urlsplit(next_path)
    if url.path != "/oidc/authorize":
        return []
    query = dict(parse_qsl(url.query))
    client = OidcStore(store).client(query.get("client_id", ""))
    redirect_uri = query.get("redirect_uri", "")
    if client is None or redirect_uri not in client.redirect_uris:
        return []
    return [redirect_uri]


@router.get("/oidc/authorize")
def authorize(request: Request, svc: Svc, oidc: Oidc) -> Response:
    return _authorize(request, svc, oidc, _http(request))


@router.post("/oidc/authorize")
async def consent(request: Request, svc: Svc, oidc: Oidc) -> Response:
    form = await _form(request)
    http = HttpRequest(request.method, str(request.url), request.headers, [], form)
    answer: Response = await run_in_threadpool(_authorize, request, svc, oidc, http)
    return answer


# -- token, userinfo, revocation, introspection ----------------------------------------------------


async def _endpoint(request: Request, svc: Services, oidc: Provider, name: str) -> Response:
    http = _http(request, await _form(request))
    address = client_address(request)
    # Guessing a client's secret: an address whose client authentications keep failing is
    # refused for a while (only failures count: a busy client that proves itself is not).
    svc.limiter.check(CLIENT_AUTH, address, svc.limits.client_auth)

    def run() -> Answer:
        if name == "token":
            answer: Answer = oidc.create_token_response(http)
        else:
            answer = oidc.create_endpoint_response(name, http)
        return answer

    answer = await run_in_threadpool(run)
    if answer[0] == 401:  # invalid_client: unknown, or the wrong secret
        svc.limiter.failed(CLIENT_AUTH, address, svc.limits.client_auth)
    return _answer(answer)


@router.post("/oidc/token")
async def token(request: Request, svc: Svc, oidc: Oidc) -> Response:
    return await _endpoint(request, svc, oidc, "token")


@router.post("/oidc/revoke")
async def revoke(request: Request, svc: Svc, oidc: Oidc) -> Response:
    form = await _form(request)
    http = _http(request, form)
    fields = dict(form)

    def run() -> Answer:
        value = fields.get("token", "")
        found = oidc.find_token(value, fields.get("token_type_hint"))
        answer: Answer = oidc.create_endpoint_response("revocation", http)
        if found is not None and answer[0] == 200 and "mail" in found.record.scope.split():
            # Dovecot asks the provider about the next login again: the access token's one
            # entry goes; a refresh token's grant names no access token value, so all go.
            if found.kind == "access_token":
                oidc.cut_mail_login(found.record.uid, value)
            else:
                oidc.cut_mail_logins()
        return answer

    return _answer(await run_in_threadpool(run))


@router.post("/oidc/introspect")
async def introspect(request: Request, svc: Svc, oidc: Oidc) -> Response:
    return await _endpoint(request, svc, oidc, "introspection")


@router.api_route("/oidc/userinfo", methods=["GET", "POST"])
def userinfo(request: Request, oidc: Oidc) -> Response:
    return _answer(oidc.userinfo(request.headers.get("authorization")))


# -- RP-initiated logout -------------------------------------------------------------------------


def _logout(request: Request, svc: Services, oidc: Provider, http: HttpRequest) -> Response:
    """End the person's session here and at the provider (their tokens, back-channel logouts:
    the provider's end_session); back to the client only at a URI it registered, and only when
    it proved itself with our ID token (else a page)."""
    try:
        ending = oidc.validate_endpoint_request("end_session", http)
    except OAuth2Error as error:
        return _refused(request, svc, oidc, error)
    if ending.needs_confirmation:
        if request.method != "POST":
            params = [(k, v) for k, v in http.query if k != CSRF_FIELD]
            return svc.page(request, "oidc_logout.html", params=params)
        svc.csrf.check(request, dict(http.form).get(CSRF_FIELD))
    session = sessions.current(request, svc.store, svc.root.signin)
    if session is not None:
        ending.request.user = Person(
            session.uid, session.standing.entry_uuid, session.standing.password_stamp, 0
        )
    answer = oidc.create_endpoint_response("end_session", ending)
    if answer is not None:
        response = _answer(answer)
    else:
        note = N_(
            "You are signed out of your jAccount and of the applications it signed you in to."
        )
        response = svc.page(request, "message.html", title=N_("Signed out"), note=note)
    sessions.close(request, response, svc.store)
    return response


@router.get("/oidc/logout")
def logout(request: Request, svc: Svc, oidc: Oidc) -> Response:
    return _logout(request, svc, oidc, _http(request))


@router.post("/oidc/logout")
async def logout_confirmed(request: Request, svc: Svc, oidc: Oidc) -> Response:
    form = await _form(request)
    http = HttpRequest(request.method, str(request.url), request.headers, [], form)
    answer: Response = await run_in_threadpool(_logout, request, svc, oidc, http)
    return answer


# -- the person's authorized applications ----------------------------------------------------------


@router.get("/account/apps")
def apps(request: Request, svc: Svc, oidc: Oidc) -> Response:
    session = signed_in(request, svc)
    granted = [
        (client, [SCOPE_TEXT.get(s, s) for s in scopes], when)
        for client, scopes, when in oidc.oidc.apps_of(session.standing.entry_uuid)
    ]
    return svc.page(request, "oidc_apps.html", apps=granted)


@router.post("/account/apps/revoke")
def apps_revoke(
    request: Request, svc: Svc, oidc: Oidc, csrf: CsrfToken = "", client_id: Field = ""
) -> Response:
    """Withdraw consent from one application: its tokens for this person stop at once."""
    svc.csrf.check(request, csrf)
    session = signed_in(request, svc)
    if not client_id or len(client_id) > MAX_CLIENT_ID or not client_id.isprintable():
        raise ValidationError(
            "client_id", f"must be a client id of 1 to {MAX_CLIENT_ID} characters"
        )
    actor = sessions.session_actor(svc.root.signin, session)
    if oidc.forget_app(actor, session.standing.entry_uuid, client_id):
        oidc.cut_mail_logins()
    return RedirectResponse("/account/apps", status_code=303)
