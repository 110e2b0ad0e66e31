"""The REST API (``/api/v1``) for admins, the helpdesk and their scripts.

Clients authenticate with a bearer token issued by ``alumail token issue`` to a staff member;
each request acts as that member, whose role is read again from the directory, through the same
use cases as the CLI (same role rules, same audit lines) and with slapd judging each operation
as the member. Errors are JSON: ``{"error": {"type", "message", "field"?, "fields"?}}``.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from identity.accounts import AccountStatus
from identity.circles import Kind, Policy, Visibility
from identity.errors import AccessDeniedError, AlumailError, ValidationError
from identity.roles import Actor
from mailstack import stack
from provisioning.circles.board import Board
from provisioning.circles.rankings import Sort
from provisioning.circles.service import RANKING_MAX, CircleService
from provisioning.oidc.keys import ALGORITHMS
from provisioning.oidc.storage import Client
from provisioning.people import api_tokens
from provisioning.people.helpdesk import Helpdesk
from provisioning.web.requests import NotSignedIn, Services, services
from provisioning.web.security import client_address


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None
    fields: dict[str, str] | None = None


class ErrorBody(BaseModel):
    """Every refusal: what kind, a message for a person, and the fields that broke a rule."""

    error: ErrorDetail


# Documented, so clients (and the fuzz stage) can hold every answer to the document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": what}
    for code, what in (
        (401, "no token, or a token that is not valid (any longer)"),
        (403, "the token's staff member may not do this"),
        (404, "no such account, client or circle (or a hidden one)"),
        (409, "conflicts with an account, address or client that exists"),
        (413, "the request body is larger than 1 MiB (refused before it is read)"),
        (422, "a value breaks its rule; the field is named"),
        (429, "too many attempts; see Retry-After"),
    )
}
router = APIRouter(prefix="/api/v1", tags=["accounts"], responses=ERROR_RESPONSES)
Svc = Annotated[Services, Depends(services)]


def api_actor(request: Request, svc: Svc) -> Actor:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotSignedIn("send 'Authorization: Bearer <token>' (tokens: alumail token issue)")
    try:
        issued = api_tokens.holder(svc.store, token.strip())
    except AccessDeniedError:
        # Only failures count, so a busy, honest client is never slowed down; per client, and
        # per token id (guessing one token's secret from many addresses).
        svc.limiter.hit("token", client_address(request), svc.limits.token_client)
        presented = api_tokens.token_id(token)
        svc.limiter.hit("token-id", presented or "-", svc.limits.token_account)
        raise NotSignedIn(api_tokens.REFUSED) from None
    actor = svc.root.signin.token_actor(svc.store, issued)
    if actor is None:
        raise NotSignedIn(api_tokens.REFUSED)
    return actor


Staff = Annotated[Actor, Depends(api_actor)]


class AccountChanges(BaseModel):
    """The profile fields (PROFILE_RULES); each value is checked by its rule in the use case."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    recovery_email: str | None = None
    student_number: str | None = None
    graduation_year: int | None = None
    class_code: str | None = None
    phone: str | None = None
    postal_address: str | None = None
    preferred_language: str | None = None  # zh-CN or en: the pages' and mails' language


class NewAccount(AccountChanges):
    uid: str
    display_name: str  # required here
    password: str | None = None
    quota: str | int | None = None


class Quota(BaseModel):
    model_config = ConfigDict(extra="forbid")
    quota: str | int


class Alias(BaseModel):
    model_config = ConfigDict(extra="forbid")
    address: str


class Health(BaseModel):
    """``ok`` when every daemon and the directory answer; else ``down``, naming what does not."""

    status: str
    down: list[str]
    services: dict[str, str]


HEALTH_TTL = 3.0  # seconds an answer is reused: a monitor polling every second costs little
_health_lock = threading.Lock()
_health_cache: dict[str, tuple[float, Health]] = {}


