"""The OpenID Connect provider against a third-party client that shares none of its code: the
client here is plain httpx with PyJWT (the provider signs with Authlib and joserfc). A client
registered with the CLI signs an alumnus in through discovery, code + PKCE, token and
userinfo, and checks the ID token's signature against the JWKS. Then each bad input gets the
protocol's error and nothing else."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from identity.errors import AccessDeniedError
from identity.roles import Actor, Role
from mailstack.settings import Settings
from provisioning.audit import AuditLog, audit_path
from provisioning.oidc.clients import Clients
from provisioning.store import Store, digest
from tests.oidc import (
    CALLBACK,
    Rp,
    browser,
    cli,
    close_browsers,  # noqa: F401 -- an autouse fixture
    code_for,
    exchange,
    pkce,
    register,
    register_with_the_program,
    signed_in,
)
from tests.support import NewAccount, alumail, use_case
from tests.web import form_token

pytestmark = pytest.mark.integration


def userinfo(http: httpx.Client, access_token: str) -> httpx.Response:
    return http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})


@pytest.fixture(scope="module")
def rp(live_stack: Settings) -> Rp:
    return register_with_the_program(
        live_stack, "--scope", "profile", "--scope", "email", "--trusted"
    )


@pytest.fixture(scope="module")
def public_app(live_stack: Settings) -> Rp:
    return register(live_stack, "--public", "--trusted")


def test_a_third_party_client_signs_an_alumnus_in(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    app = register(live_stack, "--scope", "profile", "--scope", "email")  # not trusted: consent
    http = signed_in(live_stack, account, password)
    config = http.get("/.well-known/openid-configuration").json()
    assert config["issuer"] == live_stack.public_url.rstrip("/")
    assert "S256" in config["code_challenge_methods_supported"]
    code, verifier = code_for(http, app)
    answer = exchange(http, app, code, verifier)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    assert tokens["token_type"].lower() == "bearer" and 0 < tokens["expires_in"] <= 600
    jwks = jwt.PyJWKSet.from_dict(httpx.get(config["jwks_uri"]).json())
    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        tokens["id_token"],
        key.key,
        algorithms=["RS256"],
        audience=app.client_id,
        issuer=config["issuer"],
    )
    info = userinfo(http, tokens["access_token"]).json()
    assert info["sub"] == claims["sub"] and len(info["sub"]) == 36  # the entry's entryUUID
    assert info["preferred_username"] == account.uid
    assert info["email"] == account.mail and info["email_verified"] is True
    # A second sign-in with the same scopes asks no consent again.
    assert (
        http.get(
            "/oidc/authorize",
            params={
                "response_type": "code",
                "client_id": app.client_id,
                "redirect_uri": CALLBACK,
                "scope": "openid profile email",
                "code_challenge": pkce()[1],
                "code_challenge_method": "S256",
            },
        ).status_code
        == 302
    )


def test_scopes_are_those_the_client_was_registered_for(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    narrow = register(live_stack, "--trusted")  # openid only
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, narrow, scope="openid profile email")
    tokens = exchange(http, narrow, code, verifier).json()
    assert tokens["scope"] == "openid"
    assert set(userinfo(http, tokens["access_token"]).json()) == {"sub"}


def test_an_unknown_client_or_an_unregistered_redirect_gets_a_page_not_a_redirect(
    live_stack: Settings, rp: Rp
) -> None:
    http = browser(live_stack)
    base = {
        "response_type": "code",
        "scope": "openid",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    for client_id, uri in [
        ("no-such-client", CALLBACK),
        (rp.client_id, CALLBACK + "/"),
        (rp.client_id, "http://127.0.0.1:9/callback?x=1"),
        (rp.client_id, "https://evil.example/callback"),
    ]:
        answer = http.get(
            "/oidc/authorize", params={**base, "client_id": client_id, "redirect_uri": uri}
        )
        assert answer.status_code == 400, (client_id, uri, answer.status_code)
        assert "location" not in answer.headers
        assert "refused" in answer.text


def test_a_public_client_must_send_pkce(
    live_stack: Settings, new_account: NewAccount, public_app: Rp
) -> None:
    account, password = new_account()
    app = public_app
    assert app.secret is None
    http = signed_in(live_stack, account, password)
    answer = http.get(
        "/oidc/authorize",
        params={
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": CALLBACK,
            "scope": "openid",
            "state": "s1",
        },
    )
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["invalid_request"] and query["state"] == ["s1"]
    # With PKCE it works, and the token needs the verifier (no secret to show).
    code, _ = code_for(http, app)
    plain = http.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "client_id": app.client_id,
        },
    )
    assert plain.status_code == 400 and plain.json()["error"] == "invalid_request"


def test_a_wrong_pkce_verifier_is_refused(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, _ = code_for(http, rp)
    answer = exchange(http, rp, code, pkce()[0])
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_a_wrong_client_secret_is_refused(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    answer = exchange(http, Rp(rp.client_id, "not-the-secret"), code, verifier)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"


def test_a_reused_code_is_refused_and_its_tokens_revoked(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    first = exchange(http, rp, code, verifier).json()
    assert userinfo(http, first["access_token"]).status_code == 200
    again = exchange(http, rp, code, verifier)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert userinfo(http, first["access_token"]).status_code == 401


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_grant(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    first = exchange(http, rp, code, verifier).json()

    def refresh(token: str) -> httpx.Response:
        data = {"grant_type": "refresh_token", "refresh_token": token}
        return http.post("/oidc/token", data=data, auth=(rp.client_id, rp.secret or ""))

    second = refresh(first["refresh_token"])
    assert second.status_code == 200, second.text
    newer = second.json()
    assert newer["refresh_token"] != first["refresh_token"]
    assert userinfo(http, newer["access_token"]).status_code == 200
    replay = refresh(first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert userinfo(http, newer["access_token"]).status_code == 401
    assert refresh(newer["refresh_token"]).status_code == 400


def test_revocation_and_introspection(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    tokens = exchange(http, rp, code, verifier).json()
    auth = (rp.client_id, rp.secret or "")
    seen = http.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth)
    assert seen.json()["active"] is True and seen.json()["username"] == account.uid
    gone = http.post("/oidc/revoke", data={"token": tokens["access_token"]}, auth=auth)
    assert gone.status_code == 200
    assert userinfo(http, tokens["access_token"]).status_code == 401
    seen = http.post("/oidc/introspect", data={"token": tokens["access_token"]}, auth=auth)
    assert seen.json() == {"active": False}
    assert userinfo(http, "made-up-token").status_code == 401


def test_a_suspended_alumnus_gets_no_token(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    alumail(live_stack, "account", "suspend", account.uid, check=True)
    answer = exchange(http, rp, code, verifier)
    assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_consent_needs_the_form_token(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    app = register(live_stack)
    http = signed_in(live_stack, account, password)
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    page = http.get("/oidc/authorize", params=params)
    assert page.status_code == 200 and "Allow" in page.text
    forged = http.post(
        "/oidc/authorize", data={**params, "decision": "allow", "csrf_token": "forged"}
    )
    assert forged.status_code == 403 and "location" not in forged.headers


def test_keys_rotate_keeps_the_old_key_published(live_stack: Settings) -> None:
    before = {k["kid"] for k in httpx.get(f"{live_stack.public_url}/oidc/jwks").json()["keys"]}
    assert cli(live_stack, "oidc", "keys", "rotate").exit_code == 0
    after = {k["kid"] for k in httpx.get(f"{live_stack.public_url}/oidc/jwks").json()["keys"]}
    assert before < after and len(after - before) == 2


def test_client_registration_refuses_bad_redirect_uris(live_stack: Settings) -> None:
    for uri, rule in [
        ("http://example.org/cb", "loopback"),
        ("https://example.org/cb#frag", "fragment"),
        ("/relative", "absolute"),
        ("javascript:alert(1)", "absolute"),
    ]:
        done = cli(live_stack, "oidc", "client", "add", "x", "--redirect-uri", uri)
        assert done.exit_code == 4, (uri, done.stderr)
        assert "redirect-uri" in done.stderr and rule in done.stderr, done.stderr


def test_a_public_client_with_pkce_gets_tokens(
    live_stack: Settings, new_account: NewAccount, public_app: Rp
) -> None:
    account, password = new_account()
    app = public_app
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, app)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "client_id": app.client_id,
        "code_verifier": verifier,
    }
    answer = http.post("/oidc/token", data=data)
    assert answer.status_code == 200, answer.text
    assert userinfo(http, answer.json()["access_token"]).status_code == 200


def test_signing_in_first_goes_through_the_portal_sign_in(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = browser(live_stack)
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "state": "st",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    asked = http.get("/oidc/authorize", params=params)
    assert asked.status_code == 303 and asked.headers["location"].startswith("/login?next=")
    target = parse_qs(urlsplit(asked.headers["location"]).query)["next"][0]
    assert target.startswith("/oidc/authorize?")
    wrong = http.post(
        "/login",
        data={
            "csrf_token": form_token(http, "/login"),
            "login": account.uid,
            "password": "Not-The-Password-1",
            "next": target,
        },
    )
    assert wrong.status_code == 401  # the portal's refusal; no code
    done = http.post(
        "/login",
        data={
            "csrf_token": form_token(http, "/login"),
            "login": account.uid,
            "password": password,
            "next": target,
        },
    )
    assert done.status_code == 303 and done.headers["location"] == target
    answer = http.get(target)
    assert answer.status_code == 302 and answer.headers["location"].startswith(CALLBACK + "?code=")


def test_an_es256_client_gets_es256_id_tokens_and_changes_are_audited(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    app = register(live_stack, "--trusted", "--id-token-alg", "ES256")
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, app)
    tokens = exchange(http, app, code, verifier).json()
    jwks = jwt.PyJWKSet.from_dict(http.get("/oidc/jwks").json())
    kid = jwt.get_unverified_header(tokens["id_token"])["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(tokens["id_token"], key.key, algorithms=["ES256"], audience=app.client_id)
    assert claims["iss"] == live_stack.public_url.rstrip("/")
    # Registering, rotating the secret and removing are audited (intent, then outcome).
    secret = cli(live_stack, "oidc", "client", "rotate-secret", app.client_id)
    assert secret.exit_code == 0 and app.secret is not None and app.secret not in secret.stdout
    assert exchange(http, app, *code_for(http, app)).status_code == 401  # the old secret
    assert cli(live_stack, "oidc", "client", "remove", app.client_id).exit_code == 0
    assert userinfo(http, tokens["access_token"]).status_code == 401
    trail = AuditLog(audit_path(live_stack.state_dir))
    done = [(x["action"], x["outcome"]) for x in trail.query(target=app.client_id)]
    assert ("oidc-client-rotate-secret", "ok") in done and ("oidc-client-remove", "ok") in done
    shown = cli(live_stack, "oidc", "client", "show", app.client_id)
    assert shown.exit_code == 5 and "no client" in shown.stderr


LOGGED_OUT = "http://127.0.0.1:9/bye"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def logout_app(live_stack: Settings) -> Rp:
    return register(live_stack, "--trusted", "--post-logout-uri", LOGGED_OUT)


def signed_session(
    settings: Settings, new_account: NewAccount, app: Rp
) -> tuple[httpx.Client, Rp, dict[str, Any]]:
    """A signed-in browser and the tokens a client with a post-logout URI got for it."""
    account, password = new_account()
    http = signed_in(settings, account, password)
    code, verifier = code_for(http, app)
    tokens: dict[str, Any] = exchange(http, app, code, verifier).json()
    return http, app, tokens


def still_signed_in(http: httpx.Client, tokens: dict[str, Any]) -> bool:
    portal = http.get("/account").status_code == 200
    api = userinfo(http, tokens["access_token"]).status_code == 200
    assert portal == api
    return portal


def test_logout_with_our_id_token_returns_to_the_registered_uri_and_ends_everything(
    live_stack: Settings, new_account: NewAccount, logout_app: Rp
) -> None:
    http, app, tokens = signed_session(live_stack, new_account, logout_app)
    assert http.get("/.well-known/openid-configuration").json()["end_session_endpoint"]
    params = {
        "id_token_hint": tokens["id_token"],
        "post_logout_redirect_uri": LOGGED_OUT,
        "state": "bye1",
    }
    answer = http.get("/oidc/logout", params=params)
    assert answer.status_code == 302 and answer.headers["location"] == LOGGED_OUT + "?state=bye1"
    assert not still_signed_in(http, tokens)
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    again = http.post("/oidc/token", data=refresh, auth=(app.client_id, app.secret or ""))
    assert again.status_code == 400


def test_logout_never_redirects_to_an_unregistered_uri(
    live_stack: Settings, new_account: NewAccount, logout_app: Rp
) -> None:
    http, _, tokens = signed_session(live_stack, new_account, logout_app)
    params = {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": CALLBACK}
    answer = http.get("/oidc/logout", params=params)
    assert answer.status_code == 200 and "location" not in answer.headers
    assert "Signed out" in answer.text and not still_signed_in(http, tokens)


@pytest.mark.parametrize("forgery", ["alg-none", "tampered", "hs256-with-public-key"])
def test_logout_refuses_an_id_token_we_did_not_sign(
    live_stack: Settings, new_account: NewAccount, logout_app: Rp, forgery: str
) -> None:
    http, _, tokens = signed_session(live_stack, new_account, logout_app)
    header, payload, signature = tokens["id_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    other = b64(json.dumps({**claims, "sub": "00000000-0000-0000-0000-000000000000"}).encode())
    if forgery == "alg-none":
        none = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        hint = f"{none}.{payload}."
    elif forgery == "tampered":
        hint = f"{header}.{other}.{signature}"
    else:  # the RS256 key's public half used as an HMAC secret (key confusion)
        jwks = http.get("/oidc/jwks").json()
        public = json.dumps(next(k for k in jwks["keys"] if k["kty"] == "RSA")).encode()
        hint = jwt.api_jws.PyJWS().encode(
            json.dumps(claims).encode(), b"x" * 32 + public, algorithm="HS256"
        )
    params = {"id_token_hint": hint, "post_logout_redirect_uri": LOGGED_OUT}
    answer = http.get("/oidc/logout", params=params)
    assert answer.status_code == 400 and "location" not in answer.headers, answer.text
    assert "invalid_request" in answer.text
    assert still_signed_in(http, tokens)


def test_logout_without_a_hint_asks_and_needs_the_form_token(
    live_stack: Settings, new_account: NewAccount, logout_app: Rp
) -> None:
    http, _, tokens = signed_session(live_stack, new_account, logout_app)
    asked = http.get("/oidc/logout", params={"post_logout_redirect_uri": LOGGED_OUT})
    assert asked.status_code == 200 and "Sign out" in asked.text
    forged = http.post("/oidc/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and still_signed_in(http, tokens)
    done = http.post(
        "/oidc/logout",
        data={"csrf_token": form_token(http, "/login"), "post_logout_redirect_uri": LOGGED_OUT},
    )
    assert done.status_code == 200 and "location" not in done.headers  # no hint: no redirect
    assert not still_signed_in(http, tokens)


def test_a_helpdesk_reset_stops_the_person_s_tokens(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    tokens = exchange(http, rp, code, verifier).json()
    assert userinfo(http, tokens["access_token"]).status_code == 200
    assert cli(live_stack, "helpdesk", "reset-password", account.uid).exit_code == 0
    assert userinfo(http, tokens["access_token"]).status_code == 401
    refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    again = http.post("/oidc/token", data=refresh, auth=(rp.client_id, rp.secret or ""))
    assert again.status_code == 400


def test_an_expired_access_token_is_refused(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    tokens = exchange(http, rp, code, verifier).json()
    # The clock moves past the token's 10 minutes: its expiry is moved back instead.
    with Store.for_state(live_stack.state_dir).connect() as db:
        db.execute(
            "UPDATE oidc_tokens SET access_expires = ? WHERE access_digest = ?",
            (time.time() - 1, digest(tokens["access_token"])),
        )
    answer = userinfo(http, tokens["access_token"])
    assert answer.status_code == 401 and "invalid_token" in answer.headers["www-authenticate"]
    seen = http.post(
        "/oidc/introspect",
        data={"token": tokens["access_token"]},
        auth=(rp.client_id, rp.secret or ""),
    )
    assert seen.json() == {"active": False}


def test_a_replayed_nonce_is_refused(live_stack: Settings, rp: Rp, new_account: NewAccount) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code_for(http, rp, nonce="once-only-nonce-" + secrets.token_hex(4))
    nonce = "replayed-" + secrets.token_hex(4)
    code_for(http, rp, nonce=nonce)
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "nonce": nonce,
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    answer = http.get("/oidc/authorize", params=params)
    assert answer.status_code == 302
    assert parse_qs(urlsplit(answer.headers["location"]).query)["error"] == ["invalid_request"]


def test_the_alumnus_sees_and_revokes_their_apps(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    app = register(live_stack, "--scope", "email")  # third-party: asks consent
    http = signed_in(live_stack, account, password)
    assert "not allowed any application" in http.get("/account/apps").text
    code, verifier = code_for(http, app, scope="openid email")
    tokens = exchange(http, app, code, verifier).json()
    page = http.get("/account/apps")
    assert page.status_code == 200 and app.client_id in page.text
    forged = http.post("/account/apps/revoke", data={"client_id": app.client_id, "csrf_token": "x"})
    assert forged.status_code == 403
    assert userinfo(http, tokens["access_token"]).status_code == 200
    revoked = http.post(
        "/account/apps/revoke",
        data={"client_id": app.client_id, "csrf_token": form_token(http, "/account/apps")},
    )
    assert revoked.status_code == 303
    assert userinfo(http, tokens["access_token"]).status_code == 401
    assert app.client_id not in http.get("/account/apps").text
    params = {
        "response_type": "code",
        "client_id": app.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid email",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    assert "Allow" in http.get("/oidc/authorize", params=params).text  # consent asked again
    trail = AuditLog(audit_path(live_stack.state_dir)).query(target=app.client_id)
    assert ("oidc-app-revoke", "ok") in [(x["action"], x["outcome"]) for x in trail]


def test_prompt_none_without_a_session_answers_login_required(live_stack: Settings, rp: Rp) -> None:
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "prompt": "none",
        "state": "p1",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    answer = browser(live_stack).get("/oidc/authorize", params=params)
    assert answer.status_code == 302
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["login_required"] and query["state"] == ["p1"]


def test_a_forced_password_change_comes_before_any_code(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, _ = new_account()
    reset = cli(live_stack, "helpdesk", "reset-password", account.uid, "--json")
    temporary = json.loads(reset.stdout)["temporary_password"]
    http = signed_in(live_stack, account, temporary)
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid",
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
    }
    answer = http.get("/oidc/authorize", params=params)
    assert answer.status_code == 303 and answer.headers["location"] == "/account/password"


def test_client_secret_post_works_as_basic_does(
    live_stack: Settings, rp: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
        "client_id": rp.client_id,
        "client_secret": rp.secret or "",
    }
    answer = http.post("/oidc/token", data=data)
    assert answer.status_code == 200 and "id_token" in answer.json(), answer.text
    # A confidential client's code cannot be redeemed as if it were public (no secret).
    code, verifier = code_for(http, rp)
    data.update(code=code, code_verifier=verifier, client_secret="")
    assert http.post("/oidc/token", data=data).status_code == 401


def test_only_admins_manage_clients_whatever_the_face(live_stack: Settings, rp: Rp) -> None:
    helpdesk = Actor("help.desk", Role.HELPDESK)
    with use_case(Clients, live_stack, helpdesk) as clients:
        with pytest.raises(AccessDeniedError):
            clients.add("sneaky", [CALLBACK])
        for call in (clients.listing, lambda: clients.get(rp.client_id)):
            with pytest.raises(AccessDeniedError):
                call()
        with pytest.raises(AccessDeniedError):
            clients.rotate_secret(rp.client_id)
    trail = AuditLog(audit_path(live_stack.state_dir)).query(actor="help.desk")
    done = {(x["action"], x["outcome"]) for x in trail}
    assert {("oidc-client-add", "denied"), ("oidc-client-rotate-secret", "denied")} <= done, trail
    assert cli(live_stack, "oidc", "client", "show", rp.client_id).exit_code == 0  # untouched


def test_the_alumni_scope_releases_the_graduation_year(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account(graduation_year=2011)
    app = register(live_stack, "--trusted", "--scope", "alumni")
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, app, scope="openid alumni")
    tokens = exchange(http, app, code, verifier).json()
    info = userinfo(http, tokens["access_token"]).json()
    assert info["graduation_year"] == 2011 and set(info) == {"sub", "graduation_year"}


def test_an_address_guessing_client_secrets_is_held_off(
    live_stack: Settings, new_account: NewAccount
) -> None:
    """Failed client authentications at the token and introspection endpoints count per
    address: past the limit that address is refused (429) even with the right secret, while
    a client elsewhere that proves itself goes on."""
    rp = register(live_stack)
    account, password = new_account()
    guesser, honest = browser(live_stack), signed_in(live_stack, account, password)
    form = {"grant_type": "refresh_token", "refresh_token": "x"}
    for n in range(30):
        path = "/oidc/token" if n % 2 else "/oidc/introspect"
        wrong = guesser.post(path, data={**form, "token": "x"}, auth=(rp.client_id, f"guess{n}"))
        assert wrong.status_code == 401, wrong.text
    code, verifier = code_for(honest, rp)
    held = exchange(guesser, rp, code, verifier)  # the right secret, from the guessing address
    assert held.status_code == 429, held.text
    assert int(held.headers["retry-after"]) > 0
    # The code was not spent on the refused request: the client from its own address goes on.
    assert exchange(honest, rp, code, verifier).status_code == 200
