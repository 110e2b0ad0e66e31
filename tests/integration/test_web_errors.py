"""HTTP errors the router makes (no such page, a method a page does not take): a page in the
site's look, in the visitor's language, for people; FastAPI's JSON for the REST API and the
OpenID provider, whose clients are programs."""

from __future__ import annotations

import pytest

from mailstack.settings import Settings
from tests.web import client

pytestmark = pytest.mark.integration
BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "en"}
CHINESE = {**BROWSER, "Accept-Language": "zh-CN,zh;q=0.9"}


def test_an_unknown_page_is_a_page_in_the_sites_look(live_stack: Settings) -> None:
    with client(live_stack) as http:
        english = http.get("/no/such/page", headers=BROWSER)
        chinese = http.get("/no/such/page", headers=CHINESE)
        missing_file = http.get("/static/no-such.css", headers=BROWSER)
    for answer in (english, chinese, missing_file):
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html")
        assert '<a class="brand" href="/">' in answer.text  # the site's header
        assert 'href="/static/site.css"' in answer.text
        assert "Content-Security-Policy" in answer.headers
        assert '"detail"' not in answer.text
    assert "Page not found" in english.text and "There is no page at this address." in english.text
    assert '<html lang="zh-CN">' in chinese.text and "Page not found" not in chinese.text


def test_a_method_a_page_does_not_take_is_a_page_with_its_allow_header(
    live_stack: Settings,
) -> None:
    with client(live_stack) as http:
        answer = http.delete("/login", headers=BROWSER)
    assert answer.status_code == 405
    assert answer.headers["content-type"].startswith("text/html")
    assert "GET" in answer.headers["allow"]
    assert "This address does not take that kind of request." in answer.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/no-such-thing", 404),
        ("GET", "/oidc/no-such-endpoint", 404),
        ("GET", "/.well-known/no-such-document", 404),
        ("GET", "/oidc/token", 405),
    ],
)
def test_the_api_and_the_provider_answer_json(
    live_stack: Settings, method: str, path: str, status: int
) -> None:
    with client(live_stack) as http:
        answer = http.request(method, path, headers=BROWSER)
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["detail"] in ("Not Found", "Method Not Allowed")


def test_a_form_body_that_does_not_parse_is_a_page(live_stack: Settings) -> None:
    with client(live_stack) as http:
        answer = http.post(
            "/login",
            content=b"--x\r\nnot a part",
            headers={**BROWSER, "Content-Type": "multipart/form-data; boundary=x"},
        )
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "This request could not be answered." in answer.text