def _health_now(svc: Services) -> Health:
    # The mail stack's daemons (the web service, asking, is up); then the directory: our own
    # connection bound and answered (the service's entry, as slapd knows it).
    answers = stack.health(svc.settings)
    services = {name: "ok" if up else "down" for name, up in answers.items()}
    try:
        with svc.root.for_request() as root:
            me = root.connections.system.whoami()
        services["directory"] = "ok" if me.startswith("dn:") else "down"
    except AlumailError:
        services["directory"] = "down"
    down = [name for name, state in services.items() if state != "ok"]
    return Health(status="down" if down else "ok", down=down, services=services)


@router.get(
    "/health",
    tags=["service"],
    response_model=Health,
    responses={503: {"model": Health, "description": "a daemon or the directory is down"}},
)
def health(svc: Svc, response: Response) -> Health:
    """Each daemon of the stack (by its readiness check) and the directory (a bind and a
    who-am-I); 503 naming what is down. Answers are reused for a few seconds."""
    key = str(svc.settings.state_dir)
    with _health_lock:
        cached = _health_cache.get(key)
        if cached is None or time.monotonic() - cached[0] > HEALTH_TTL:
            cached = _health_cache[key] = (time.monotonic(), _health_now(svc))
    answer = cached[1]
    if answer.down:
        response.status_code = 503
    return answer


@router.get("/uid-available", tags=["registration"])
def uid_available(request: Request, svc: Svc, uid: str) -> dict[str, Any]:
    svc.limiter.hit("lookup", client_address(request), svc.limits.lookup_client)
    problem = svc.registration.uid_problem(uid.strip())
    return {"uid": uid, "available": problem is None, "reason": problem}


@router.get("/accounts")
def list_accounts(
    svc: Svc,
    actor: Staff,
    search: str | None = None,
    status: AccountStatus | None = None,
    graduation_year: int | None = None,
    limit: int = 100,
    offset: int = 0,
    sort: Literal["uid", "name"] = "uid",
) -> dict[str, Any]:
    """Accounts by UID, or by name (``sort=name``: a Han name by its pinyin; the UID breaks
    ties, so ``offset`` pages one order)."""
    with svc.accounts(actor) as accounts:
        found = accounts.find(
            status=status,
            graduation_year=graduation_year,
            search=search,
            limit=max(1, min(limit, 1000)),
            offset=max(0, offset),
            sort=sort,
        )
    return {"accounts": [a.as_dict() for a in found]}


@router.post("/accounts", status_code=201)
def create_account(svc: Svc, actor: Staff, body: NewAccount) -> dict[str, Any]:
    values = body.model_dump(exclude_none=True)
    uid, name, password = (
        values.pop("uid"),
        values.pop("display_name"),
        values.pop("password", None),
    )
    with svc.accounts(actor) as accounts:
        account = accounts.create(uid, name, password, **values)
    return account.as_dict()


@router.get("/accounts/{uid}")
def show_account(svc: Svc, actor: Staff, uid: str) -> dict[str, Any]:
    with svc.accounts(actor) as accounts:
        return accounts.show(uid).as_dict()


@router.patch("/accounts/{uid}")
def modify_account(svc: Svc, actor: Staff, uid: str, body: AccountChanges) -> dict[str, Any]:
    with svc.accounts(actor) as accounts:
        changes = accounts.modify(uid, **body.model_dump(exclude_unset=True))
    return {"uid": uid, "changes": changes}


@router.delete("/accounts/{uid}")
def delete_account(svc: Svc, actor: Staff, uid: str, purge_mail: bool = False) -> dict[str, Any]:
    with svc.accounts(actor) as accounts:
        archive = accounts.delete(uid, purge_mail=purge_mail)
    return {"uid": uid, "deleted": True, "archive": str(archive) if archive else None}


