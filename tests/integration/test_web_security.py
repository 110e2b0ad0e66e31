"""The web service's defences, each with a test: CSRF on every form, cookie flags, rate limits
per client and per account, the same answer (and similar time) for known and unknown accounts,
security headers, and no password or token in any log."""

from __future__ import annotations

import dataclasses
import re
import ssl
import statistics
import time

import httpx
import pytest

from mailstack.keys.tls import tls_files
from mailstack.settings import Settings
from provisioning.web.security import CSRF_COOKIE, Limit, Limits
from provisioning.web.sessions import SESSION_COOKIE
from tests.support import NewAccount, running_stack
from tests.web import client, form_token, in_process, link, mail_to, token_of

pytestmark = pytest.mark.integration
FORMS = [
    ("/login", {"login": "x", "password": "y"}),
    ("/logout", {}),
    ("/register", {"uid": "x"}),
    ("/register/confirm", {"token": "x"}),
    ("/forgot", {"login": "x"}),
    ("/reset", {"token": "x", "password": "y"}),
    ("/account", {"display_name": "x"}),
    ("/account/password", {"current": "x"}),
    ("/account/recovery", {"token": "x"}),
    ("/helpdesk/accounts/someone/unlock", {}),
]


@pytest.mark.parametrize(("path", "data"), FORMS)
def test_every_form_refuses_a_post_without_its_token(
    live_stack: Settings, path: str, data: dict[str, str]
) -> None:
    with client(live_stack) as http:
        form_token(http, "/login")  # the visitor has a CSRF cookie; the post lacks the field
        missing = http.post(path, data=data)
        forged = http.post(path, data={**data, "csrf_token": "0" * 64})
    for answer in (missing, forged):
        assert answer.status_code in (403, 422), (path, answer.status_code)
        if answer.status_code == 403:
            assert "came from another site" in answer.text


