"""The admin console's operations pages: DNS records and DKIM keys (``alumail dns``, ``dns
check``, ``dkim show``) and the OpenID Connect clients (``alumail oidc client``). Admins only,
as the rest of the console (provisioning/web/admin.py): the same sign-in, 403 for anyone else,
a CSRF token on every form, the same use cases and audit as the CLI and the REST API, and
removing a client asks first.

Rotating or retiring a DKIM key is not offered here: a new key is made by OpenDKIM's
``opendkim-genkey`` and handed to the ``opendkim`` user, and signing with it means bringing the
stack up again (OpenDKIM rereads its configuration), which only the host's root may do; the
web service runs as the unprivileged ``alumail``. The page shows the commands instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from identity.errors import NotFoundError, ValidationError
from identity.roles import Actor
from mailstack.errors import DaemonError
from mailstack.publish import dnsrecords
from provisioning.i18n import N_
from provisioning.oidc.clients import STACK_CLIENTS
from provisioning.oidc.rules import SCOPES
from provisioning.operations import dns
from provisioning.web.admin import admin_actor
from provisioning.web.confirm import Confirmed, ask, confirmed
from provisioning.web.requests import Services, services
from provisioning.web.security import CSRF_FIELD

router = APIRouter(prefix="/admin", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
Text = Annotated[str, Form()]
Texts = Annotated[list[str], Form()]
# A check asks each name once; a resolver that does not answer fails the page quickly.
CHECK_TIMEOUT = 3.0


def _errors(error: ValidationError) -> dict[str, str]:
    return getattr(error, "errors", None) or {error.field: error.rule}


# -- DNS and DKIM ------------------------------------------------------------------------------


def _dns_page(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    keys = svc.root.signing_keys()
    records = dns.expected_records(svc.settings, keys)
    in_use = keys.in_use()
    return svc.page(
        request,
        "admin_dns.html",
        status,
        actor=actor,
        records=records,
        zone=dnsrecords.zone(records, svc.settings.domain),
        selector=in_use.selector if in_use else None,
        selectors=keys.on_disk(),
        domain=svc.settings.domain,
        **{"form": {}, "errors": {}, **extra},
    )


@router.get("/dns")
def dns_records(request: Request, svc: Svc) -> Response:
    return _dns_page(request, svc, admin_actor(request, svc))


@router.post("/dns/check")
def dns_check(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    nameserver: Text = "",
    port: Text = "",
) -> Response:
    """What ``alumail dns check [--nameserver --port]`` compares, record by record."""
    svc.csrf.check(request, csrf)
    actor = admin_actor(request, svc)
    form = {"nameserver": nameserver, "port": port}
    try:
        address, number = dns.nameserver_of(nameserver, port)
    except ValidationError as error:
        return _dns_page(request, svc, actor, 422, form=form, errors=_errors(error))
    expected = dns.expected_records(svc.settings, svc.root.signing_keys())
    lookup = dnsrecords.resolver_lookup(address, number, timeout=CHECK_TIMEOUT)
    try:
        checked, differences = dns.check(expected, lookup)
    except DaemonError:
        return _dns_page(
            request,
            svc,
            actor,
            504,
            form=form,
            failure=N_("The resolver did not answer; nothing was checked."),
        )
    return _dns_page(request, svc, actor, form=form, checked=checked, differ=len(differences))


# -- OpenID Connect clients --------------------------------------------------------------------

FIELD_NAMES = {"redirect-uri": "redirect_uris", "scope": "scopes"}


def _clients_page(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    return svc.page(
        request,
        "admin_clients.html",
        status,
        actor=actor,
        clients=svc.root.oidc_clients(actor).listing(),
        stack_clients=STACK_CLIENTS,
        scopes=SCOPES,
        **{"form": {"scopes": ["openid"]}, "errors": {}, **extra},
    )


@router.get("/clients")
def clients(request: Request, svc: Svc) -> Response:
    return _clients_page(request, svc, admin_actor(request, svc))


@router.post("/clients")
def client_add(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    name: Text = "",
    redirect_uris: Text = "",
    scopes: Texts | None = None,
    public: Text = "",
    trusted: Text = "",
) -> Response:
    """As ``alumail oidc client add NAME --redirect-uri ... [--scope ...] [--public]
    [--trusted]``; the secret is shown on this answer only."""
    svc.csrf.check(request, csrf)
    actor = admin_actor(request, svc)
    chosen = scopes or []
    form = {
        "name": name,
        "redirect_uris": redirect_uris,
        "scopes": chosen,
        "public": public == "yes",
        "trusted": trusted == "yes",
    }
    try:
        added = svc.root.oidc_clients(actor).add(
            name,
            redirect_uris.split(),
            scopes=chosen,
            public=public == "yes",
            trusted=trusted == "yes",
        )
    except ValidationError as error:
        shown = {FIELD_NAMES.get(f, f): rule for f, rule in _errors(error).items()}
        return _clients_page(request, svc, actor, 422, form=form, errors=shown)
    return _clients_page(
        request,
        svc,
        actor,
        note=N_("Client {name} registered.").format(name=added.client.name),
        shown_id=added.client.client_id,
        secret=added.secret,
    )


def _stack_client(client_id: str) -> None:
    """The stack's own clients are kept by ``alumail up``: the use case refuses them too;
    refused here before the question is asked."""
    if client_id in STACK_CLIENTS:
        raise ValidationError(
            "client_id", N_("{client_id} is the stack's own client").format(client_id=client_id)
        )


@router.post("/clients/{client_id}/{action}")
def client_change(
    request: Request,
    svc: Svc,
    client_id: str,
    action: str,
    csrf: CsrfToken = "",
    answer: Confirmed = "",
) -> Response:
    """Remove a client (asked first: its tokens and consents go) or give it a new secret (the
    old one stops at once, also asked first)."""
    svc.csrf.check(request, csrf)
    actor = admin_actor(request, svc)
    if action not in ("remove", "rotate-secret"):
        raise NotFoundError(f"no client action {action!r}")
    registry = svc.root.oidc_clients(actor)
    found = registry.get(client_id)  # 404 for an unknown one
    try:
        _stack_client(client_id)
        if action == "rotate-secret" and found.public:
            raise ValidationError(
                "client_id",
                N_("{client_id} is a public client: it has no secret").format(client_id=client_id),
            )
    except ValidationError as error:
        return _clients_page(request, svc, actor, 422, failure=error.rule)
    if not confirmed(answer):
        if action == "remove":
            question = N_("Remove the client {name}?")
            consequence = N_(
                "Its sign-ins stop at once: every token it holds is revoked and the consents "
                "given to it go."
            )
            button = N_("Remove the client")
        else:
            question = N_("Give the client {name} a new secret?")
            consequence = N_(
                "The current secret stops at once: the application cannot sign anyone in until "
                "it is given the new one, which is shown once."
            )
            button = N_("Make a new secret")
        return ask(
            request,
            svc,
            question=question.format(name=found.name),
            consequence=consequence,
            action=f"/admin/clients/{client_id}/{action}",
            button=button,
            back="/admin/clients",
        )
    if action == "remove":
        registry.remove(client_id)
        return _clients_page(
            request, svc, actor, note=N_("Client {name} removed.").format(name=found.name)
        )
    secret = registry.rotate_secret(client_id)
    return _clients_page(
        request,
        svc,
        actor,
        note=N_("Client {name} has a new secret.").format(name=found.name),
        shown_id=client_id,
        secret=secret,
    )