@router.get("/accounts/{uid}/status", tags=["helpdesk"])
def account_status(svc: Svc, actor: Staff, uid: str) -> dict[str, Any]:
    with svc.service(Helpdesk, actor) as desk:
        return desk.status(uid).as_dict()


@router.get("/roster", tags=["helpdesk"])
def list_roster(
    svc: Svc,
    actor: Staff,
    search: str | None = None,
    unregistered: bool = False,
    limit: int = 100,
    offset: int = 0,
    sort: Literal["student_number", "name"] = "student_number",
) -> dict[str, Any]:
    """Graduates on the roster (only those not registered yet with ``unregistered=true``), by
    student number or by name (a Han name by its pinyin); ``search`` finds a part of the name
    (Han, pinyin, Latin) or of the student number. No birth dates."""
    with svc.service(Helpdesk, actor) as desk:
        found = desk.roster(
            search=search,
            unregistered=unregistered,
            limit=max(1, min(limit, 1000)),
            offset=max(0, offset),
            sort=sort,
        )
    return {"graduates": [g.listed() for g in found]}


@router.post("/accounts/{uid}/reset-password", tags=["helpdesk"])
def reset_password(svc: Svc, actor: Staff, uid: str, response: Response) -> dict[str, Any]:
    with svc.service(Helpdesk, actor) as desk:
        temporary = desk.reset_password(uid)
    response.headers["Cache-Control"] = "no-store"
    return {"uid": uid, "temporary_password": temporary, "must_change_password": True}


@router.post("/accounts/{uid}/unlock", tags=["helpdesk"])
def unlock(svc: Svc, actor: Staff, uid: str) -> dict[str, Any]:
    with svc.service(Helpdesk, actor) as desk:
        return {"uid": uid, "changed": desk.unlock(uid)}


@router.post("/accounts/{uid}/suspend", tags=["helpdesk"])
def suspend(svc: Svc, actor: Staff, uid: str) -> dict[str, Any]:
    with svc.service(Helpdesk, actor) as desk:
        changed = desk.set_status(uid, AccountStatus.SUSPENDED)
    return {"uid": uid, "changed": changed}


@router.post("/accounts/{uid}/resume", tags=["helpdesk"])
def resume(svc: Svc, actor: Staff, uid: str) -> dict[str, Any]:
    with svc.service(Helpdesk, actor) as desk:
        return {"uid": uid, "changed": desk.set_status(uid, AccountStatus.ACTIVE)}


@router.put("/accounts/{uid}/quota")
def set_quota(svc: Svc, actor: Staff, uid: str, body: Quota) -> dict[str, Any]:
    with svc.accounts(actor) as accounts:
        account = accounts.set_quota(uid, body.quota)
    return {"uid": uid, "quota": account.quota}


@router.post("/accounts/{uid}/aliases")
def add_alias(svc: Svc, actor: Staff, uid: str, body: Alias) -> dict[str, Any]:
    with svc.accounts(actor) as accounts:
        return {"uid": uid, "changed": accounts.add_alias(uid, body.address)}


@router.delete("/accounts/{uid}/aliases/{address}")
def remove_alias(svc: Svc, actor: Staff, uid: str, address: str) -> dict[str, Any]:
    with svc.accounts(actor) as accounts:
        return {"uid": uid, "changed": accounts.remove_alias(uid, address)}


# -- circles (staff: the use case checks the role, and audits) ------------------------------------


