"""The portal in two languages over HTTP, against the session's real stack: Accept-Language
picks Chinese, the switch sets the cookie and (signed in) the person's preferredLanguage in
slapd, which a later sign-in on another browser brings back; a registration made on a Chinese
page gets its confirmation and welcome mails in Chinese and keeps the language in its entry;
the REST API stays English."""

from __future__ import annotations

import re
import secrets
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from identity.accounts import AccountStatus
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import NewAccount, wait_for
from tests.web import PASSWORD, client, form_token, graduate, mail_to

pytestmark = pytest.mark.integration
CHINESE = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}


def test_accept_language_zh_gives_chinese_pages_and_the_api_stays_english(
    live_stack: Settings,
) -> None:
    with client(live_stack) as http:
        home = http.get("/", headers=CHINESE)
        assert '<html lang="zh-CN">' in home.text
        assert "您的 jAccount 与终身邮箱" in home.text and "Sign in" not in home.text
        assert 'value="en" lang="en">English</button>' in home.text  # the way back
        english = http.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"})
        assert (
            '<html lang="en">' in english.text
            and "Your jAccount and lifelong mailbox" in english.text
        )
        # A refused form on a Chinese page: the rule's words in Chinese, under its field.
        refused = http.post(
            "/register",
            headers=CHINESE,
            data={"csrf_token": form_token(http, "/register"), "uid": "Ab", "name": "张伟"},
        )
        assert refused.status_code == 422
        assert "jAccount 用户名长度须为 3 至 32 个字符" in refused.text
        assert "must be" not in refused.text
        api = http.get("/api/v1/accounts", headers=CHINESE)
        assert api.status_code == 401 and re.search(r"[a-z]", api.json()["error"]["message"])
        assert not re.search(r"[\u4e00-\u9fff]", api.text)


def test_the_switch_sets_the_cookie_and_the_directory_entry(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService
) -> None:
    account, password = new_account()
    with client(live_stack) as http:
        switched = http.post(
            "/language",
            data={"csrf_token": form_token(http, "/"), "lang": "zh-CN", "next": "/login"},
        )
        assert switched.status_code == 303 and switched.headers["location"] == "/login"
        assert http.cookies["alumail_lang"] == "zh-CN"
        assert "登录" in http.get("/login").text  # no Accept-Language: the cookie decides
        bad = http.post(
            "/language", data={"csrf_token": form_token(http, "/"), "lang": "fr", "next": "/"}
        )
        assert bad.status_code == 422 and "alumail_lang=" not in bad.headers.get("set-cookie", "")
        # Signed in, the switch to English is written to the person's entry (as the person).
        http.post(
            "/login",
            data={
                "csrf_token": form_token(http, "/login"),
                "login": account.uid,
                "password": password,
            },
        )
        http.post("/language", data={"csrf_token": form_token(http, "/account"), "lang": "en"})
        assert accounts.get(account.uid).preferred_language == "en"
        assert "Personal data" in http.get("/account").text
    # Another browser that asks for Chinese: after sign-in the stored preference wins.
    with client(live_stack) as other:
        assert "登录" in other.get("/login", headers=CHINESE).text
        signed = other.post(
            "/login",
            headers=CHINESE,
            data={
                "csrf_token": form_token(other, "/login"),
                "login": account.uid,
                "password": password,
            },
        )
        assert "alumail_lang=en" in signed.headers["set-cookie"]
        page = other.get("/account", headers=CHINESE)
        assert '<html lang="en">' in page.text and "Personal data" in page.text
    assert accounts.get(account.uid).status is AccountStatus.ACTIVE


def test_a_registration_on_a_chinese_page_gets_its_mails_in_chinese(
    live_stack: Settings, tmp_path: Path, accounts: AccountService
) -> None:
    number = graduate(live_stack, tmp_path, name="张伟")
    uid = f"zhang.wei.{secrets.token_hex(2)}"
    with client(live_stack) as http:
        started = http.post(
            "/register",
            headers=CHINESE,
            data={
                "csrf_token": form_token(http, "/register"),
                "student_number": number,
                "name": "张伟",
                "birth_date": "1993-05-17",
                "graduation_year": "",
                "uid": uid,
                "password": PASSWORD,
                "password_again": PASSWORD,
                "recovery_email": f"{uid}@home.example.org",
            },
        )
        assert started.status_code == 200, started.text
        assert "请查收邮件" in started.text
    message = mail_to(live_stack, f"{uid}@home.example.org", "请确认您的校友 jAccount 注册")
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert message["Content-Language"] == "zh-CN"
    token = re.search(r"token=([A-Za-z0-9_-]+)", text)
    assert token
    # Confirmed from a browser in English: the entry and the welcome mail keep the language of
    # the page the graduate registered on.
    with client(live_stack) as http:
        done = http.post(
            "/register/confirm",
            data={"csrf_token": form_token(http, "/register"), "token": token.group(1)},
        )
        assert done.status_code == 200 and "Welcome" in done.text
    assert accounts.get(uid).preferred_language == "zh-CN"

    def welcome_subjects() -> list[str]:
        raw = mail.inbox_subjects(live_stack, uid, PASSWORD)
        return [str(make_header(decode_header(s))) for s in raw]

    assert wait_for(lambda: "欢迎使用校友邮箱" in welcome_subjects(), timeout=30)
    assert (
        "张伟，您好" in text and f"jAccount“{uid}”" in text and "/register/confirm?token=" in text
    )


def test_a_reset_link_is_mailed_in_the_holders_language_whatever_the_page(
    live_stack: Settings, new_account: NewAccount
) -> None:
    address = f"reset.{secrets.token_hex(3)}@home.example.org"
    account, _password = new_account(recovery_email=address, preferred_language="zh-CN")
    with client(live_stack) as http:  # an English page (no Accept-Language, no cookie)
        sent = http.post(
            "/forgot", data={"csrf_token": form_token(http, "/forgot"), "login": account.uid}
        )
        assert sent.status_code == 200 and "Check your recovery mailbox" in sent.text
    message = mail_to(live_stack, address, "重置您的校友 jAccount 密码")
    assert message["Content-Language"] == "zh-CN" and "校友 jAccount" in str(message["From"])
    body = message.get_body(("plain",))
    assert body is not None and "请在一小时内打开以下链接设置新密码" in body.get_content()
