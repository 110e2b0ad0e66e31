"""Hostile values written straight into the directory, against the session's real slapd: what
slapd refuses (proved with ldap-utils' ldapmodify as the person, and as root, who is held to the
same constraints), and what it lets in (HTML, rich markup, right-to-left overrides, C1 controls,
a 500-character name), which every face then shows intact: pages escaped, the CLI's tables and
JSON, the API, the OpenID claims and the recovery mail without the controls and with the name
cut to its length (identity/readback.py, the one place values read from the directory are
checked)."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import ldap
import pytest

from identity.dit import Tree
from identity.roles import Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from provisioning.people.staff import StaffService
from tests.oidc import code_for, exchange, register
from tests.oidc import signed_in as oidc_signed_in
from tests.support import NewAccount, cli, use_case, which
from tests.web import STAFF_PASSWORD, bearer, client, form_token, mail_to, staff_token

pytestmark = pytest.mark.integration
RLO = "\u202e"
CSI = "\u009b"  # the 8-bit Control Sequence Introducer: a terminal reads it as ESC [
ESC = "\x1b"


def ldapmodify(
    settings: Settings, dn: str, password: str, ldif: str, tmp: Path
) -> subprocess.CompletedProcess[str]:
    """ldap-utils' ldapmodify bound as ``dn`` (the password read from a file, not argv)."""
    secret = tmp / f"pw-{secrets.token_hex(3)}"
    secret.write_text(password)
    url = f"ldap://127.0.0.1:{settings.ports.ldap}"
    return subprocess.run(
        [which("ldapmodify"), "-x", "-H", url, "-D", dn, "-y", str(secret)],
        input=ldif,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def replace(dn: str, attribute: str, value: bytes) -> str:
    """An LDIF change replacing ``attribute`` with ``value`` (base64: any bytes)."""
    encoded = base64.b64encode(value).decode()
    return f"dn: {dn}\nchangetype: modify\nreplace: {attribute}\n{attribute}:: {encoded}\n"


def as_root(settings: Settings) -> ldap.ldapobject.LDAPObject:
    conn = ldap.initialize(Layout(settings.state_dir).ldapi_uri)
    conn.sasl_non_interactive_bind_s("EXTERNAL")
    return conn


def test_slapd_refuses_what_breaks_a_format_whoever_writes(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    dn = Tree(live_stack.base_dn).person(account.uid)
    huge = replace(dn, "preferredLanguage", b"a" * 100_000)
    sent = ldapmodify(live_stack, dn, password, huge, tmp_path)
    assert sent.returncode == 19, sent.stderr  # constraint violation
    assert "Constraint violation" in sent.stderr
    root = as_root(live_stack)
    refused = {
        "preferredLanguage": b"a" * 100_000,
        "displayName": b"\xff\xfe not UTF-8",  # directoryString must be UTF-8
        "cn": b"line\nbreak",
        "alumailStudentNumber": b"<script>",
        "alumailGraduationYear": b"20x5",
        "alumailMailQuota": b"-1",
        "alumailAccountStatus": b"evil",
        "alumailMailAlias": f"a{RLO}b@{live_stack.domain}".encode(),
        "telephoneNumber": b"1\x002",
    }
    for attribute, value in refused.items():
        with pytest.raises((ldap.CONSTRAINT_VIOLATION, ldap.INVALID_SYNTAX)):
            root.modify_s(dn, [(ldap.MOD_REPLACE, attribute, [value])])
    [(_dn, entry)] = root.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", list(refused))
    assert "preferredLanguage" not in entry and entry["alumailAccountStatus"] == [b"active"]


def hostile_names() -> dict[str, str]:
    return {
        "displayName": f"<script>alert(1)</script>[/b]{RLO}evil{CSI}31m",
        "givenName": f"[bold]{ESC}]0;title\u0085x"[:60],
        "sn": "x" * 500,  # 500 bytes pass slapd's 512; alumail writes at most 128 characters
    }


@contextmanager
def signed_in(settings: Settings, login: str, password: str) -> Iterator[httpx.Client]:
    with client(settings) as http:
        answer = http.post(
            "/login",
            data={"csrf_token": form_token(http, "/login"), "login": login, "password": password},
        )
        assert answer.status_code == 303, answer.text[:300]
        yield http


def test_what_slapd_lets_in_every_face_shows_intact(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path, accounts: AccountService
) -> None:
    word = "hv" + secrets.token_hex(3)
    recovery = f"{word}@home.example.org"
    account, password = new_account(name=f"Hostile {word}", recovery_email=recovery)
    dn = Tree(live_stack.base_dn).person(account.uid)
    stored = hostile_names()
    for attribute, value in stored.items():
        written = ldapmodify(
            live_stack, dn, password, replace(dn, attribute, value.encode()), tmp_path
        )
        # ESC is a control character: slapd refuses it; the rest goes in as the person.
        if ESC in value:
            assert written.returncode == 19, written.stderr
            value = value.replace(ESC, "")
            stored[attribute] = value
            written = ldapmodify(
                live_stack, dn, password, replace(dn, attribute, value.encode()), tmp_path
            )
        assert written.returncode == 0, (attribute, written.stderr)
    [(_dn, raw)] = as_root(live_stack).search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["sn"])
    assert raw["sn"] == [b"x" * 500]  # in the directory as written

    shown = accounts.get(account.uid)
    assert shown.display_name == "<script>alert(1)</script>[/b]evil31m"
    assert shown.given_name == "[bold]]0;titlex"
    assert shown.family_name is not None and len(shown.family_name) == 128

    def intact(text: str) -> None:
        for control in (RLO, CSI, "\u0085", ESC):
            assert control not in text
        assert "x" * 128 not in text

    # The CLI: tables (no rich markup read from the name) and JSON.
    for args in (
        ("account", "show", account.uid),
        ("account", "show", account.uid, "--json"),
        ("account", "list", "--search", account.uid, "--json"),
        ("account", "list", "--search", account.uid),
        ("helpdesk", "status", account.uid),
    ):
        done = cli(live_stack, *args)
        assert done.exit_code == 0, (args, done.stderr, done.exception)
        intact(done.stdout)
    listed = json.loads(
        cli(live_stack, "account", "list", "--search", account.uid, "--json").stdout
    )
    assert listed[0]["display_name"] == shown.display_name
    assert "[/b]" in cli(live_stack, "account", "show", account.uid).stdout

    # The API.
    token = staff_token(live_stack, Role.HELPDESK)
    with client(live_stack) as http:
        api = http.get(f"/api/v1/accounts/{account.uid}", headers=bearer(token))
    assert api.status_code == 200 and api.json()["display_name"] == shown.display_name
    intact(api.text)

    # The pages: the person's own, the helpdesk's and the admin console's.
    with signed_in(live_stack, account.uid, password) as own:
        profile = own.get("/account/clients/apple.mobileconfig")
        pages = [own.get("/account"), own.get("/account/clients"), profile]
    desk, admin = (f"hv.desk.{secrets.token_hex(2)}", f"hv.admin.{secrets.token_hex(2)}")
    with use_case(StaffService, live_stack) as service:
        service.add(desk, "Hostile Desk", Role.HELPDESK, STAFF_PASSWORD)
        service.add(admin, "Hostile Admin", Role.ADMIN, STAFF_PASSWORD)
    with signed_in(live_stack, desk, STAFF_PASSWORD) as staff:
        pages += [
            staff.get("/helpdesk", params={"q": account.uid}),
            staff.get(f"/helpdesk/accounts/{account.uid}"),
        ]
    with signed_in(live_stack, admin, STAFF_PASSWORD) as console:
        pages += [
            console.get("/admin/accounts", params={"q": account.uid}),
            console.get(f"/admin/accounts/{account.uid}"),
        ]
    for page in pages:
        assert page.status_code == 200, (page.url, page.text[:300])
        assert "<script>alert" not in page.text, page.url
        intact(page.text)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;[/b]evil31m" in pages[-1].text
    assert b"&lt;script&gt;" in profile.content

    # The OpenID claims an application receives.
    rp = register(live_stack, "--scope", "profile", "--trusted")
    http = oidc_signed_in(live_stack, account, password)
    code, verifier = code_for(http, rp, scope="openid profile")
    tokens = exchange(http, rp, code, verifier).json()
    claims = http.get(
        "/oidc/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert claims.status_code == 200 and claims.json()["name"] == shown.display_name
    assert len(claims.json()["family_name"]) == 128
    intact(claims.text)

    # The mails: a reset link to the recovery address, in the person's language.
    with client(live_stack) as http:
        sent = http.post(
            "/forgot", data={"csrf_token": form_token(http, "/forgot"), "login": account.uid}
        )
        assert sent.status_code == 200
    message = mail_to(live_stack, recovery, "")
    intact(message.as_string())
