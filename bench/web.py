"""The web service's figures for ``make bench`` (also ``python -m bench.web``): requests per
second over one kept-alive connection, each beside a reference measured in the same run.

- a static file and the discovery document from the running service, beside the same file and
  a JSON document from a bare FastAPI application under uvicorn with the service's options, in
  a process of its own, binding its port the ordinary way (``host``/``port``, where asyncio
  sets TCP_NODELAY): a service whose connections keep Nagle's algorithm again (see
  provisioning/web/server.py ``listening_socket``) shows here as a ratio of about 0.15;
- the provider's token endpoint, for a code exchange (client authentication, the code redeemed,
  PKCE, the account read again, tokens and an ID token signed and stored; the code is fetched
  untimed) and a refresh grant (client authentication, the account read again, the refresh
  token rotated, new tokens stored), and its introspection endpoint (RFC 7662, what Dovecot
  asks for each XOAUTH2 login it has not cached), beside the bare application's JSON document;
- IMAPS logins per second with XOAUTH2 beside password logins, repeated (answered by Dovecot's
  auth cache) and fresh (a bind at slapd, an introspection at the provider).

Nothing here asserts a time.
"""

from __future__ import annotations

import imaplib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from identity.roles import ROOT
from mailstack.settings import Settings
from provisioning.composition import Composition
from tests import mail
from tests.oidc import CALLBACK, Rp, code_for, exchange
from tests.support import free_ports, running_stack, wait_for
from tests.web import form_token

SECONDS = float(os.environ.get("BENCH_WEB_SECONDS", "2"))
MAIL_LOGINS = int(os.environ.get("BENCH_MAIL_LOGINS", "40"))
STATIC = Path(__file__).resolve().parent.parent / "provisioning" / "web" / "static"
USER = "bench.web"
PASSWORD = "Bench-Web-Pass-1"  # noqa: S105 -- a throwaway account on a test stack


def reference_app() -> object:
    """A bare FastAPI application: the same static directory, and one JSON document."""
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    app = FastAPI()
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/document")
    def document() -> dict[str, object]:
        return {"issuer": "http://127.0.0.1", "scopes_supported": ["openid", "profile"]}

    return app


