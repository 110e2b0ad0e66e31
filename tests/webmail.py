"""Helpers for tests of the webmail: Roundcube's login form and request tokens, as a browser
meets them."""

from __future__ import annotations

import re

import httpx


def login(http: httpx.Client, user: str, password: str) -> httpx.Response:
    """Roundcube's login form as a browser fills it: the page's request token, then the POST."""
    page = http.get("/")
    assert page.status_code == 200, page.text
    token = re.search(r'name="_token" value="([^"]+)"', page.text)
    assert token, "no request token on the login page"
    return http.post(
        "/?_task=login",
        data={
            "_token": token.group(1),
            "_task": "login",
            "_action": "login",
            "_timezone": "UTC",
            "_url": "",
            "_user": user,
            "_pass": password,
        },
    )


def request_token(page: str) -> str:
    found = re.search(r'"request_token":"([^"]+)"', page)
    assert found, "no request token in the page's environment"
    return found.group(1)
