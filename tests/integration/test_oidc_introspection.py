"""Introspection (RFC 7662) is for resource servers: Dovecot's client may introspect any token,
any other confidential client only its own (another client's token is inactive to it, with
nothing more said), a public client or wrong credentials get 401 invalid_client."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from mailstack.context import INTROSPECTION_CLIENT
from mailstack.layout import Layout
from mailstack.settings import Settings
from tests.oidc import (
    Rp,
    close_browsers,  # noqa: F401 -- an autouse fixture
    code_for,
    exchange,
    register,
    signed_in,
)
from tests.support import NewAccount

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def apps(live_stack: Settings) -> dict[str, Rp]:
    return {
        "own": register(live_stack, "--trusted", "--scope", "mail"),
        "other": register(live_stack, "--trusted"),
        "public": register(live_stack, "--trusted", "--public"),
    }


@pytest.fixture(scope="module")
def dovecot(live_stack: Settings) -> Rp:
    secret = (Layout(live_stack.state_dir).secrets / "dovecot.oidc-secret").read_text().strip()
    return Rp(INTROSPECTION_CLIENT, secret)


def introspect(http: httpx.Client, token: str, **how: Any) -> httpx.Response:
    return http.post("/oidc/introspect", data={"token": token, **how.pop("data", {})}, **how)


def test_a_client_sees_its_own_tokens_dovecot_sees_all_another_client_sees_nothing(
    live_stack: Settings, new_account: NewAccount, apps: dict[str, Rp], dovecot: Rp
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    own = apps["own"]
    code, verifier = code_for(http, own, scope="openid mail")
    tokens = exchange(http, own, code, verifier).json()
    for token in (tokens["access_token"], tokens["refresh_token"]):
        mine = introspect(http, token, auth=(own.client_id, own.secret or ""))
        assert mine.status_code == 200 and mine.json()["active"] is True
        assert mine.json()["client_id"] == own.client_id
        by_post = introspect(
            http, token, data={"client_id": own.client_id, "client_secret": own.secret}
        )
        assert by_post.json()["active"] is True  # client_secret_post as well
        theirs = introspect(http, token, auth=(apps["other"].client_id, apps["other"].secret))
        assert theirs.status_code == 200 and theirs.json() == {"active": False}
    seen = introspect(http, tokens["access_token"], auth=(dovecot.client_id, dovecot.secret))
    assert seen.json()["active"] is True and seen.json()["username"] == account.uid
    assert seen.json()["scope"] == "openid mail"
    # The other client's own tokens are its to see.
    code, verifier = code_for(http, apps["other"], scope="openid")
    others = exchange(http, apps["other"], code, verifier).json()
    auth = (apps["other"].client_id, apps["other"].secret or "")
    assert introspect(http, others["access_token"], auth=auth).json()["active"] is True
    assert introspect(http, others["access_token"], auth=(own.client_id, own.secret)).json() == {
        "active": False
    }


@pytest.mark.parametrize(
    "who", ["public-by-id", "public-basic", "wrong-secret", "unknown-client", "no-credentials"]
)
def test_public_clients_and_wrong_credentials_get_invalid_client(
    live_stack: Settings, new_account: NewAccount, apps: dict[str, Rp], who: str
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    public, own = apps["public"], apps["own"]
    code, verifier = code_for(http, own, scope="openid")
    token = exchange(http, own, code, verifier).json()["access_token"]  # a live token
    ways: dict[str, dict[str, Any]] = {
        "public-by-id": {"data": {"client_id": public.client_id}},
        "public-basic": {"auth": (public.client_id, "")},
        "wrong-secret": {"auth": (own.client_id, "not-the-secret")},
        "unknown-client": {"auth": ("no-such-client", "whatever")},
        "no-credentials": {},
    }
    answer = introspect(http, token, **ways[who])
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert "active" not in answer.json()
