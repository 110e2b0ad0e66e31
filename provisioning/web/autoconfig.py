"""Mail client self-configuration over HTTP: Thunderbird's autoconfig, Outlook's autodiscover
(POX and JSON), Apple's profile for the signed-in alumnus, and the MTA-STS policy. The documents
come from :mod:`mailstack.publish.autoconfig`; this module only serves them, in the reader's
language: the request's (cookie, else Accept-Language: Thunderbird sends its own locale's) for
Thunderbird's document, the signed-in person's ``preferredLanguage`` (else the request's) for
Apple's profile. Outlook's documents hold no text a person reads and stay English."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from identity.errors import ValidationError
from mailstack.publish import autoconfig, dnsrecords
from provisioning import i18n
from provisioning.web import language, sessions
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import client_address

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
XML = "application/xml; charset=utf-8"


@router.get("/mail/config-v1.1.xml")
@router.get("/.well-known/autoconfig/mail/config-v1.1.xml")
def thunderbird(request: Request, svc: Svc) -> Response:
    svc.limiter.hit("lookup", client_address(request), svc.limits.lookup_client)
    # /.well-known/ is a machine prefix (English by default): choose the language here.
    with i18n.speaking(language.chosen(request.scope)) as spoken:
        document = autoconfig.thunderbird(svc.settings, i18n._, spoken)
    return Response(document, media_type=XML)


@router.post("/autodiscover/autodiscover.xml")
@router.post("/Autodiscover/Autodiscover.xml")
async def outlook(request: Request, svc: Svc) -> Response:
    svc.limiter.hit("lookup", client_address(request), svc.limits.lookup_client)
    body = await request.body()
    try:
        address = autoconfig.parse_request(body)
    except ValidationError as error:
        return Response(autoconfig.outlook_error(error.message), media_type=XML)
    return Response(autoconfig.outlook(svc.settings, address), media_type=XML)


@router.get("/autodiscover/autodiscover.json")
@router.get("/autodiscover/autodiscover.json/v1.0/{address}")
def outlook_json(request: Request, svc: Svc) -> Response:
    # Outlook sends Protocol= in varying case; the parameter and its value match either way.
    params = {k.lower(): v for k, v in request.query_params.items()}
    if params.get("protocol", "").lower() != "autodiscoverv1":
        return JSONResponse(
            {
                "ErrorCode": "InvalidProtocol",
                "ErrorMessage": "The given protocol value is invalid. Supported values are "
                "'AutodiscoverV1'.",
            },
            status_code=400,
        )
    return JSONResponse(autoconfig.autodiscover_v1(svc.settings))


@router.get("/account/clients/apple.mobileconfig")
def apple(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    actor = sessions.session_actor(svc.root.signin, session)
    with svc.accounts(actor) as accounts:
        account = accounts.get(session.uid)
    with i18n.speaking(account.preferred_language):
        profile = autoconfig.apple_profile(svc.settings, account.mail, account.display_name, i18n._)
    return Response(
        profile,
        media_type="application/x-apple-aspen-config",
        headers={"Content-Disposition": f'attachment; filename="{account.uid}.mobileconfig"'},
    )


@router.get("/.well-known/mta-sts.txt")
def mta_sts(svc: Svc) -> Response:
    return PlainTextResponse(dnsrecords.mta_sts_policy(svc.settings))
