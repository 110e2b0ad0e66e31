"""The web service's defences, each small and separate: per-client and per-account rate limits,
CSRF tokens for forms, and the security headers every response carries."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request, Response
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from identity.errors import AlumailError
from mailstack.files import ensure_dir
from mailstack.privileges import SERVICE_USER
from provisioning.i18n import N_

CSRF_COOKIE = "alumail_csrf"
CSRF_FIELD = "csrf_token"

# No inline script or style anywhere: the pages use /static files only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    "Cache-Control": "no-store",
}


_HOST_NAME = re.compile(r"[a-z0-9.\-]+")
_HOST_V6 = re.compile(r"[0-9a-f:.]+")


def _origin(uri: str) -> str | None:
    try:
        url = urlsplit(uri)
        port = url.port
    except ValueError:
        return None
    host = url.hostname or ""
    if url.scheme not in ("http", "https"):
        return None
    if _HOST_NAME.fullmatch(host):
        pass
    elif ":" in host and _HOST_V6.fullmatch(host):
        host = f"[{host}]"
    else:
        return None
    return f"{url.scheme}://{host}" + (f":{port}" if port is not None else "")


def allow_form_targets(response: Response, uris: Iterable[str]) -> Response:
    """This page's forms may end, after our redirects, at these URIs' origins: CSP's
    ``form-action`` covers every redirect that follows a submission, so a sign-in or a consent
    that sends the browser back to an application (a redirect URI the application registered,
    already checked) needs its origin named. Nothing else is loosened."""
    origins = sorted({o for o in map(_origin, uris) if o})
    if origins:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.replace(
            "form-action 'self'", "form-action 'self' " + " ".join(origins)
        )
    return response


class RateLimited(AlumailError):
    """Too many attempts from one client or for one account."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            N_("too many attempts; try again in {seconds} seconds").format(seconds=retry_after)
        )
        self.retry_after = retry_after


class CsrfError(AlumailError):
    """A form came without the token of the page it was served on."""


@dataclass(frozen=True)
class Limit:
    count: int
    seconds: int


@dataclass(frozen=True)
class Limits:
    """How many attempts a client (address) or an account gets in a window."""

    login_client: Limit = Limit(20, 300)
    login_account: Limit = Limit(10, 300)
    register_client: Limit = Limit(10, 3600)
    register_account: Limit = Limit(5, 3600)  # per student number
    forgot_client: Limit = Limit(10, 3600)
    forgot_account: Limit = Limit(3, 3600)
    token_client: Limit = Limit(30, 300)  # API requests with a bad token
    token_account: Limit = Limit(10, 300)  # bad secrets presented for one token id
    lookup_client: Limit = Limit(120, 60)  # UID availability
    client_auth: Limit = Limit(30, 300)  # failed client authentications at the provider


class RateLimiter:
    """Sliding-window counters in memory (one web process; behind several, put them in a
    shared store)."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def hit(self, bucket: str, key: str, limit: Limit) -> None:
        """Count one attempt; RateLimited when the window is full already."""
        self.check(bucket, key, limit)
        self.failed(bucket, key, limit)

    def check(self, bucket: str, key: str, limit: Limit) -> None:
        """RateLimited when the window is full; counts nothing (for limits on failures, which
        are counted with :meth:`failed` once they are known)."""
        now = time.monotonic()
        with self._lock:
            hits = self._window(bucket, key, limit, now)
            if len(hits) >= limit.count:
                raise RateLimited(int(hits[0] + limit.seconds - now) + 1)

    def failed(self, bucket: str, key: str, limit: Limit) -> None:
        """Count one attempt that failed."""
        now = time.monotonic()
        with self._lock:
            self._window(bucket, key, limit, now).append(now)

    def _window(self, bucket: str, key: str, limit: Limit, now: float) -> deque[float]:
        hits = self._hits[(bucket, key.lower())]
        while hits and hits[0] <= now - limit.seconds:
            hits.popleft()
        return hits


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Csrf:
    """Double-submit tokens: a random cookie (HttpOnly, SameSite=Strict), and in each form an
    HMAC of it under the service's key, which another site can neither read nor forge."""

    def __init__(self, key: bytes) -> None:
        self.key = key

    def token_for(self, cookie: str) -> str:
        return hmac.new(self.key, cookie.encode(), hashlib.sha256).hexdigest()

    def token(self, request: Request) -> str:
        cookie = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf", None)
        if not cookie:
            cookie = secrets.token_urlsafe(32)
            request.state.new_csrf = cookie
        return self.token_for(cookie)

    def check(self, request: Request, submitted: str | None) -> None:
        cookie = request.cookies.get(CSRF_COOKIE)
        if (
            not cookie
            or not submitted
            or not hmac.compare_digest(self.token_for(cookie), submitted)
        ):
            raise CsrfError(
                N_("csrf_token: this form has expired or came from another site; reload the page")
            )


