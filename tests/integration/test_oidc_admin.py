"""OpenID Connect clients through the REST API (``/api/v1/oidc/clients``), against the running
web service: an admin's token registers, lists, shows, rotates and removes clients through the
same registry as ``alumail oidc client`` (same rules, same audit); a client registered here
signs a person in; each bad input is refused with the field named; the helpdesk is refused."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from mailstack.context import INTROSPECTION_CLIENT, WEBMAIL_CLIENT
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from tests.oidc import (
    CALLBACK,
    Rp,
    close_browsers,  # noqa: F401 -- an autouse fixture
    code_for,
    exchange,
    signed_in,
)
from tests.support import NewAccount
from tests.web import ApiTokens, bearer, client, staff_tokens

pytestmark = pytest.mark.integration
CLIENTS = "/api/v1/oidc/clients"


@pytest.fixture(scope="module")
def tokens(live_stack: Settings) -> ApiTokens:
    return staff_tokens(live_stack)


def new_client(**extra: Any) -> dict[str, Any]:
    return {"name": f"api-app-{secrets.token_hex(4)}", "redirect_uris": [CALLBACK], **extra}


def audited(settings: Settings, action: str, target: str) -> list[dict[str, Any]]:
    return AuditLog(audit_path(settings.state_dir)).query(target=target, action=action)


def test_an_admin_registers_a_client_that_signs_a_person_in_then_rotates_and_removes_it(
    live_stack: Settings, tokens: ApiTokens, new_account: NewAccount
) -> None:
    admin = bearer(tokens["admin"])
    body = new_client(
        scopes=["profile", "email"],
        trusted=True,
        backchannel_logout_uri="https://app.example/backchannel",
    )
    with client(live_stack) as api:
        made = api.post(CLIENTS, json=body, headers=admin)
        assert made.status_code == 201, made.text
        assert made.headers["cache-control"] == "no-store"
        shown = made.json()
        client_id, secret = shown["client_id"], shown["client_secret"]
        assert secret and shown["type"] == "confidential" and shown["trusted"] is True
        assert shown["scopes"] == ["openid", "profile", "email"]
        assert shown["redirect_uris"] == [CALLBACK]
        assert shown["backchannel_logout_uri"] == "https://app.example/backchannel"
        # Shown and listed again, never with the secret or its digest.
        again = api.get(f"{CLIENTS}/{client_id}", headers=admin)
        assert again.status_code == 200
        assert again.json() == {k: v for k, v in shown.items() if k != "client_secret"}
        listed = api.get(CLIENTS, headers=admin).json()["clients"]
        assert client_id in [c["client_id"] for c in listed]
        assert secret not in str(listed) and "digest" not in str(listed)

        # The client works: a person signs in and the secret is accepted at the token endpoint.
        account, password = new_account()
        http = signed_in(live_stack, account, password)
        code, verifier = code_for(http, Rp(client_id, secret))
        assert exchange(http, Rp(client_id, secret), code, verifier).status_code == 200

        rotated = api.post(f"{CLIENTS}/{client_id}/rotate-secret", headers=admin)
        assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
        fresh = rotated.json()["client_secret"]
        assert fresh and fresh != secret and rotated.json()["client_id"] == client_id
        code, verifier = code_for(http, Rp(client_id, secret))
        old = exchange(http, Rp(client_id, secret), code, verifier)
        assert old.status_code == 401 and old.json()["error"] == "invalid_client"
        code, verifier = code_for(http, Rp(client_id, fresh))
        assert exchange(http, Rp(client_id, fresh), code, verifier).status_code == 200

        gone = api.delete(f"{CLIENTS}/{client_id}", headers=admin)
        assert gone.status_code == 200 and gone.json() == {"client_id": client_id, "removed": True}
        assert api.get(f"{CLIENTS}/{client_id}", headers=admin).status_code == 404
    admin_uid = tokens["names"]["admin"]
    for action, target in [
        ("oidc-client-add", body["name"]),
        ("oidc-client-rotate-secret", client_id),
        ("oidc-client-remove", client_id),
    ]:
        lines = audited(live_stack, action, target)
        assert lines and lines[-1]["outcome"] == "ok" and lines[-1]["actor"] == admin_uid
        assert secret not in str(lines) and fresh not in str(lines)


def test_a_public_client_gets_no_secret(live_stack: Settings, tokens: ApiTokens) -> None:
    with client(live_stack) as api:
        made = api.post(CLIENTS, json=new_client(public=True), headers=bearer(tokens["admin"]))
        assert made.status_code == 201, made.text
        assert made.json()["client_secret"] is None and made.json()["type"] == "public"
        rotate = api.post(
            f"{CLIENTS}/{made.json()['client_id']}/rotate-secret", headers=bearer(tokens["admin"])
        )
    assert rotate.status_code == 422 and rotate.json()["error"]["field"] == "client_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (new_client(shoe_size=44), "shoe_size"),
        ({"redirect_uris": [CALLBACK]}, "name"),
        (new_client(name=""), "name"),
        (new_client(redirect_uris=[]), "redirect_uris"),
        (new_client(redirect_uris=["http://app.example/callback"]), "redirect_uris"),
        (new_client(redirect_uris=["https://app.example/callback#x"]), "redirect_uris"),
        (new_client(redirect_uris=["javascript:alert(1)"]), "redirect_uris"),
        (new_client(redirect_uris="https://app.example/callback"), "redirect_uris"),
        (new_client(post_logout_uris=["http://app.example/bye"]), "post_logout_uris"),
        (new_client(backchannel_logout_uri="http://app.example/logout"), "backchannel_logout_uri"),
        (new_client(backchannel_logout_uri="https://app.example/l#x"), "backchannel_logout_uri"),
        (new_client(scopes=["openid", "admin"]), "scopes"),
        (new_client(id_token_alg="none"), "id_token_alg"),
        (new_client(public="maybe"), "public"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_bad_input_is_refused_naming_its_field_and_nothing_is_registered(
    live_stack: Settings, tokens: ApiTokens, body: dict[str, Any], field: str
) -> None:
    with client(live_stack) as api:
        before = api.get(CLIENTS, headers=bearer(tokens["admin"])).json()["clients"]
        answer = api.post(CLIENTS, json=body, headers=bearer(tokens["admin"]))
        after = api.get(CLIENTS, headers=bearer(tokens["admin"])).json()["clients"]
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["type"] == "validation" and error["field"] == field, error
    assert field in error["fields"]
    assert after == before


def test_a_second_client_of_the_same_name_is_a_conflict(
    live_stack: Settings, tokens: ApiTokens
) -> None:
    body = new_client()
    with client(live_stack) as api:
        assert api.post(CLIENTS, json=body, headers=bearer(tokens["admin"])).status_code == 201
        twice = api.post(CLIENTS, json=body, headers=bearer(tokens["admin"]))
    assert twice.status_code == 409 and twice.json()["error"]["type"] == "conflict"
    assert body["name"] in twice.json()["error"]["message"]


def test_an_unknown_client_is_404_for_show_remove_and_rotate(
    live_stack: Settings, tokens: ApiTokens
) -> None:
    admin = bearer(tokens["admin"])
    with client(live_stack) as api:
        answers = [
            api.get(f"{CLIENTS}/no-such-client", headers=admin),
            api.delete(f"{CLIENTS}/no-such-client", headers=admin),
            api.post(f"{CLIENTS}/no-such-client/rotate-secret", headers=admin),
        ]
    for answer in answers:
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"]["type"] == "not_found"


def test_the_helpdesk_is_refused_every_operation_and_the_refusal_is_audited(
    live_stack: Settings, tokens: ApiTokens
) -> None:
    admin, desk = bearer(tokens["admin"]), bearer(tokens["helpdesk"])
    body = new_client()
    with client(live_stack) as api:
        target = api.post(CLIENTS, json=new_client(), headers=admin).json()["client_id"]
        answers = [
            api.get(CLIENTS, headers=desk),
            api.post(CLIENTS, json=body, headers=desk),
            api.get(f"{CLIENTS}/{target}", headers=desk),
            api.delete(f"{CLIENTS}/{target}", headers=desk),
            api.post(f"{CLIENTS}/{target}/rotate-secret", headers=desk),
        ]
        assert api.get(f"{CLIENTS}/{target}", headers=admin).status_code == 200  # still there
        names = [c["name"] for c in api.get(CLIENTS, headers=admin).json()["clients"]]
        unsigned = api.get(CLIENTS)
    for answer in answers:
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["type"] == "access_denied"
    assert body["name"] not in names
    assert unsigned.status_code == 401
    desk_uid = tokens["names"]["helpdesk"]
    for action, on in [
        ("oidc-client-add", body["name"]),
        ("oidc-client-remove", target),
        ("oidc-client-rotate-secret", target),
    ]:
        lines = audited(live_stack, action, on)
        assert lines[-1]["outcome"] == "denied" and lines[-1]["actor"] == desk_uid


@pytest.mark.parametrize("stack_client", [INTROSPECTION_CLIENT, WEBMAIL_CLIENT])
def test_the_stack_s_own_clients_cannot_be_removed_or_rotated(
    live_stack: Settings, tokens: ApiTokens, stack_client: str
) -> None:
    admin = bearer(tokens["admin"])
    with client(live_stack) as api:
        removed = api.delete(f"{CLIENTS}/{stack_client}", headers=admin)
        rotated = api.post(f"{CLIENTS}/{stack_client}/rotate-secret", headers=admin)
        still = api.get(f"{CLIENTS}/{stack_client}", headers=admin)
    for answer in (removed, rotated):
        assert answer.status_code == 422 and answer.json()["error"]["field"] == "client_id"
        assert "kept by `alumail up`" in answer.json()["error"]["message"]
    assert still.status_code == 200 and still.json()["type"] == "confidential"
