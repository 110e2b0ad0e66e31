"""Staff keep their language in their entry as alumni do, against the session's real stack: the
switch writes a staff member's preferredLanguage (slapd lets them write that attribute of their
own entry and nothing else of it), and their next sign-in on any browser brings it back."""

from __future__ import annotations

import secrets

import httpx
import ldap
import pytest

from identity.dit import Tree
from identity.roles import Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.people.staff import StaffService
from tests.support import use_case
from tests.web import STAFF_PASSWORD, client, form_token

pytestmark = pytest.mark.integration
ENGLISH = {"Accept-Language": "en"}


def bound(settings: Settings, dn: str) -> ldap.ldapobject.LDAPObject:
    conn = ldap.initialize(Layout(settings.state_dir).ldapi_uri)
    conn.simple_bind_s(dn, STAFF_PASSWORD)
    return conn


def stored_language(settings: Settings, dn: str) -> list[bytes]:
    conn = ldap.initialize(Layout(settings.state_dir).ldapi_uri)
    conn.sasl_non_interactive_bind_s("EXTERNAL")
    [(_dn, entry)] = conn.search_s(dn, ldap.SCOPE_BASE, "(objectClass=*)", ["preferredLanguage"])
    values: list[bytes] = entry.get("preferredLanguage", [])
    return values


def sign_in(http: httpx.Client, uid: str) -> httpx.Response:
    return http.post(
        "/login",
        headers=ENGLISH,
        data={"csrf_token": form_token(http, "/login"), "login": uid, "password": STAFF_PASSWORD},
    )


@pytest.fixture
def desk(live_stack: Settings) -> tuple[str, str]:
    """A new helpdesk member and an admin: their uids."""
    suffix = secrets.token_hex(3)
    uids = (f"lang.desk.{suffix}", f"lang.admin.{suffix}")
    with use_case(StaffService, live_stack) as service:
        service.add(uids[0], "Language Desk", Role.HELPDESK, STAFF_PASSWORD)
        service.add(uids[1], "Language Admin", Role.ADMIN, STAFF_PASSWORD)
    return uids


def test_a_staff_member_writes_their_own_language_and_nothing_else(
    live_stack: Settings, desk: tuple[str, str]
) -> None:
    tree = Tree(live_stack.base_dn)
    own, other = (tree.staff_member(uid) for uid in desk)
    conn = bound(live_stack, own)
    conn.modify_s(own, [(ldap.MOD_REPLACE, "preferredLanguage", [b"zh-CN"])])
    assert stored_language(live_stack, own) == [b"zh-CN"]
    with pytest.raises(ldap.CONSTRAINT_VIOLATION):  # the language-tag rule holds here too
        conn.modify_s(own, [(ldap.MOD_REPLACE, "preferredLanguage", [b"<script>"])])
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        conn.modify_s(own, [(ldap.MOD_REPLACE, "displayName", [b"Root"])])
    with pytest.raises(ldap.INSUFFICIENT_ACCESS):
        conn.modify_s(other, [(ldap.MOD_REPLACE, "preferredLanguage", [b"en"])])
    assert stored_language(live_stack, other) == []


def test_the_switch_stores_a_staff_members_language_and_sign_in_brings_it_back(
    live_stack: Settings, desk: tuple[str, str]
) -> None:
    uid = desk[0]
    dn = Tree(live_stack.base_dn).staff_member(uid)
    with client(live_stack) as http:
        assert sign_in(http, uid).headers["location"] == "/helpdesk"
        switched = http.post(
            "/language",
            data={"csrf_token": form_token(http, "/helpdesk"), "lang": "zh-CN", "next": "/"},
        )
        assert switched.status_code == 303
    assert stored_language(live_stack, dn) == [b"zh-CN"]
    with client(live_stack) as elsewhere:  # another browser, English, no cookie
        assert sign_in(elsewhere, uid).status_code == 303
        assert elsewhere.cookies["alumail_lang"] == "zh-CN"
        page = elsewhere.get("/helpdesk", headers=ENGLISH)
        assert '<html lang="zh-CN">' in page.text
    # The audit trail records the write (an ordinary preference, but a change of an entry).
    with use_case(StaffService, live_stack) as service:
        assert service.language(uid) == "zh-CN"
        lines = service.accounts.audit.query(target=uid, action="staff-language")
    assert [(line["actor"], line["outcome"]) for line in lines][-1:] == [(uid, "ok")]