def test_a_post_from_another_site_changes_nothing(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account(name="Unchanged Name")
    with client(live_stack) as http:
        token = form_token(http, "/login")
        http.post("/login", data={"csrf_token": token, "login": account.uid, "password": password})
        # Another site can make the browser send the session cookie, never the form token.
        answer = http.post("/account", data={"display_name": "Changed By Attacker"})
        assert answer.status_code == 403
        assert "Unchanged Name" in http.get("/account").text


def test_cookie_flags(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    with client(live_stack) as http:
        page = http.get("/login")
        csrf_cookie = page.headers["set-cookie"]
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text
        token = found.group(1)
        signed = http.post(
            "/login", data={"csrf_token": token, "login": account.uid, "password": password}
        )
        session_cookie = signed.headers["set-cookie"]
    assert csrf_cookie.startswith(CSRF_COOKIE) and "HttpOnly" in csrf_cookie
    assert "SameSite=strict" in csrf_cookie
    assert session_cookie.startswith(SESSION_COOKIE)
    assert "HttpOnly" in session_cookie and "SameSite=lax" in session_cookie
    assert "Secure" not in session_cookie  # plain HTTP on loopback: a Secure cookie is lost


def test_cookies_are_secure_when_served_over_tls(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    with in_process(
        live_stack,
        web=dataclasses.replace(live_stack.web, public_url="https://portal.test.example"),
    ) as http:
        page = http.get("/login")
        assert "Secure" in page.headers["set-cookie"]
        found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert found, page.text
        token = found.group(1)
        # A client keeps a Secure cookie for https only; this one is sent by hand.
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        signed = http.post(
            "/login",
            data={"csrf_token": token, "login": account.uid, "password": password},
            headers={"Cookie": cookie},
        )
    assert signed.status_code == 303
    assert "Secure" in signed.headers["set-cookie"] and "HttpOnly" in signed.headers["set-cookie"]


def test_security_headers_on_pages_api_and_errors(live_stack: Settings) -> None:
    with client(live_stack) as http:
        answers = [http.get("/register"), http.get("/api/v1/accounts"), http.get("/nowhere")]
    for answer in answers:
        csp = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert "<script>" not in answers[0].text and " style=" not in answers[0].text


def tight() -> Limits:
    return Limits(
        login_client=Limit(5, 60),
        login_account=Limit(3, 60),
        register_client=Limit(2, 60),
        forgot_client=Limit(3, 60),
        forgot_account=Limit(2, 60),
        token_client=Limit(3, 60),
    )


def test_login_is_rate_limited_per_account_and_per_client(live_stack: Settings) -> None:
    with in_process(live_stack, limits=tight()) as http:
        token = form_token(http, "/login")

        def attempt(login: str) -> int:
            data = {"csrf_token": token, "login": login, "password": "wrong-password"}
            return http.post("/login", data=data).status_code

        assert [attempt("victim.one") for _ in range(4)] == [401, 401, 401, 429]
        # Other accounts from the same client: the per-client window fills next (the refused
        # attempt did not count).
        assert [attempt("victim.two"), attempt("victim.three")] == [401, 401]
        limited = http.post(
            "/login", data={"csrf_token": token, "login": "victim.four", "password": "x"}
        )
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0


def test_successful_sign_ins_do_not_fill_the_window(
    live_stack: Settings, new_account: NewAccount
) -> None:
    """Alumni behind one address (a campus network) sign in as often as they like: only
    failures count."""
    account, password = new_account()
    with in_process(live_stack, limits=tight()) as http:
        token = form_token(http, "/login")
        data = {"csrf_token": token, "login": account.uid, "password": password}
        assert [http.post("/login", data=data).status_code for _ in range(8)] == [303] * 8


def test_registration_reset_and_tokens_are_rate_limited(live_stack: Settings) -> None:
    with in_process(live_stack, limits=tight()) as http:
        token = form_token(http, "/register")
        registers = [
            http.post("/register", data={"csrf_token": token, "uid": "x"}).status_code
            for _ in range(3)
        ]
        forgots = [
            http.post("/forgot", data={"csrf_token": token, "login": "someone"}).status_code
            for _ in range(3)
        ]
        bad = {"Authorization": "Bearer alm_0_0"}
        api = [http.get("/api/v1/accounts", headers=bad).status_code for _ in range(4)]
    assert registers == [422, 422, 429]
    assert forgots == [200, 200, 429]  # per account (2), before the client's 3
    assert api == [401, 401, 401, 429]


def test_registration_and_tokens_are_rate_limited_per_account(live_stack: Settings) -> None:
    limits = Limits(
        register_client=Limit(50, 60),
        register_account=Limit(2, 60),
        token_client=Limit(50, 60),
        token_account=Limit(2, 60),
    )
    with in_process(live_stack, limits=limits) as http:
        token = form_token(http, "/register")

        def register(number: str) -> int:
            data = {"csrf_token": token, "student_number": number, "uid": "x"}
            return http.post("/register", data=data).status_code

        assert [register("S-0001") for _ in range(3)] == [422, 422, 429]
        assert register("S-0002") == 422  # another graduate is not held up
        guesses = [
            http.get("/api/v1/accounts", headers={"Authorization": f"Bearer alm_abc_{n}"})
            for n in range(3)
        ]
        other = http.get("/api/v1/accounts", headers={"Authorization": "Bearer alm_def_0"})
    assert [g.status_code for g in guesses] == [401, 401, 429]
    assert other.status_code == 401


def test_login_answers_alike_for_unknown_and_known_accounts(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, _ = new_account()
    with in_process(live_stack) as http:
        token = form_token(http, "/login")
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        bodies = {}
        for _ in range(6):
            for kind, login in (("known", account.uid), ("unknown", "no.such.alumnus")):
                started = time.perf_counter()
                answer = http.post(
                    "/login",
                    data={"csrf_token": token, "login": login, "password": "Wrong-Guess-123"},
                )
                timings[kind].append(time.perf_counter() - started)
                bodies[kind] = (answer.status_code, answer.text.replace(login, "LOGIN"))
    assert bodies["known"] == bodies["unknown"]
    known, unknown = statistics.median(timings["known"]), statistics.median(timings["unknown"])
    # Without the decoy argon2id check an unknown name answers several times faster.
    assert unknown > known / 3, (known, unknown)


def test_no_password_or_token_reaches_a_log(live_stack: Settings, new_account: NewAccount) -> None:
    secret = "Never-Logged-Password-9"
    account, _ = new_account(password=secret, recovery_email="logs@home.example.org")
    with client(live_stack) as http:
        token = form_token(http, "/login")
        http.post("/login", data={"csrf_token": token, "login": account.uid, "password": secret})
        http.post(
            "/login", data={"csrf_token": token, "login": account.uid, "password": "x" + secret}
        )
        http.post("/forgot", data={"csrf_token": token, "login": account.uid})
        reset_token = token_of(
            link(mail_to(live_stack, "logs@home.example.org", "Reset your"), "/reset")
        )
        http.get(f"/reset?token={reset_token}")
    logs = list((live_stack.state_dir / "log").glob("*.log"))
    logs += list((live_stack.state_dir / "audit").glob("*"))
    assert logs
    for path in logs:
        text = path.read_text(errors="replace")
        assert secret not in text, path
        assert reset_token not in text, path


def test_served_over_tls_with_the_stacks_certificate() -> None:
    with running_stack("webtls", **{"web.tls": True}) as settings:
        assert settings.public_url.startswith("https://")
        ca = ssl.create_default_context(cafile=str(tls_files(settings).ca_cert))
        with httpx.Client(base_url=settings.public_url, verify=ca, timeout=30) as http:
            page = http.get("/login")
        assert page.status_code == 200
        assert "Secure" in page.headers["set-cookie"]
        with pytest.raises(httpx.HTTPError):
            httpx.get(settings.public_url.replace("https://", "http://") + "/login", timeout=5)