class NewCircle(BaseModel):
    """A circle to create; every value is checked by the circle rules (the command line's)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    title: str
    kind: Kind
    policy: Policy = Policy.APPROVAL
    hidden: bool = False
    description: str = ""
    year: int | None = None
    class_code: str | None = None
    owner: str | None = None


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = ""


@router.get("/circles", tags=["circles"])
def list_circles(
    svc: Svc,
    actor: Staff,
    kind: Kind | None = None,
    sort: Sort | None = None,
    limit: int = Query(20, ge=1, le=RANKING_MAX),
) -> dict[str, Any]:
    """All circles by name, or with ``sort`` the first ``limit`` of a ranking."""
    with svc.service(CircleService, actor) as circles:
        if sort is not None:
            ranked = circles.ranked(sort, limit=limit, kind=kind)
            return {"sort": sort.value, "circles": [r.as_dict() for r in ranked]}
        return {"circles": [v.as_dict() for v in circles.find(kind=kind)]}


@router.post("/circles", tags=["circles"], status_code=201)
def create_circle(svc: Svc, actor: Staff, body: NewCircle) -> dict[str, Any]:
    with svc.service(CircleService, actor) as circles:
        made = circles.create(
            body.name,
            body.title,
            body.kind,
            policy=body.policy,
            visibility=Visibility.HIDDEN if body.hidden else Visibility.LISTED,
            description=body.description,
            year=body.year,
            class_code=body.class_code,
            owner=body.owner,
        )
        return circles.show(made.name).as_dict()


@router.get("/circles/{name}", tags=["circles"])
def show_circle(svc: Svc, actor: Staff, name: str) -> dict[str, Any]:
    with svc.service(CircleService, actor) as circles:
        return circles.show(name).as_dict()


@router.get("/circles/{name}/applications", tags=["circles"])
def circle_applications(svc: Svc, actor: Staff, name: str) -> dict[str, Any]:
    with svc.service(CircleService, actor) as circles:
        return {"applications": [a.as_dict() for a in circles.applications(name)]}


@router.post("/circles/{name}/applications/{uid}/approve", tags=["circles"])
def approve_application(svc: Svc, actor: Staff, name: str, uid: str) -> dict[str, Any]:
    with svc.service(CircleService, actor) as circles:
        circles.approve(name, uid)
    return {"circle": name, "uid": uid, "state": "approved"}


@router.post("/circles/{name}/applications/{uid}/reject", tags=["circles"])
def reject_application(
    svc: Svc, actor: Staff, name: str, uid: str, body: Decision
) -> dict[str, Any]:
    with svc.service(CircleService, actor) as circles:
        circles.reject(name, uid, body.reason)
    return {"circle": name, "uid": uid, "state": "rejected"}


@router.get("/circles/{name}/posts", tags=["circles"])
def circle_posts(
    svc: Svc, actor: Staff, name: str, page: int = Query(1, ge=1, le=1_000_000)
) -> dict[str, Any]:
    """A page of the circle's board (20 posts, pinned first, then newest activity), with
    replies; hidden posts shown and marked. Staff moderate; only members post (the portal)."""
    with svc.service(Board, actor) as board:
        return board.page(name, page).as_dict()


def _moderate(svc: Svc, actor: Actor, name: str, post_id: int, action: str) -> dict[str, Any]:
    with svc.service(Board, actor) as board:
        if action in ("hide", "unhide"):
            board.hide(name, post_id, hidden=action == "hide")
        else:
            board.pin(name, post_id, pinned=action == "pin")
    return {"circle": name, "post": post_id, "done": action}


@router.post("/circles/{name}/posts/{post_id}/hide", tags=["circles"])
def hide_post(svc: Svc, actor: Staff, name: str, post_id: int) -> dict[str, Any]:
    return _moderate(svc, actor, name, post_id, "hide")


@router.post("/circles/{name}/posts/{post_id}/unhide", tags=["circles"])
def unhide_post(svc: Svc, actor: Staff, name: str, post_id: int) -> dict[str, Any]:
    return _moderate(svc, actor, name, post_id, "unhide")


@router.post("/circles/{name}/posts/{post_id}/pin", tags=["circles"])
def pin_post(svc: Svc, actor: Staff, name: str, post_id: int) -> dict[str, Any]:
    return _moderate(svc, actor, name, post_id, "pin")


@router.post("/circles/{name}/posts/{post_id}/unpin", tags=["circles"])
def unpin_post(svc: Svc, actor: Staff, name: str, post_id: int) -> dict[str, Any]:
    return _moderate(svc, actor, name, post_id, "unpin")


# -- OpenID Connect clients (admins only: the registry checks the role, and audits) -------------

# The registry names fields as the command line's options; here they are the JSON body's keys.
CLIENT_FIELDS = {
    "name": "name",
    "redirect-uri": "redirect_uris",
    "scope": "scopes",
    "post-logout-uri": "post_logout_uris",
    "id-token-alg": "id_token_alg",
    "backchannel-logout-uri": "backchannel_logout_uri",
    "client_id": "client_id",
}
MAX_URIS = 20


class NewClient(BaseModel):
    """A relying party to register; every value is checked by the registry's rules (the
    command line's)."""

    model_config = ConfigDict(extra="forbid")
    name: str
    redirect_uris: list[str] = Field(min_length=1, max_length=MAX_URIS)
    scopes: list[str] = Field(default_factory=list, max_length=MAX_URIS)
    public: bool = False
    trusted: bool = False
    post_logout_uris: list[str] = Field(default_factory=list, max_length=MAX_URIS)
    id_token_alg: str = ALGORITHMS[0]
    backchannel_logout_uri: str | None = None


