"""The security headers and the CSRF cookie, added around any application: a route's own
header stays, the cookie goes out only when a page made a token and the browser has none."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from provisioning.web.security import CSRF_COOKIE, SECURITY_HEADERS, Defences

pytestmark = pytest.mark.unit


def defended(*, secure: bool) -> FastAPI:
    app = FastAPI()
    app.add_middleware(Defences, secure=secure)

    @app.get("/plain")
    def plain() -> dict[str, str]:
        return {}

    @app.get("/framed")
    def framed() -> Response:
        return Response(headers={"X-Frame-Options": "SAMEORIGIN"})

    @app.get("/form")
    def form(request: Request) -> dict[str, str]:
        request.state.new_csrf = "cookie-value"
        return {}

    return app


def get(app: FastAPI, *requests: tuple[str, dict[str, str]]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [await http.get(path, headers=headers) for path, headers in requests]

    return asyncio.run(run())


def test_every_response_carries_the_headers_and_a_route_keeps_its_own() -> None:
    plain, framed, missing = get(
        defended(secure=False), ("/plain", {}), ("/framed", {}), ("/nowhere", {})
    )
    for answer in (plain, missing):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name] == value
    assert framed.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "set-cookie" not in plain.headers


@pytest.mark.parametrize("secure", [False, True])
def test_a_page_that_made_a_token_sets_the_cookie_unless_the_browser_has_one(
    secure: bool,
) -> None:
    first, again = get(
        defended(secure=secure), ("/form", {}), ("/form", {"Cookie": f"{CSRF_COOKIE}=already"})
    )
    cookie = first.headers["set-cookie"]
    assert cookie.startswith(f"{CSRF_COOKIE}=cookie-value;")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert ("Secure" in cookie) is secure
    assert "set-cookie" not in again.headers
