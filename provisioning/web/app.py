"""The provisioning service as one FastAPI application: the REST API (``/api/v1``), the alumni
portal (registration, self-service, password recovery) and the helpdesk console, over the same
use cases as the CLI. LDAP calls are synchronous: endpoints are plain ``def`` and run in the
server's thread pool."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from identity.errors import (
    AccessDeniedError,
    AlumailError,
    ConfigError,
    ConflictError,
    DirectoryError,
    FieldErrors,
    NotFoundError,
    ValidationError,
)
from identity.roles import PORTAL
from mailstack.errors import DaemonError
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.errors import RateLimitedError
from provisioning.i18n import N_
from provisioning.legacy.holders import PortalMoves
from provisioning.mailer import Mailer, Outbox, QueuedMailer
from provisioning.oidc.mail_logins import TokenLogins
from provisioning.oidc.provider import Provider
from provisioning.people.accounts import AccountService
from provisioning.people.recovery import Recovery
from provisioning.people.registration import Registration
from provisioning.web import (
    admin,
    admin_data,
    admin_ops,
    api,
    autoconfig,
    circles,
    console,
    docs,
    language,
    mailbox,
    oidc,
    portal,
    preferences,
)
from provisioning.web.requests import MustChange, NotSignedIn, Services, services
from provisioning.web.security import (
    BodyLimit,
    Csrf,
    CsrfError,
    Defences,
    Limits,
    RateLimited,
    RateLimiter,
    service_key,
)
from provisioning.web.static_files import REVALIDATE, CachedFiles

HERE = Path(__file__).parent
ERROR_STATUS: list[tuple[type[AlumailError], int, str]] = [
    (RateLimited, 429, "rate_limited"),
    (RateLimitedError, 429, "rate_limited"),
    (CsrfError, 403, "csrf"),
    (ValidationError, 422, "validation"),
    (NotFoundError, 404, "not_found"),
    (ConflictError, 409, "conflict"),
    (AccessDeniedError, 403, "access_denied"),
    (DirectoryError, 503, "directory"),
    (DaemonError, 503, "daemon"),
    (ConfigError, 500, "config"),
]


# A distinguished name's first attribute, as the directory client's messages quote them.
_DN_TEXT = re.compile(r"\b(?:uid|cn|ou|dc)=", re.IGNORECASE)
DIRECTORY_REFUSAL = "refused by the directory"  # how identity words a constraint refusal
PUBLIC_MESSAGES = {
    "directory": N_("the directory could not complete this request; try again later"),
    "not_found": N_("not found"),
    "conflict": N_("this conflicts with an entry that exists"),
    "access_denied": N_("the directory refused this operation"),
    "validation": N_("the directory refused this value"),
}
# Paths whose clients are programs: the REST API, and the OpenID provider's endpoints and
# discovery documents, which speak OAuth's JSON. Every other path answers a browser's error
# with a page in the site's look.
MACHINE_PATHS = ("/api/", "/oidc/", "/.well-known/", "/autodiscover/", "/Autodiscover/")
HTTP_ERROR_PAGES = {
    404: (N_("Page not found"), N_("There is no page at this address.")),
    405: (N_("Not possible here"), N_("This address does not take that kind of request.")),
}
HTTP_ERROR_OTHER = (N_("Sorry"), N_("This request could not be answered."))
# A page's parameter FastAPI refused (absent, or not of its type), named as the form names it.
PARAMETER_MISSING = N_("The field “{field}” is missing from the request.")
PARAMETER_INVALID = N_("The field “{field}” has a value this page does not take.")
MAX_FIELD_NAME = 64  # the names come from our routes, but a body's keys can be anything
log = logging.getLogger(__name__)


def for_machines(request: Request) -> bool:
    return request.url.path.startswith(MACHINE_PATHS)


def public_message(error: AlumailError, kind: str) -> str:
    """The message a client sees: never a DN or the directory's own diagnostic (they tell an
    outsider the tree's layout and the server's internals). Those go to the service's log."""
    if isinstance(error, ValidationError):
        # A rule's own words may quote the value a client sent (which may look like a DN).
        quotes_directory = error.rule.startswith(DIRECTORY_REFUSAL) and bool(
            _DN_TEXT.search(error.rule)
        )
    else:
        quotes_directory = isinstance(error, DirectoryError) or bool(_DN_TEXT.search(error.message))
    if quotes_directory:
        log.warning("%s: %s", type(error).__name__, error.message)
        return PUBLIC_MESSAGES.get(kind, PUBLIC_MESSAGES["directory"])
    return error.message


def error_body(error: AlumailError) -> tuple[int, dict[str, object]]:
    status, kind = 500, "error"
    for cls, code, name in ERROR_STATUS:
        if isinstance(error, cls):
            status, kind = code, name
            break
    if isinstance(error, NotSignedIn):
        status, kind = 401, "unauthenticated"
    message = public_message(error, kind)
    body: dict[str, object] = {"type": kind, "message": message}
    if isinstance(error, ValidationError):
        body["field"] = error.field
        if message != error.message:
            body["fields"] = {error.field: message}
        else:
            body["fields"] = (
                error.errors if isinstance(error, FieldErrors) else {error.field: error.rule}
            )
    return status, {"error": body}