def _client_shown(client: Client) -> dict[str, Any]:
    shown = client.as_dict()
    shown["created"] = datetime.datetime.fromtimestamp(client.created, datetime.UTC).isoformat(
        timespec="seconds"
    )
    return shown


@contextmanager
def _named_as_json() -> Iterator[None]:
    """The registry's refusals, naming the body's key rather than the command line's option."""
    try:
        yield
    except ValidationError as error:
        raise ValidationError(CLIENT_FIELDS.get(error.field, error.field), error.rule) from None


@router.get("/oidc/clients", tags=["oidc"])
def list_clients(svc: Svc, actor: Staff) -> dict[str, Any]:
    return {"clients": [_client_shown(c) for c in svc.root.oidc_clients(actor).listing()]}


@router.post("/oidc/clients", tags=["oidc"], status_code=201)
def create_client(svc: Svc, actor: Staff, body: NewClient, response: Response) -> dict[str, Any]:
    """The client's registration, with ``client_secret`` (a confidential client's, shown this
    once; null for a public client)."""
    with _named_as_json():
        added = svc.root.oidc_clients(actor).add(
            body.name,
            body.redirect_uris,
            scopes=body.scopes,
            public=body.public,
            trusted=body.trusted,
            post_logout_uris=body.post_logout_uris,
            id_token_alg=body.id_token_alg,
            backchannel_logout_uri=body.backchannel_logout_uri,
        )
    response.headers["Cache-Control"] = "no-store"
    return {**_client_shown(added.client), "client_secret": added.secret}


@router.get("/oidc/clients/{client_id}", tags=["oidc"])
def show_client(svc: Svc, actor: Staff, client_id: str) -> dict[str, Any]:
    return _client_shown(svc.root.oidc_clients(actor).get(client_id))


@router.delete("/oidc/clients/{client_id}", tags=["oidc"])
def delete_client(svc: Svc, actor: Staff, client_id: str) -> dict[str, Any]:
    """The client goes, with its tokens and the consents given to it."""
    with _named_as_json():
        svc.root.oidc_clients(actor).remove(client_id)
    return {"client_id": client_id, "removed": True}


@router.post("/oidc/clients/{client_id}/rotate-secret", tags=["oidc"])
def rotate_client_secret(
    svc: Svc, actor: Staff, client_id: str, response: Response
) -> dict[str, Any]:
    """A new secret (the old one stops at once), shown this once."""
    with _named_as_json():
        secret = svc.root.oidc_clients(actor).rotate_secret(client_id)
    response.headers["Cache-Control"] = "no-store"
    return {"client_id": client_id, "client_secret": secret}
