"""Names as Chinese alumni write them, against the running stack: the helpdesk console, `alumail
account find` and the API find 张伟 by Han characters and pinyin alike; the console also finds
people by student number and graduates on the roster who have not registered; opening an
account is not an audit event. Registration reports each wrong answer under its own field,
takes the graduation year alone, dates as people write them and the roster's Latin spelling,
and a confirmation link followed again says the registration is done."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import httpx
import pytest

from identity.names import sort_key
from identity.roles import ROOT, Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.composition import Composition
from provisioning.people.staff import StaffService
from tests.support import NewAccount, cli, use_case
from tests.web import (
    PASSWORD,
    STAFF_PASSWORD,
    bearer,
    client,
    form_token,
    link,
    mail_to,
    token_of,
)

pytestmark = pytest.mark.integration


def sign_in(http: httpx.Client, login: str, password: str) -> httpx.Response:
    return http.post(
        "/login",
        data={"csrf_token": form_token(http, "/login"), "login": login, "password": password},
    )


def on_roster(settings: Settings, tmp: Path, rows: list[str]) -> list[str]:
    """Graduates added through `alumail roster import` (with the Latin-name column); their
    student numbers, in order. Each row is ``name,birth_date,graduation_year,latin_name``."""
    numbers = [f"N{secrets.randbelow(10**9):09d}" for _ in rows]
    path = tmp / f"roster-{numbers[0]}.csv"
    body = "".join(
        f"{number},{name},{birth},{year},,{latin}\n"
        for number, (name, birth, year, latin) in zip(
            numbers, (row.split(",") for row in rows), strict=True
        )
    )
    path.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address,latin_name\n" + body,
        encoding="utf-8",
    )
    done = cli(settings, "roster", "import", str(path))
    assert done.exit_code == 0, done.stderr
    return numbers


def results_table(page: str) -> str:
    return page.split('<table class="results">', 1)[1].split("</table>", 1)[0]


def test_the_helpdesk_finds_zhang_wei_by_han_and_pinyin_and_by_student_number(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    number = f"Z{secrets.randbelow(10**9):09d}"
    account, _ = new_account(name="张伟", student_number=number)
    [waiting] = on_roster(live_stack, tmp_path, ["欧阳娜娜,1994-03-02,2016,Ouyang Nana"])
    desk = f"names.desk.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(desk, "Names Desk", Role.HELPDESK, STAFF_PASSWORD)
    audit = AuditLog(Layout(live_stack.state_dir).audit_log)
    with client(live_stack) as staff:
        assert sign_in(staff, desk, STAFF_PASSWORD).headers["location"] == "/helpdesk"
        for query in ("张伟", "张\u3000伟", "zhang wei", "zhangwei", "ZhangWei", number.lower()):
            page = staff.get("/helpdesk", params={"q": query})
            assert page.status_code == 200
            assert f'href="/helpdesk/accounts/{account.uid}"' in results_table(page.text), query
        assert (
            f"/helpdesk/accounts/{account.uid}"
            not in staff.get("/helpdesk", params={"q": "li wei"}).text
        )
        # Listed by name, Han names by their pinyin among the others.
        new_account(name="Zhang Min")
        new_account(name="Zhao Lei")
        listed = re.findall(
            r'href="/helpdesk/accounts/[^"]+">[^<]+</a></td><td>([^<]+)</td>',
            staff.get("/helpdesk", params={"q": "zh"}).text,
        )
        assert {"张伟", "Zhang Min"} <= set(listed) and listed == sorted(listed, key=sort_key)
        # A graduate on the roster who has not registered: found by name, pinyin, the Latin
        # spelling or student number, marked so, with nothing to act on.
        for query in ("欧阳娜娜", "ouyang nana", waiting):
            table = results_table(staff.get("/helpdesk", params={"q": query}).text)
            row = next(r for r in table.split("<tr") if waiting in r)
            assert 'class="unregistered"' in row and "not registered" in row, query
            assert "href=" not in row and "<form" not in row
        # Opening an account is a read: it adds nothing to the account's recent activity.
        before = audit.query(target=account.uid)
        opened = staff.get(f"/helpdesk/accounts/{account.uid}")
        assert opened.status_code == 200 and "张伟" in opened.text
        staff.get(f"/helpdesk/accounts/{account.uid}")
        assert audit.query(target=account.uid) == before
        recent = opened.text.split("Recent activity", 1)[1]
        # Each action in a cell whose title is its identifier, the outcome in the next one.
        shown = r'<td title="(\w[\w-]*)">[^<]*</td><td>(ok|denied|failed)</td>'
        assert re.findall(shown, recent) == [
            (line["action"], line["outcome"]) for line in reversed(before[-10:])
        ]


def test_account_find_and_the_api_search_by_pinyin(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, _ = new_account(name="欧阳 娜娜")
    other, _ = new_account(name="欧阳修")
    found = cli(live_stack, "account", "list", "--search", "ouyang nana", "--json")
    uids = [a["uid"] for a in json.loads(found.stdout)]
    assert account.uid in uids and other.uid not in uids
    desk = f"names.api.{secrets.token_hex(2)}"
    with Composition(live_stack) as root:
        root.staff(ROOT).add(desk, "API Desk", Role.HELPDESK, STAFF_PASSWORD)
        token = root.api_tokens().issue(ROOT, desk, "names test").token
    with client(live_stack) as http:
        search = {"search": "ouyangnana"}
        answer = http.get("/api/v1/accounts", params=search, headers=bearer(token))
        assert answer.status_code == 200
        assert account.uid in [a["uid"] for a in answer.json()["accounts"]]
        refused = http.get("/api/v1/accounts", params={"search": "\x00"}, headers=bearer(token))
        assert refused.status_code == 422 and "search" in refused.text


def register(http: httpx.Client, number: str, uid: str, **answers: str) -> httpx.Response:
    values = {
        "csrf_token": form_token(http, "/register"),
        "student_number": number,
        "name": "",
        "birth_date": "",
        "graduation_year": "",
        "uid": uid,
        "password": PASSWORD,
        "password_again": PASSWORD,
        "recovery_email": f"{uid}@home.example.org",
        **answers,
    }
    return http.post("/register", data=values)


def errors_on(page: str) -> dict[str, str]:
    """The error shown under each field: {field id: message}."""
    return dict(re.findall(r'id="(\w+)-error"[^>]*>([^<]+)<', page))


def test_each_wrong_answer_is_shown_under_its_own_field(
    live_stack: Settings, tmp_path: Path
) -> None:
    both, birth_only = on_roster(
        live_stack, tmp_path, ["王芳,1990-02-03,2012,Wang Fang", "李娜,1991-04-05,,"]
    )
    uid = f"wrong.{secrets.token_hex(2)}"
    cases = [
        (both, {"name": "王方", "birth_date": "1990-02-03"}, "name"),
        (both, {"name": "王芳", "birth_date": "1990-02-04"}, "birth_date"),
        (both, {"name": "王芳", "graduation_year": "2013"}, "graduation_year"),
        (both, {"name": "王芳", "birth_date": "1990年2月30日"}, "birth_date"),
        (birth_only, {"name": "李娜", "graduation_year": "2013"}, "birth_date"),
        ("N000000000", {"name": "王芳", "birth_date": "1990-02-03"}, "student_number"),
    ]
    with client(live_stack) as http:
        for number, answers, field in cases:
            page = register(http, number, uid, **answers)
            assert page.status_code == 422, answers
            errors = errors_on(page.text)
            assert list(errors) == [field], (answers, errors)
        # The year the roster holds says why a year alone is not enough there.
        page = register(http, birth_only, uid, name="李娜", graduation_year="2013")
        assert "holds your date of birth" in errors_on(page.text)["birth_date"]


def test_year_alone_chinese_dates_and_the_latin_name_register(
    live_stack: Settings, tmp_path: Path
) -> None:
    by_year, by_date, by_latin = on_roster(
        live_stack,
        tmp_path,
        ["王芳,1990-02-03,2012,", "刘洋,1992-07-08,,", "陈静,1993-09-10,2015,Chen Jing"],
    )
    with client(live_stack) as http:
        for number, answers in (
            (by_year, {"name": "王 芳", "graduation_year": "2012"}),
            (by_date, {"name": "刘\u3000洋", "birth_date": "1992年7月8日"}),
            (by_latin, {"name": "chen jing", "birth_date": "1993/9/10"}),
        ):
            uid = f"ok.{secrets.token_hex(3)}"
            page = register(http, number, uid, **answers)
            assert page.status_code == 200, (answers, errors_on(page.text))


def test_a_confirmation_link_followed_again_says_sign_in(
    live_stack: Settings, tmp_path: Path
) -> None:
    [number] = on_roster(live_stack, tmp_path, ["周杰,1989-12-01,2011,"])
    uid = f"again.{secrets.token_hex(2)}"
    with client(live_stack) as http:
        assert register(http, number, uid, name="周杰", birth_date="1989-12-01").status_code == 200
        message = mail_to(live_stack, f"{uid}@home.example.org", "Confirm your alumni jAccount")
        token = token_of(link(message, "/register/confirm"))
        data = {"csrf_token": form_token(http, "/register"), "token": token}
        assert http.post("/register/confirm", data=data).status_code == 200
        for again in (
            http.get(f"/register/confirm?token={token}"),
            http.post("/register/confirm", data=data),
        ):
            assert again.status_code == 200
            assert "Registration done already" in again.text and 'href="/login"' in again.text
            assert "register again" not in again.text
        # A link that never worked still says so.
        bogus = http.get("/register/confirm?token=not-a-token")
        assert bogus.status_code == 404 and "not valid or has expired" in bogus.text