def service_key(path: Path) -> bytes:
    """The web service's own secret (CSRF tokens) at ``path`` (Layout.web_key), made once."""
    ensure_dir(path.parent, 0o700, SERVICE_USER, SERVICE_USER)
    if not path.exists():
        partial = path.with_suffix(".new")
        partial.write_bytes(secrets.token_bytes(32))
        partial.chmod(0o600)
        if os.geteuid() == 0:  # made by root (a test serving in-process): the service's own
            shutil.chown(partial, SERVICE_USER, SERVICE_USER)
        partial.replace(path)
    return path.read_bytes()


# The largest body a form or an API call of ours needs is a few kilobytes; the one upload (the
# roster, in the admin console) is given its own limit (BodyLimit's ``larger``).
MAX_BODY_BYTES = 1 << 20


class BodyLimit:
    """Refuses a request body over ``limit`` bytes with 413, before anyone has read it whole.
    Starlette and FastAPI buffer a JSON or form body in memory before any route or credential
    check runs, and uvicorn sets no limit: without this an anonymous client could make the
    process hold hundreds of megabytes per request. A declared Content-Length is judged at
    once; a chunked body is counted as it arrives, and past the limit the application is told
    the client left (whatever it answers then is dropped). ``larger`` gives the paths that take
    an upload a limit of their own ({path: bytes})."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int = MAX_BODY_BYTES,
        larger: dict[str, int] | None = None,
        page: Callable[[Scope, int], bytes | None] | None = None,
    ) -> None:
        """``page`` makes the refusal a person reads (None: a program asked, answer JSON)."""
        self.app, self.limit, self.larger, self.page = app, limit, larger or {}, page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.limit)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, send, limit)
            return
        received, started, refused = 0, False, False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started:
                        refused = True
                        await self._refuse(scope, send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, watched)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        page = self.page(scope, limit) if self.page is not None else None
        if page is not None:
            body, kind = page, b"text/html; charset=utf-8"
        else:
            refusal = {"type": "too_large", "message": f"request body: at most {limit} bytes"}
            body, kind = json.dumps({"error": refusal}).encode(), b"application/json"
        headers = [(b"content-type", kind), (b"connection", b"close")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Defences:
    """Every response's security headers (a header the route set itself stays), and the CSRF
    cookie a page handed out (``Csrf.token`` left it in the request's state) unless the browser
    has one. A plain ASGI middleware: Starlette's ``BaseHTTPMiddleware`` (``@app.middleware``)
    costs every request an extra task and a body stream."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app, self.secure = app, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def defended(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                new_csrf = scope.get("state", {}).get("new_csrf")
                if new_csrf and not Request(scope).cookies.get(CSRF_COOKIE):
                    headers.append("set-cookie", self._csrf_cookie(new_csrf))
            await send(message)

        await self.app(scope, receive, defended)

    def _csrf_cookie(self, value: str) -> str:
        made = Response()
        made.set_cookie(
            CSRF_COOKIE, value, httponly=True, secure=self.secure, samesite="strict", path="/"
        )
        return made.headers["set-cookie"]