def serve_reference(port: int) -> None:
    """The bare application under uvicorn, with the service's options."""
    import uvicorn

    config = uvicorn.Config(
        reference_app(),  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
    uvicorn.Server(config).run()


@contextmanager
def reference_server() -> Iterator[str]:
    port = free_ports(1)[0]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([sys.executable, "-m", "bench.web", "--reference", str(port)])
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"{url}/document", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_for(answers, 20), "the reference server did not start"
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def per_second(request: Callable[[], httpx.Response]) -> float:
    """Requests answered per second, one after another, for SECONDS (after a warm-up)."""
    for _ in range(5):
        request().raise_for_status()
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < SECONDS:
        request().raise_for_status()
        count += 1
    return round(count / elapsed, 1)


def bench_client(settings: Settings, http: httpx.Client) -> Rp:
    """An alumnus signed in through the portal in ``http``, and a trusted confidential client."""
    with Composition(settings) as root:
        root.accounts(ROOT).create(USER, "Bench Web", PASSWORD)
        added = root.oidc_clients(ROOT).add(
            f"bench-{secrets.token_hex(4)}", [CALLBACK], scopes=["profile", "mail"], trusted=True
        )
    signed = http.post(
        "/login",
        data={"csrf_token": form_token(http, "/login"), "login": USER, "password": PASSWORD},
    )
    assert signed.status_code == 303, signed.text
    return Rp(added.client.client_id, added.secret)


def exchanges_per_second(http: httpx.Client, rp: Rp) -> float:
    """Code exchanges answered per second: each code is fetched (untimed), then exchanged with
    its PKCE verifier (timed); for SECONDS of exchanging, after a warm-up."""
    spent, count, warm_up = 0.0, 0, 5
    while spent < SECONDS:
        code, verifier = code_for(http, rp, scope="openid profile")
        started = time.perf_counter()
        exchange(http, rp, code, verifier).raise_for_status()
        took = time.perf_counter() - started
        if warm_up:
            warm_up -= 1
        else:
            spent, count = spent + took, count + 1
    return round(count / spent, 1)


LogIn = Callable[[imaplib.IMAP4_SSL], object]


def password(uid: str) -> LogIn:
    return lambda client: client.login(uid, PASSWORD)


def bearer(uid: str, token: str) -> LogIn:
    sasl = f"user={uid}\x01auth=Bearer {token}\x01\x01".encode()
    return lambda client: client.authenticate("XOAUTH2", lambda _: sasl)


def imap_logins_per_second(settings: Settings, logins: list[LogIn]) -> float:
    """IMAPS logins (connect, TLS, authenticate, logout) per second, one after another."""
    context = mail.tls(settings)
    started = time.perf_counter()
    for log_in in logins:
        client = imaplib.IMAP4_SSL(settings.connect_host, settings.ports.imaps, ssl_context=context)
        log_in(client)
        client.logout()
    return round(len(logins) / (time.perf_counter() - started), 1)


def mail_login_figures(settings: Settings, http: httpx.Client, rp: Rp) -> dict[str, float]:
    """IMAP logins per second with XOAUTH2 beside password logins, on one stack: repeated
    (Dovecot's auth cache answers) and fresh (a password never seen: one argon2id bind at slapd;
    a token never seen: one introspection at the provider)."""
    with Composition(settings) as root:
        accounts = root.accounts(ROOT)
        fresh_uids = [f"bench.mail{n:03d}" for n in range(MAIL_LOGINS)]
        for uid in fresh_uids:
            accounts.create(uid, "Bench Mail", PASSWORD)
    tokens = []
    for _ in range(MAIL_LOGINS + 1):
        code, verifier = code_for(http, rp, scope="openid mail")
        tokens.append(exchange(http, rp, code, verifier).json()["access_token"])
    imap_logins_per_second(settings, [password(USER), bearer(USER, tokens[0])])  # now cached
    figures = {
        "imap_password_login_per_s": imap_logins_per_second(
            settings, [password(USER)] * MAIL_LOGINS
        ),
        "imap_password_fresh_login_per_s": imap_logins_per_second(
            settings, [password(uid) for uid in fresh_uids]
        ),
        "imap_xoauth2_login_per_s": imap_logins_per_second(
            settings, [bearer(USER, tokens[0])] * MAIL_LOGINS
        ),
        "imap_xoauth2_fresh_login_per_s": imap_logins_per_second(
            settings, [bearer(USER, token) for token in tokens[1:]]
        ),
    }
    figures["xoauth2_vs_password"] = round(
        figures["imap_xoauth2_login_per_s"] / figures["imap_password_login_per_s"], 2
    )
    figures["xoauth2_fresh_vs_password_fresh"] = round(
        figures["imap_xoauth2_fresh_login_per_s"] / figures["imap_password_fresh_login_per_s"], 2
    )
    return figures


def web_figures() -> dict[str, float]:
    with (
        running_stack("bench-web") as settings,
        reference_server() as bare,
        httpx.Client(base_url=settings.public_url, timeout=30) as http,
        httpx.Client(base_url=bare, timeout=30) as ref,
    ):
        static = per_second(lambda: http.get("/static/site.css"))
        static_ref = per_second(lambda: ref.get("/static/site.css"))
        discovery = per_second(lambda: http.get("/.well-known/openid-configuration"))
        document_ref = per_second(lambda: ref.get("/document"))
        rp = bench_client(settings, http)
        auth = (rp.client_id, rp.secret or "")
        exchanged = exchanges_per_second(http, rp)
        code, verifier = code_for(http, rp, scope="openid profile")
        tokens = exchange(http, rp, code, verifier).json()
        latest = {"refresh_token": tokens["refresh_token"]}

        def refresh() -> httpx.Response:
            data = {"grant_type": "refresh_token", "refresh_token": latest["refresh_token"]}
            answer = http.post("/oidc/token", data=data, auth=auth)
            if answer.status_code == 200:
                latest["refresh_token"] = answer.json()["refresh_token"]
            return answer

        def introspect() -> httpx.Response:
            data = {"token": tokens["access_token"]}
            answer = http.post("/oidc/introspect", data=data, auth=auth)
            assert answer.json()["active"] is True
            return answer

        token = per_second(refresh)
        introspection = per_second(introspect)
        logins = mail_login_figures(settings, http, rp)
    return {
        "static_per_s": static,
        "bare_static_per_s": static_ref,
        "static_vs_bare": round(static / static_ref, 2),
        "discovery_per_s": discovery,
        "bare_json_per_s": document_ref,
        "discovery_vs_bare": round(discovery / document_ref, 2),
        "token_code_exchange_per_s": exchanged,
        "code_exchange_vs_bare": round(exchanged / document_ref, 3),
        "token_refresh_per_s": token,
        "token_vs_bare": round(token / document_ref, 3),
        "introspection_per_s": introspection,
        "introspection_vs_bare": round(introspection / document_ref, 3),
        **logins,
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--reference"]:
        serve_reference(int(sys.argv[2]))
    else:
        print(json.dumps(web_figures(), indent=2))
