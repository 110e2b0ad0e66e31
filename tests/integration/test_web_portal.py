"""The alumni portal over HTTP (no JavaScript, as a plain client sees it): registration against
the roster with e-mail confirmation, self-service, password recovery, the helpdesk console."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import httpx
import pytest

from identity.roles import Role
from mailstack.settings import Settings
from provisioning.people.staff import StaffService
from tests import mail
from tests.support import NewAccount, alumail, use_case, wait_for
from tests.web import PASSWORD, client, form_token, graduate, link, mail_to, mails_to, token_of

pytestmark = pytest.mark.integration


def errors_on(page: str) -> list[str]:
    return re.findall(r'class="error"[^>]*>([^<]+)<', page)


def register(
    http: httpx.Client,
    settings: Settings,
    number: str,
    uid: str,
    *,
    name: str = "Zhang Min",
    birth: str = "1993-05-17",
    **extra: str,
) -> httpx.Response:
    values = {
        "csrf_token": form_token(http, "/register"),
        "student_number": number,
        "name": name,
        "birth_date": birth,
        "graduation_year": "",
        "uid": uid,
        "password": PASSWORD,
        "password_again": PASSWORD,
        "recovery_email": f"{uid}@home.example.org",
        **extra,
    }
    return http.post("/register", data=values)


def confirm(http: httpx.Client, settings: Settings, uid: str) -> httpx.Response:
    message = mail_to(settings, f"{uid}@home.example.org", "Confirm your alumni jAccount")
    url = link(message, "/register/confirm")
    assert http.get(f"/register/confirm?token={token_of(url)}").status_code == 200
    return http.post(
        "/register/confirm",
        data={"csrf_token": form_token(http, "/register"), "token": token_of(url)},
    )


def test_registration_to_first_imap_login(live_stack: Settings, tmp_path: Path) -> None:
    number = graduate(live_stack, tmp_path, legacy="zhang.min@old-alumni.example.edu")
    uid = f"zhang.{secrets.token_hex(2)}"
    with client(live_stack) as http:
        started = register(http, live_stack, number, uid, name="  zhang   MIN ")
        assert started.status_code == 200, errors_on(started.text)
        assert "zhang.min@old-alumni.example.edu" in started.text  # told how old mail moves
        # Nothing exists before the confirmation.
        assert not mail.imap_login_ok(live_stack, uid, PASSWORD)
        done = confirm(http, live_stack, uid)
        assert done.status_code == 200 and f"{uid}@{live_stack.domain}" in done.text
        assert str(live_stack.ports.imaps) in done.text  # how to connect
    assert mail.imap_login_ok(live_stack, uid, PASSWORD)
    assert mail.smtp_login_ok(live_stack, uid, PASSWORD)
    # The welcome mail goes through the web service's outbox and Postfix: it arrives, soon.
    assert wait_for(
        lambda: "Welcome to your alumni mailbox" in mail.inbox_subjects(live_stack, uid, PASSWORD),
        timeout=30,
    ), mail.inbox_subjects(live_stack, uid, PASSWORD)
    shown = alumail(live_stack, "account", "show", uid, "--json", check=True).stdout
    assert number in shown and f"{uid}@home.example.org" in shown
    # The legacy holder is listed for the move of their old mail and the cutoff.
    legacy = json.loads(alumail(live_stack, "legacy", "status", "--json", check=True).stdout)
    assert {
        "uid": uid,
        "legacy_address": "zhang.min@old-alumni.example.edu",
        "state": "not-migrated",
    }.items() <= next(h for h in legacy["holders"] if h["uid"] == uid).items()


def test_a_roster_entry_registers_once_and_a_link_works_once(
    live_stack: Settings, tmp_path: Path
) -> None:
    number = graduate(live_stack, tmp_path)
    uid = f"once.{secrets.token_hex(2)}"
    with client(live_stack) as http:
        register(http, live_stack, number, uid)
        message = mail_to(live_stack, f"{uid}@home.example.org", "Confirm your alumni jAccount")
        token = token_of(link(message, "/register/confirm"))
        data = {"csrf_token": form_token(http, "/register"), "token": token}
        assert http.post("/register/confirm", data=data).status_code == 200
        again = http.post("/register/confirm", data=data)
        assert again.status_code == 200 and "Registration done already" in again.text
        second = register(http, live_stack, number, f"other.{secrets.token_hex(2)}")
    assert second.status_code == 409
    assert "registered a jAccount already" in second.text


def test_registration_checks_every_field_and_creates_nothing(
    live_stack: Settings, tmp_path: Path
) -> None:
    number = graduate(live_stack, tmp_path)
    before = mails_to(live_stack, "bad@home.example.org")
    with client(live_stack) as http:
        page = register(
            http,
            live_stack,
            number,
            "Bad Name",
            password="short",
            password_again="different",
            recovery_email=f"someone@{live_stack.domain}",
        )
    assert page.status_code == 422
    messages = " | ".join(errors_on(page.text))
    assert "jAccount name must be lowercase" in messages
    assert "Password must be at least 10 characters" in messages
    assert "Password again must be the same password again" in messages
    assert "Recovery e-mail must be an address outside this service" in messages
    assert 'value="Zhang Min"' in page.text and PASSWORD not in page.text  # kept, not secrets
    assert mails_to(live_stack, "bad@home.example.org") == before


def test_wrong_details_do_not_match_the_roster(live_stack: Settings, tmp_path: Path) -> None:
    number = graduate(live_stack, tmp_path)
    uid = f"nope.{secrets.token_hex(2)}"
    with client(live_stack) as http:
        wrong_birth = register(http, live_stack, number, uid, birth="1990-01-01")
        unknown = register(http, live_stack, "S000000001", uid)
    assert wrong_birth.status_code == 422 and unknown.status_code == 422
    assert "Date of birth does not match the alumni roster" in wrong_birth.text
    assert "Student number is not in the alumni roster" in unknown.text
    assert mails_to(live_stack, f"{uid}@home.example.org") == 0


def sign_in(http: httpx.Client, login: str, password: str) -> httpx.Response:
    return http.post(
        "/login",
        data={"csrf_token": form_token(http, "/login"), "login": login, "password": password},
    )


def test_self_service_profile_and_recovery_address(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account(recovery_email="old@home.example.org")
    with client(live_stack) as http:
        assert sign_in(http, account.mail, password).headers["location"] == "/account"
        token = form_token(http, "/account")
        bad = http.post(
            "/account",
            data={"csrf_token": token, "display_name": "陈静", "phone": "call me"},
        )
        assert bad.status_code == 422 and "Telephone must be a telephone number" in bad.text
        saved = http.post(
            "/account",
            data={
                "csrf_token": token,
                "display_name": "陈静",
                "phone": "+86 21 5474 2208",
                "postal_address": "800 Dongchuan Rd\nMinhang, Shanghai",
                "recovery_email": "new@home.example.org",
            },
        )
        assert saved.status_code == 200 and "Your details are saved" in saved.text
        view = alumail(live_stack, "account", "show", account.uid, "--json", check=True).stdout
        assert "陈静" in view and "+86 21 5474 2208" in view
        assert "old@home.example.org" in view  # unchanged until confirmed
        message = mail_to(live_stack, "new@home.example.org", "Confirm your recovery address")
        token_url = link(message, "/account/recovery")
        confirmed = http.post(
            "/account/recovery",
            data={"csrf_token": token, "token": token_of(token_url)},
        )
        assert confirmed.status_code == 200
    view = alumail(live_stack, "account", "show", account.uid, "--json", check=True).stdout
    assert "new@home.example.org" in view


def test_password_change_needs_the_current_password(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    with client(live_stack) as http:
        sign_in(http, account.uid, password)
        token = form_token(http, "/account/password")
        refused = http.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current": "Not-The-Password-1",
                "password": "Brand-New-Password-8",
                "password_again": "Brand-New-Password-8",
            },
        )
        assert refused.status_code == 422 and "is not your current password" in refused.text
        changed = http.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current": password,
                "password": "Brand-New-Password-8",
                "password_again": "Brand-New-Password-8",
            },
        )
        assert changed.status_code == 200
    assert mail.imap_login_ok(live_stack, account.uid, "Brand-New-Password-8")
    assert not mail.imap_login_ok(live_stack, account.uid, password)


def test_forgotten_password_reset_by_mail(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account(recovery_email="forgot@home.example.org")
    with client(live_stack) as http:
        sign_in(http, account.uid, password)
        assert http.get("/account").status_code == 200
        with client(live_stack) as other:
            token = form_token(other, "/forgot")
            answer = other.post("/forgot", data={"csrf_token": token, "login": account.uid})
            assert answer.status_code == 200
            message = mail_to(live_stack, "forgot@home.example.org", "Reset your alumni jAccount")
            url = link(message, "/reset")
            page = other.get(f"/reset?token={token_of(url)}")
            assert page.status_code == 200 and account.uid in page.text
            new = "Recovered-Password-3"
            data = {
                "csrf_token": token,
                "token": token_of(url),
                "password": new,
                "password_again": new,
            }
            assert other.post("/reset", data=data).status_code == 200
            reused = other.post("/reset", data=data)
            assert reused.status_code == 422
        # The reset ended the browser session that was open.
        assert http.get("/account").status_code == 303
    assert mail.imap_login_ok(live_stack, account.uid, "Recovered-Password-3")
    assert not mail.imap_login_ok(live_stack, account.uid, password)


def test_forgot_gives_the_same_answer_for_unknown_accounts(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, _ = new_account(recovery_email="same@home.example.org")
    with client(live_stack) as http:
        token = form_token(http, "/forgot")
        known = http.post("/forgot", data={"csrf_token": token, "login": account.uid})
        unknown = http.post("/forgot", data={"csrf_token": token, "login": "no.such.person"})
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text


@pytest.fixture(scope="module")
def desk(live_stack: Settings) -> str:
    uid = f"console.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Console Desk", Role.HELPDESK, "Staff-Password-55")
    return uid


def test_helpdesk_console_reset_then_forced_change(
    live_stack: Settings, desk: str, new_account: NewAccount
) -> None:
    account, password = new_account(name="Huang Lei")
    with client(live_stack) as staff:
        assert sign_in(staff, desk, "Staff-Password-55").headers["location"] == "/helpdesk"
        found = staff.get("/helpdesk", params={"q": "Huang Lei"})
        assert f"/helpdesk/accounts/{account.uid}" in found.text
        token = form_token(staff, f"/helpdesk/accounts/{account.uid}")
        action = f"/helpdesk/accounts/{account.uid}/reset-password"
        # The first post asks, and changes nothing: the old password still signs in.
        asked = staff.post(action, data={"csrf_token": token})
        assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
        assert f"Reset the password of {account.uid}?" in asked.text
        assert mail.imap_login_ok(live_stack, account.uid, password)
        reset = staff.post(action, data={"csrf_token": token, "confirmed": "yes"})
        shown = re.search(r'id="temporary-password">([^<]+)<', reset.text)
        assert shown, reset.text
        temporary = shown.group(1)
        again = staff.get(f"/helpdesk/accounts/{account.uid}")
        assert temporary not in again.text  # shown once
        assert "reset-password" in again.text  # in the recent audit
    with client(live_stack) as alumnus:
        assert sign_in(alumnus, account.uid, temporary).headers["location"] == "/account/password"
        assert alumnus.get("/account").headers["location"] == "/account/password"
        token = form_token(alumnus, "/account/password")
        changed = alumnus.post(
            "/account/password",
            data={
                "csrf_token": token,
                "current": temporary,
                "password": "After-Reset-Password-4",
                "password_again": "After-Reset-Password-4",
            },
        )
        assert changed.status_code == 200
        assert alumnus.get("/account").status_code == 200
    assert mail.imap_login_ok(live_stack, account.uid, "After-Reset-Password-4")
    assert not mail.imap_login_ok(live_stack, account.uid, password)


def test_helpdesk_console_never_shows_staff_and_alumni_cannot_open_it(
    live_stack: Settings, desk: str, new_account: NewAccount
) -> None:
    account, password = new_account()
    with client(live_stack) as staff:
        sign_in(staff, desk, "Staff-Password-55")
        assert desk not in staff.get("/helpdesk", params={"q": "console"}).text.split("<table")[-1]
        assert staff.get(f"/helpdesk/accounts/{desk}").status_code in (403, 404)
    with client(live_stack) as alumnus:
        sign_in(alumnus, account.uid, password)
        assert alumnus.get("/helpdesk").status_code == 403


def test_roster_import_command(live_stack: Settings, tmp_path: Path) -> None:
    path = tmp_path / "roster.csv"
    path.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address\n"
        "R-0001,Sun Li,1990-02-03,,\n"
        "R-0002,Zhou Ping,,2012,zhou@old.example.edu\n"
        "R-0003,,1990-01-01,,\n"
        "R-0004,Qian Yu,1990-13-01,,\n",
        encoding="utf-8",
    )
    first = alumail(live_stack, "roster", "import", str(path), "--json")
    assert first.returncode == 10
    assert '"added": 2' in first.stdout and '"failed": 2' in first.stdout
    assert "must not be empty" in first.stdout and "is not a date of the calendar" in first.stdout
    second = alumail(live_stack, "roster", "import", str(path), "--json")
    assert '"unchanged": 2' in second.stdout and '"added": 0' in second.stdout
    accounts = alumail(live_stack, "account", "list", "--json", check=True).stdout
    assert "Sun Li" not in accounts  # the roster creates no account
