"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0) against the running web
service: relying parties registered with a ``backchannel_logout_uri`` on a small HTTP receiver
of the test's own (loopback) get a signed logout token when the person's session at the
provider ends (portal logout, RP-initiated logout, a password change, a helpdesk reset, a
suspension, a deletion), verified here with PyJWT against the JWKS; a client without the URI,
or without anything of the person's, gets nothing; a client that hangs slows no logout."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.oidc.logout import DELIVERY_TIMEOUT, EVENT
from tests.oidc import (
    Receiver,
    Rp,
    cli,
    close_browsers,  # noqa: F401 -- an autouse fixture
    code_for,
    exchange,
    receiver,
    register,
    signed_in,
)
from tests.support import NewAccount, alumail, wait_for
from tests.web import ApiTokens, bearer, client, form_token, staff_tokens

pytestmark = pytest.mark.integration
NEW_PASSWORD = "Changed-After-Logout-42"


@pytest.fixture(scope="module")
def rp_receiver() -> Any:
    with receiver() as found:
        yield found


def tokens_of(settings: Settings, http: httpx.Client, app: Rp) -> dict[str, Any]:
    code, verifier = code_for(http, app, scope="openid")
    answer = exchange(http, app, code, verifier)
    assert answer.status_code == 200, answer.text
    tokens: dict[str, Any] = answer.json()
    return tokens


def sub_of(id_token: str) -> str:
    claims = jwt.decode(id_token, options={"verify_signature": False})
    return str(claims["sub"])


def verified(http: httpx.Client, app: Rp, form: dict[str, list[str]]) -> dict[str, Any]:
    """The logout token of one POST, checked as a relying party must (section 2.6)."""
    assert list(form) == ["logout_token"] and len(form["logout_token"]) == 1
    token = form["logout_token"][0]
    config = http.get("/.well-known/openid-configuration").json()
    jwks = jwt.PyJWKSet.from_dict(http.get(config["jwks_uri"]).json())
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "logout+jwt"
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    claims: dict[str, Any] = jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256"],
        audience=app.client_id,
        issuer=config["issuer"],
        options={"require": ["iss", "aud", "iat", "exp", "jti", "sub", "events"]},
    )
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims and "sid" not in claims
    assert claims["iat"] <= time.time() + 1 and claims["exp"] - claims["iat"] <= 300
    return claims


class Setup:
    """A person signed in to two apps that registered a back-channel URI (one by RS256, one
    ES256) and one that did not; a third app with a URI that they never used."""

    def __init__(self, settings: Settings, new_account: NewAccount, at: Receiver) -> None:
        self.settings = settings
        self.account, self.password = new_account()
        self.paths = {name: f"/bc/{name}/{self.account.uid}" for name in ("rs", "es", "unused")}
        self.rs = register(
            settings, "--trusted", "--backchannel-logout-uri", at.url + self.paths["rs"]
        )
        self.es = register(
            settings,
            "--id-token-alg",
            "ES256",
            "--backchannel-logout-uri",
            at.url + self.paths["es"],
        )  # not trusted: the person consents
        self.plain = register(settings, "--trusted")
        self.unused = register(
            settings, "--trusted", "--backchannel-logout-uri", at.url + self.paths["unused"]
        )
        self.http = signed_in(settings, self.account, self.password)
        self.tokens = {
            "rs": tokens_of(settings, self.http, self.rs),
            "es": tokens_of(settings, self.http, self.es),
            "plain": tokens_of(settings, self.http, self.plain),
        }
        self.sub = sub_of(self.tokens["rs"]["id_token"])
        self.at = at

    def assert_told(self) -> None:
        """Each app with a URI that held the person's tokens got one valid logout token for
        them; the others nothing; and every token of the person is revoked."""
        assert wait_for(
            lambda: self.at.to(self.paths["rs"]) and self.at.to(self.paths["es"]), timeout=10
        )
        time.sleep(0.3)  # room for a second, wrong, POST to show up
        for name, app in (("rs", self.rs), ("es", self.es)):
            forms = self.at.to(self.paths[name])
            assert len(forms) == 1, (name, forms)
            claims = verified(self.http, app, forms[0])
            assert claims["sub"] == self.sub == sub_of(self.tokens[name]["id_token"])
        assert self.at.to(self.paths["unused"]) == []
        for name, app in (("rs", self.rs), ("es", self.es), ("plain", self.plain)):
            seen = self.http.post(
                "/oidc/introspect",
                data={"token": self.tokens[name]["access_token"]},
                auth=(app.client_id, app.secret or ""),
            )
            assert seen.json() == {"active": False}, name


def test_discovery_says_back_channel_logout_is_supported_without_sessions(
    live_stack: Settings,
) -> None:
    with client(live_stack) as http:
        config = http.get("/.well-known/openid-configuration").json()
    assert config["backchannel_logout_supported"] is True
    assert config["backchannel_logout_session_supported"] is False