def create_app(settings: Settings, *, limits: Limits | None = None) -> FastAPI:
    app = FastAPI(
        title="alumail provisioning service",
        version="1",
        description="Accounts, registration, self-service and helpdesk for the alumni jAccount.",
        # Served by provisioning/web/docs.py from local files, under the site's CSP.
        docs_url=None,
        redoc_url=None,
    )
    mailer = Mailer(settings)
    outbox = Outbox()
    # The process's collaborators, built once; each request opens its own connections.
    sender = QueuedMailer(mailer, outbox)  # every request's mail goes through the outbox
    root = Composition(settings, mailer=sender)
    store = root.store

    @contextmanager
    def portal_accounts() -> Iterator[AccountService]:
        """The portal's own account use cases, on one request's connections."""
        with root.for_request() as request_root:
            yield request_root.accounts(PORTAL)

    templates = Jinja2Templates(directory=str(HERE / "templates"))
    language.install(templates.env)
    app.state.services = Services(
        settings=settings,
        root=root,
        store=store,
        mailer=sender,
        outbox=outbox,
        registration=Registration(settings, store, sender, portal_accounts),
        recovery=Recovery(settings, store, mailer, outbox, root.audit, portal_accounts),
        moves=PortalMoves(),
        limiter=RateLimiter(),
        limits=limits or Limits(),
        csrf=Csrf(service_key(root.layout.web_key)),
        templates=templates,
    )
    # The tokens Dovecot accepted are flushed from its cache as they expire; a service that
    # starts (again) knows none of them, so it flushes every cached token login first.
    mail_logins = TokenLogins(root.mailboxes)
    mail_logins.cut_all()
    app.state.oidc = Provider(
        settings,
        store,
        root.signin,
        root.oidc_keys,
        root.audit,
        root.session_end,
        mail_logins=mail_logins,
    )

    def too_large_page(scope: Scope, limit: int) -> bytes | None:
        """BodyLimit's refusal for a person: the site's message page, signed out (the body
        was never read, nor the session with it), in the browser's language."""
        request = Request(scope)
        if for_machines(request):
            return None
        megabytes = max(1, limit // 2**20)
        text = N_("What was sent is larger than this address takes: at most {size} MB.")
        return (
            templates.get_template("message.html")
            .render(
                title=N_("Too large"),
                error=text.format(size=megabytes),
                session=None,
                csrf_token="",
                errors={},
                form={},
                **language.page_values(request),
            )
            .encode()
        )

    # Language outside BodyLimit: its refusal page is in the browser's language too.
    app.add_middleware(
        BodyLimit,
        larger={admin_data.ROSTER_PATH: admin_data.ROSTER_BODY_MAX},
        page=too_large_page,
    )
    app.add_middleware(language.Language)
    app.add_middleware(Defences, secure=settings.web_secure)  # outside BodyLimit: its 413 too
    app.mount("/static", CachedFiles(HERE / "static", REVALIDATE), name="static")
    app.mount(docs.ASSETS_URL, docs.assets(), name="docs-assets")
    app.include_router(api.router)
    app.include_router(portal.router)
    app.include_router(circles.router)
    app.include_router(preferences.router)
    app.include_router(console.router)
    app.include_router(admin.router)
    app.include_router(admin_data.router)
    app.include_router(admin_ops.router)
    app.include_router(autoconfig.router)
    app.include_router(mailbox.router)
    app.include_router(oidc.router)
    app.include_router(docs.router)

    @app.exception_handler(AlumailError)
    def alumail_error(request: Request, error: AlumailError) -> Response:
        status, body = error_body(error)
        headers = {}
        if isinstance(error, RateLimited | RateLimitedError):
            headers["Retry-After"] = str(error.retry_after)
        if request.url.path.startswith("/api/"):
            if status == 401:
                headers["WWW-Authenticate"] = "Bearer"
            return JSONResponse(body, status_code=status, headers=headers)
        if isinstance(error, MustChange):
            return RedirectResponse("/account/password", status_code=303)
        if isinstance(error, NotSignedIn):
            return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
        found = services(request)
        message = str(body["error"]["message"])  # type: ignore[index]
        response = found.page(request, "message.html", status, title=N_("Sorry"), error=message)
        response.headers.update(headers)
        return response

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        """Starlette's own errors (no route or file, a method the route does not take): JSON
        for programs, as FastAPI words it, a page for people. Plain ``def``: the page reads the
        session from the store, so it runs in the thread pool."""
        if for_machines(request):
            return JSONResponse(
                {"detail": error.detail}, status_code=error.status_code, headers=error.headers
            )
        title, text = HTTP_ERROR_PAGES.get(error.status_code, HTTP_ERROR_OTHER)
        response = services(request).page(
            request, "message.html", error.status_code, title=title, error=text
        )
        response.headers.update(error.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> Response:
        """FastAPI's check of a route's parameters failed: the REST API's JSON 422 for programs;
        for a browser, the site's page (400: the request, not its values, is wrong), naming the
        first field in the page's language. Plain ``def``, as http_error."""
        fields: dict[str, str] = {}
        missing: set[str] = set()
        for problem in error.errors():
            location = [str(p) for p in problem.get("loc", ()) if p not in ("body", "query")]
            name = ".".join(location) or "request"
            fields.setdefault(name, str(problem.get("msg")))
            if problem.get("type") == "missing":
                missing.add(name)
        first = next(iter(fields.items()))
        if not for_machines(request):
            rule = PARAMETER_MISSING if first[0] in missing else PARAMETER_INVALID
            return services(request).page(
                request,
                "message.html",
                400,
                title=N_("Sorry"),
                error=rule.format(field=first[0][:MAX_FIELD_NAME]),
            )
        return JSONResponse(
            {
                "error": {
                    "type": "validation",
                    "message": f"{first[0]}: {first[1]}",
                    "field": first[0],
                    "fields": fields,
                }
            },
            status_code=422,
        )

    return app
