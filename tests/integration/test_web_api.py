"""The REST API against the running stack (the web service `up` started), with httpx: bearer
tokens from the CLI, the same role rules and audit as the CLI, JSON errors naming the field."""

from __future__ import annotations

import secrets

import pytest

from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from tests import mail
from tests.support import NewAccount, alumail
from tests.web import ApiTokens, bearer, client, staff_tokens

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tokens(live_stack: Settings) -> ApiTokens:
    """An admin and a helpdesk member, each with an API token issued by the CLI."""
    return staff_tokens(live_stack)


def test_openapi_document_lists_the_account_operations(live_stack: Settings) -> None:
    with client(live_stack) as http:
        doc = http.get("/openapi.json").json()
    assert "/api/v1/accounts" in doc["paths"]
    assert "post" in doc["paths"]["/api/v1/accounts/{uid}/reset-password"]


def test_no_token_and_bad_token_are_refused_with_the_error_shape(
    live_stack: Settings, tokens: ApiTokens
) -> None:
    with client(live_stack) as http:
        missing = http.get("/api/v1/accounts")
        forged = http.get("/api/v1/accounts", headers=bearer(tokens["admin"][:-2] + "xx"))
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["error"]["type"] == "unauthenticated"
    assert forged.status_code == 401
    assert forged.json() == {
        "error": {"type": "unauthenticated", "message": "API token: not valid"}
    }


def test_admin_creates_shows_modifies_and_deletes_an_account(
    live_stack: Settings, tokens: ApiTokens
) -> None:
    uid = f"api.{secrets.token_hex(3)}"
    headers = bearer(tokens["admin"])
    with client(live_stack) as http:
        created = http.post(
            "/api/v1/accounts",
            json={"uid": uid, "display_name": "刘洋", "password": "Api-Created-Pass-1"},
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["mail"] == f"{uid}@{live_stack.domain}"
        assert mail.imap_login_ok(live_stack, uid, "Api-Created-Pass-1")
        shown = http.get(f"/api/v1/accounts/{uid}", headers=headers).json()
        assert shown["quota"] == 5 * 1024**3 and "quota_used" in shown
        changed = http.patch(
            f"/api/v1/accounts/{uid}", json={"phone": "+86 21 5474 2208"}, headers=headers
        ).json()
        assert changed["changes"]["phone"] == [None, "+86 21 5474 2208"]
        listed = http.get("/api/v1/accounts", params={"search": uid}, headers=headers).json()
        assert [a["uid"] for a in listed["accounts"]] == [uid]
        deleted = http.delete(f"/api/v1/accounts/{uid}", headers=headers)
        assert deleted.status_code == 200 and deleted.json()["archive"]
        assert http.get(f"/api/v1/accounts/{uid}", headers=headers).status_code == 404
    lines = AuditLog(audit_path(live_stack.state_dir)).query(target=uid)
    assert [(x["actor"], x["action"]) for x in lines][:2] == [
        (tokens["names"]["admin"], "create"),
        (tokens["names"]["admin"], "modify"),
    ]


def test_validation_errors_name_the_field(live_stack: Settings, tokens: ApiTokens) -> None:
    headers = bearer(tokens["admin"])
    with client(live_stack) as http:
        bad_uid = http.post(
            "/api/v1/accounts", json={"uid": "Bad Name", "display_name": "X"}, headers=headers
        )
        missing = http.post("/api/v1/accounts", json={"uid": "abc.def"}, headers=headers)
        unknown = http.post(
            "/api/v1/accounts",
            json={"uid": "abc.def", "display_name": "X", "shoe_size": 44},
            headers=headers,
        )
    assert bad_uid.status_code == 422
    assert bad_uid.json()["error"]["field"] == "uid"
    assert bad_uid.json()["error"]["type"] == "validation"
    assert missing.status_code == 422 and missing.json()["error"]["field"] == "display_name"
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "shoe_size"


def test_helpdesk_token_resets_unlocks_suspends_but_cannot_create_or_touch_staff(
    live_stack: Settings, tokens: ApiTokens, new_account: NewAccount
) -> None:
    account, _ = new_account()
    headers = bearer(tokens["helpdesk"])
    with client(live_stack) as http:
        reset = http.post(f"/api/v1/accounts/{account.uid}/reset-password", headers=headers)
        assert reset.status_code == 200
        temporary = reset.json()["temporary_password"]
        assert reset.headers["cache-control"] == "no-store"
        # Mail refuses the temporary password until the alumnus chooses a new one.
        assert not mail.imap_login_ok(live_stack, account.uid, temporary)
        status = http.get(f"/api/v1/accounts/{account.uid}/status", headers=headers).json()
        assert status["must_change_password"] is True
        assert http.post(f"/api/v1/accounts/{account.uid}/suspend", headers=headers).json()[
            "changed"
        ]
        assert http.post(f"/api/v1/accounts/{account.uid}/resume", headers=headers).json()[
            "changed"
        ]
        create = http.post(
            "/api/v1/accounts", json={"uid": "desk.made", "display_name": "X"}, headers=headers
        )
        on_admin = http.post(
            f"/api/v1/accounts/{tokens['names']['admin']}/reset-password", headers=headers
        )
        quota = http.put(
            f"/api/v1/accounts/{account.uid}/quota", json={"quota": "9G"}, headers=headers
        )
    assert create.status_code == 403 and create.json()["error"]["type"] == "access_denied"
    assert on_admin.status_code == 403
    assert quota.status_code == 403
    denied = AuditLog(audit_path(live_stack.state_dir)).query(
        target=tokens["names"]["admin"], action="reset-password"
    )
    assert denied and denied[-1]["outcome"] == "denied"


def test_a_revoked_token_stops_working(live_stack: Settings, tokens: ApiTokens) -> None:
    uid = tokens["names"]["helpdesk"]
    token = alumail(live_stack, "token", "issue", uid, "--label", "short-lived", check=True)
    text = token.stdout.strip()
    token_id = text[len("alm_") :].split("_", 1)[0]
    with client(live_stack) as http:
        assert http.get("/api/v1/accounts", headers=bearer(text)).status_code == 200
        alumail(live_stack, "token", "revoke", token_id, check=True)
        assert http.get("/api/v1/accounts", headers=bearer(text)).status_code == 401
    listed = alumail(live_stack, "token", "list", "--json", check=True).stdout
    assert text.split("_", 2)[2] not in listed  # the secret is never shown again


def test_tokens_are_only_for_staff(live_stack: Settings, new_account: NewAccount) -> None:
    account, _ = new_account()
    refused = alumail(live_stack, "token", "issue", account.uid, "--label", "x")
    assert refused.returncode == 4
    assert "uid: " in refused.stderr and "not a staff member" in refused.stderr


def test_uid_availability(live_stack: Settings, new_account: NewAccount) -> None:
    account, _ = new_account()
    with client(live_stack) as http:
        taken = http.get("/api/v1/uid-available", params={"uid": account.uid}).json()
        free = http.get("/api/v1/uid-available", params={"uid": "nobody.has.this"}).json()
        bad = http.get("/api/v1/uid-available", params={"uid": "Root"}).json()
    assert taken == {"uid": account.uid, "available": False, "reason": "is already taken"}
    assert free["available"] is True
    assert bad["available"] is False and bad["reason"] == "must be lowercase"