def test_portal_logout_tells_the_apps_that_registered_for_it(
    live_stack: Settings, new_account: NewAccount, rp_receiver: Receiver
) -> None:
    setup = Setup(live_stack, new_account, rp_receiver)
    http = setup.http
    csrf = form_token(http, "/account")
    answer = http.post("/logout", data={"csrf_token": csrf})
    assert answer.status_code == 303
    setup.assert_told()
    for post in rp_receiver.posts:
        assert post[1] == "application/x-www-form-urlencoded"


def test_rp_initiated_logout_tells_them_too(
    live_stack: Settings, new_account: NewAccount, rp_receiver: Receiver
) -> None:
    setup = Setup(live_stack, new_account, rp_receiver)
    answer = setup.http.get(
        "/oidc/logout", params={"id_token_hint": setup.tokens["rs"]["id_token"]}
    )
    assert answer.status_code == 200 and "Signed out" in answer.text
    setup.assert_told()


def test_a_password_change_by_the_person_tells_them(
    live_stack: Settings, new_account: NewAccount, rp_receiver: Receiver
) -> None:
    setup = Setup(live_stack, new_account, rp_receiver)
    changed = setup.http.post(
        "/account/password",
        data={
            "csrf_token": form_token(setup.http, "/account/password"),
            "current": setup.password,
            "password": NEW_PASSWORD,
            "password_again": NEW_PASSWORD,
        },
    )
    assert changed.status_code == 200 and "Password changed" in changed.text
    setup.assert_told()


def test_a_suspension_from_the_command_line_tells_them_before_the_command_ends(
    live_stack: Settings, new_account: NewAccount, rp_receiver: Receiver
) -> None:
    setup = Setup(live_stack, new_account, rp_receiver)
    alumail(live_stack, "account", "suspend", setup.account.uid, check=True)
    # The program waited for its deliveries before it exited: they are in already.
    assert setup.at.to(setup.paths["rs"]) and setup.at.to(setup.paths["es"])
    setup.assert_told()


def test_a_helpdesk_reset_through_the_api_tells_them(
    live_stack: Settings, new_account: NewAccount, rp_receiver: Receiver
) -> None:
    staff: ApiTokens = staff_tokens(live_stack)
    setup = Setup(live_stack, new_account, rp_receiver)
    with client(live_stack) as api:
        reset = api.post(
            f"/api/v1/accounts/{setup.account.uid}/reset-password",
            headers=bearer(staff["helpdesk"]),
        )
    assert reset.status_code == 200
    setup.assert_told()


def test_a_deletion_tells_them(
    live_stack: Settings, new_account: NewAccount, rp_receiver: Receiver
) -> None:
    setup = Setup(live_stack, new_account, rp_receiver)
    done = cli(live_stack, "account", "delete", setup.account.uid, "--purge-mail")
    assert done.exit_code == 0, done.stderr
    setup.assert_told()


def test_a_client_that_hangs_slows_no_logout_and_its_failure_is_logged_without_the_token(
    live_stack: Settings, new_account: NewAccount
) -> None:
    with receiver(hang=True) as stuck:
        account, password = new_account()
        app = register(live_stack, "--trusted", "--backchannel-logout-uri", stuck.url + "/bc")
        http = signed_in(live_stack, account, password)
        tokens_of(live_stack, http, app)
        csrf = form_token(http, "/account")
        started = time.monotonic()
        answer = http.post("/logout", data={"csrf_token": csrf})
        took = time.monotonic() - started
        assert answer.status_code == 303
        assert took < DELIVERY_TIMEOUT, took
        forms = [form for _, _, form in stuck.wait(1)]
        assert len(forms) == 1
        token = forms[0]["logout_token"][0]
        log = Layout(live_stack.state_dir).logfile("web")
        line = f"back-channel logout to client {app.client_id} failed"
        assert wait_for(lambda: line in log.read_text(errors="replace"), timeout=10)
        assert token not in log.read_text(errors="replace")


def test_a_bad_back_channel_uri_is_refused_at_registration(live_stack: Settings) -> None:
    for uri, rule in [
        ("http://app.example/logout", "loopback"),
        ("https://app.example/logout#here", "fragment"),
        ("ftp://127.0.0.1/logout", "https"),
    ]:
        done = cli(
            live_stack,
            "oidc",
            "client",
            "add",
            f"bad-{rule}",
            "--redirect-uri",
            "http://127.0.0.1:9/callback",
            "--backchannel-logout-uri",
            uri,
        )
        assert done.exit_code != 0
        assert "backchannel-logout-uri" in done.stderr and rule in done.stderr, done.stderr
