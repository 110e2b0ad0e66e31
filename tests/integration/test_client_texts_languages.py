"""The last texts a person reads that were English only, against the session's real stack:
Thunderbird's autoconfig and Apple's profile in the reader's language (still valid XML and
plist, the values escaped), the provider's sign-in error page for a bad authorization request
(our words for each OAuth error code, the code kept), and a page route's refused parameters
(FastAPI's 422) as the site's 400 page naming the field, while the REST API keeps its JSON."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET

import pytest

from identity.roles import Role
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests.oidc import CALLBACK, Rp, pkce, register
from tests.support import NewAccount
from tests.web import bearer, client, form_token, staff_token

pytestmark = pytest.mark.integration
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9"}
ENGLISH = {"Accept-Language": "en"}


def test_thunderbird_reads_the_provider_in_its_language(live_stack: Settings) -> None:
    domain = live_stack.domain
    with client(live_stack) as http:
        chinese = http.get("/.well-known/autoconfig/mail/config-v1.1.xml", headers=CHINESE)
        english = http.get("/mail/config-v1.1.xml", headers=ENGLISH)
        http.cookies.set("alumail_lang", "zh-CN")
        by_cookie = http.get("/mail/config-v1.1.xml", headers=ENGLISH)
    for answer in (chinese, english, by_cookie):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
    provider = ET.fromstring(chinese.text).find("emailProvider")
    assert provider is not None
    assert provider.findtext("displayName") == f"校友邮箱（{domain}）"
    assert provider.findtext("displayShortName") == "校友邮箱"
    descr = provider.find("documentation/descr")
    assert descr is not None and descr.text == "邮件客户端设置" and descr.get("lang") == "zh-CN"
    # The servers are the same whatever the language.
    assert [e.findtext("port") for e in provider.iter("incomingServer")] == [
        e.findtext("port") for e in ET.fromstring(english.text).iter("incomingServer")
    ]
    english_provider = ET.fromstring(english.text).find("emailProvider")
    assert english_provider is not None
    assert english_provider.findtext("displayName") == f"Alumni mail ({domain})"
    assert ET.fromstring(by_cookie.text).findtext("emailProvider/displayShortName") == "校友邮箱"


def test_the_apple_profile_speaks_the_persons_stored_language(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    # A name with every character XML must escape: the plist still parses and carries it.
    name = "陈 <b>\"Tom\" & 'Jerry'</b>"
    account, password = new_account(name=name)
    accounts.modify(account.uid, preferred_language="zh-CN")
    with client(live_stack) as http:
        signed = http.post(
            "/login",
            headers=ENGLISH,
            data={
                "csrf_token": form_token(http, "/login"),
                "login": account.uid,
                "password": password,
            },
        )
        assert signed.status_code == 303
        # The stored language wins over the browser's English.
        answer = http.get("/account/clients/apple.mobileconfig", headers=ENGLISH)
    assert answer.status_code == 200
    assert b"<b>" not in answer.content and b"&lt;b&gt;" in answer.content
    profile = plistlib.loads(answer.content)
    assert profile["PayloadDisplayName"] == f"校友邮箱：{account.mail}"
    assert profile["PayloadDescription"] == "在“邮件”应用中设置您的校友邮箱。"
    [mail] = profile["PayloadContent"]
    assert mail["PayloadDisplayName"] == f"邮件：{account.mail}"
    assert mail["EmailAccountDescription"] == f"校友邮箱（{live_stack.domain}）"
    assert mail["EmailAccountName"] == name
    accounts.modify(account.uid, preferred_language="en")
    with client(live_stack) as http:
        http.post(
            "/login",
            headers=CHINESE,
            data={
                "csrf_token": form_token(http, "/login"),
                "login": account.uid,
                "password": password,
            },
        )
        english = plistlib.loads(http.get("/account/clients/apple.mobileconfig").content)
    assert english["PayloadDescription"] == "Sets up your alumni mailbox in Mail."


@pytest.fixture(scope="module")
def rp(live_stack: Settings) -> Rp:
    return register(live_stack)


@pytest.mark.parametrize(
    ("change", "code", "chinese"),
    [
        ({"client_id": "no-such-client"}, "invalid_client", "将您引导至此的应用未在本站注册。"),
        ({"redirect_uri": "https://evil.example/cb"}, "invalid_request", "返回地址并未登记"),
        ({"client_id": ""}, "invalid_client", "将您引导至此的应用未在本站注册。"),
        ({"redirect_uri": ""}, "invalid_request", "请求不完整或无效"),
    ],
)
def test_a_bad_authorization_request_is_explained_in_the_visitors_language(
    live_stack: Settings, rp: Rp, change: dict[str, str], code: str, chinese: str
) -> None:
    params = {
        "response_type": "code",
        "scope": "openid",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
        **change,
    }
    with client(live_stack) as http:
        page = http.get("/oidc/authorize", params=params, headers=CHINESE)
        english = http.get("/oidc/authorize", params=params, headers=ENGLISH)
    assert page.status_code == english.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in page.text and "登录请求被拒绝" in page.text
    assert chinese in page.text and f"错误代码：{code}" in page.text
    assert f"Error code: {code}" in english.text
    # Authlib's English descriptions are for the client's developer, not on the page.
    assert "is not supported by client" not in english.text


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"scope": "openid no-such-scope"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_errors_after_the_client_is_proven_go_back_to_it_in_oauths_words(
    live_stack: Settings, rp: Rp, change: dict[str, str], code: str
) -> None:
    params = {
        "response_type": "code",
        "scope": "openid",
        "client_id": rp.client_id,
        "redirect_uri": CALLBACK,
        "code_challenge": pkce()[1],
        "code_challenge_method": "S256",
        **change,
    }
    with client(live_stack) as http:
        answer = http.get("/oidc/authorize", params=params, headers=CHINESE)
    assert answer.status_code == 302
    assert answer.headers["location"].startswith(f"{CALLBACK}?error={code}")


@pytest.mark.parametrize("path", ["/login", "/register", "/forgot", "/language"])
def test_a_form_field_of_the_wrong_kind_is_the_sites_page_naming_it(
    live_stack: Settings, path: str
) -> None:
    """A form field sent as a file upload: FastAPI refuses the string parameter (422);
    a browser gets the site's page, 400, in its language, naming the field."""
    field = {"/login": "login", "/register": "uid", "/forgot": "login", "/language": "lang"}[path]
    with client(live_stack) as http:
        token = form_token(http, "/login")
        answers = {
            lang: http.post(
                path,
                headers=headers,
                data={"csrf_token": token},
                files={field: ("x.txt", b"x", "text/plain")},
            )
            for lang, headers in (("en", ENGLISH), ("zh-CN", CHINESE))
        }
    for lang, answer in answers.items():
        assert answer.status_code == 400, (path, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html")
        assert f'<html lang="{lang}">' in answer.text
        assert '"detail"' not in answer.text
    assert f"The field \u201c{field}\u201d has a value this page does not take." in (
        answers["en"].text
    )
    assert f"字段\u201c{field}\u201d的值不被本页面接受。" in answers["zh-CN"].text


def test_the_api_keeps_its_json_422(live_stack: Settings) -> None:
    token = staff_token(live_stack, Role.ADMIN)
    with client(live_stack) as http:
        for params in ({"limit": "abc"}, {"sort": "pinyin"}):
            answer = http.get("/api/v1/accounts", params=params, headers=bearer(token))
            assert answer.status_code == 422
            assert answer.headers["content-type"] == "application/json"
            error = answer.json()["error"]
            assert error["type"] == "validation" and error["field"] in params
