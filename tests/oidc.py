"""Helpers for tests of the OpenID Connect provider: a relying party registered through the
command line, browsers of their own signing in, the code flow with PKCE and the token exchange
(plain httpx: none of the provider's code)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner, Result

from identity.accounts import Account
from mailstack.settings import Settings
from provisioning.cli import main
from tests import mail
from tests.support import alumail
from tests.web import form_token, loopback_address

CALLBACK = "http://127.0.0.1:9/callback"


@dataclass(frozen=True)
class Rp:
    client_id: str
    secret: str | None


def cli(settings: Settings, *args: str) -> Result:
    """The command line in this process (the module's first client goes through the real
    ``alumail`` program; the rest spare its start-up)."""
    config = settings.state_dir.parent / "alumail.toml"
    return CliRunner().invoke(main, list(args), env={"ALUMAIL_CONFIG": str(config)})


def register(settings: Settings, *args: str) -> Rp:
    name = f"app-{secrets.token_hex(4)}"
    done = cli(settings, "oidc", "client", "add", name, "--redirect-uri", CALLBACK, *args, "--json")
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    return Rp(data["client_id"], data["client_secret"])


def register_with_the_program(settings: Settings, *args: str) -> Rp:
    name = f"app-{secrets.token_hex(4)}"
    done = alumail(
        settings,
        "oidc",
        "client",
        "add",
        name,
        "--redirect-uri",
        CALLBACK,
        *args,
        "--json",
        check=True,
    )
    data = json.loads(done.stdout)
    return Rp(data["client_id"], data["client_secret"])


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


_OPEN: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def close_browsers() -> Iterator[None]:
    """Closes the browsers a test opened (import it into a test module: it is autouse)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def browser(settings: Settings) -> httpx.Client:
    """A browser of its own on the web service: its own cookie jar and its own loopback
    address (the portal limits sign-ins per address; these are different people's browsers,
    not one client trying passwords), trusting the stack's CA. Closed after the test."""
    http = httpx.Client(
        base_url=settings.public_url,
        timeout=30,
        follow_redirects=False,
        transport=httpx.HTTPTransport(local_address=loopback_address(), verify=mail.tls(settings)),
    )
    _OPEN.append(http)
    return http


def signed_in(settings: Settings, account: Account, password: str) -> httpx.Client:
    http = browser(settings)
    answer = http.post(
        "/login",
        data={"csrf_token": form_token(http, "/login"), "login": account.uid, "password": password},
    )
    assert answer.status_code == 303, answer.text
    return http


def code_for(
    http: httpx.Client, rp: Rp, *, scope: str = "openid profile email", **extra: str
) -> tuple[str, str]:
    """Authorize (consenting when asked): the code and the PKCE verifier."""
    verifier, challenge = pkce()
    state = secrets.token_urlsafe(8)
    params = {
        "response_type": "code",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "scope": scope,
        "state": state,
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    answer = http.get("/oidc/authorize", params=params)
    if answer.status_code == 200:  # the consent page
        assert "Allow" in answer.text
        fields = dict(
            (name, value)
            for name, value in re.findall(
                r'<input type="hidden" name="([^"]+)" value="([^"]*)"', answer.text
            )
        )
        assert fields["client_id"] == rp.client_id
        answer = http.post("/oidc/authorize", data={**fields, "decision": "allow"})
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0], verifier


def exchange(http: httpx.Client, rp: Rp, code: str, verifier: str) -> httpx.Response:
    return http.post(
        "/oidc/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
        auth=(rp.client_id, rp.secret or ""),
    )


@dataclass
class Receiver:
    """A relying party's back-channel logout endpoint on loopback: it records every POST
    (path, content type, form fields) and answers 200, or, when ``hang`` is set, reads the
    request and then answers nothing until the test ends."""

    url: str
    hang: bool = False
    posts: list[tuple[str, str, dict[str, list[str]]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    released: threading.Event = field(default_factory=threading.Event)

    def wait(
        self, count: int = 1, timeout: float = 10
    ) -> list[tuple[str, str, dict[str, list[str]]]]:
        """The first ``count`` POSTs, once that many have arrived (or what came in ``timeout``)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(self.posts) < count and (left := deadline - time.monotonic()) > 0:
                self.arrived.wait(left)
            return list(self.posts)

    def to(self, path: str) -> list[dict[str, list[str]]]:
        """The forms posted to ``path`` so far."""
        with self.arrived:
            return [form for at, _, form in self.posts if at == path]


@contextmanager
def receiver(*, hang: bool = False) -> Iterator[Receiver]:
    """A Receiver serving on a free loopback port until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            with found.arrived:
                found.posts.append(
                    (self.path, self.headers.get("Content-Type", ""), parse_qs(body))
                )
                found.arrived.notify_all()
            if found.hang:
                found.released.wait(30)
                return
            self.send_response(200)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    found = Receiver(f"http://127.0.0.1:{server.server_address[1]}", hang=hang)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        found.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
