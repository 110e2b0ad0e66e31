"""Circles on the real stack: cohort circles made from the records, joining at once when the
record proves it, an application that waits for the owner, the decision mailed, memberOf as
slapd keeps it (read over LDAP as the alumnus), a hidden circle invisible to others, and the
bad inputs of issue 14 refused with nothing half-done."""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import replace
from email.header import decode_header, make_header
from pathlib import Path

import httpx
import pytest
from click.testing import Result

from identity.accounts import Account
from identity.circles import Kind, Policy
from identity.directory import Credentials
from identity.dit import Tree
from identity.roles import Actor, Role
from mailstack.settings import Settings
from mailstack.settings.sections import Circles
from provisioning.circles.service import APPLICATIONS_PER_WINDOW, CircleService
from provisioning.composition import Composition
from provisioning.errors import RateLimitedError
from tests.integration.test_web_portal import confirm
from tests.integration.test_web_portal import register as register_graduate
from tests.mail import inbox_subjects
from tests.oidc import (
    close_browsers,  # noqa: F401 -- an autouse fixture
    code_for,
    exchange,
    register,
    signed_in,
)
from tests.support import NewAccount, cli, use_case, wait_for, which
from tests.web import bearer, client, graduate, staff_tokens

pytestmark = pytest.mark.integration


def as_actor(
    settings: Settings, account: Account, password: str, tmp_path: Path, *args: str
) -> Result:
    secret = tmp_path / f"{account.uid}.pw"
    secret.write_text(password + "\n")
    return cli(settings, "--actor", account.uid, "--actor-password-file", str(secret), *args)


def ldap_as(settings: Settings, account: Account, password: str, *args: str) -> str:
    """ldapsearch (ldap-utils) bound as the alumnus over slapd's TCP listener."""
    tree = Tree(settings.base_dn)
    proc = subprocess.run(
        [
            which("ldapsearch"),
            "-LLL",
            "-x",
            "-o",
            "ldif-wrap=no",
            "-H",
            f"ldap://127.0.0.1:{settings.ports.ldap}",
            "-D",
            tree.person(account.uid),
            "-w",
            password,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode in (0, 32), proc.stderr  # 32: no such object
    return proc.stdout


def alumnus(account: Account, password: str, settings: Settings) -> Actor:
    return Actor(
        account.uid,
        Role.ALUMNUS,
        Credentials(Tree(settings.base_dn).person(account.uid), password),
    )


def test_cohort_circles_and_a_graduate_in_at_once(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    graduate, password = new_account(graduation_year=1987, class_code="f8703101")
    other, other_password = new_account(graduation_year=1988)

    planned = cli(live_stack, "circle", "sync-cohorts", "--dry-run", "--json")
    assert planned.exit_code == 0, planned.output
    names = {c["name"] for c in json.loads(planned.stdout)["add"]}
    assert {"grade-1987", "grade-1988", "class-f8703101"} <= names
    shown = cli(live_stack, "circle", "show", "grade-1987")
    assert shown.exit_code == 5 and "no circle named 'grade-1987'" in shown.stderr  # dry run

    made = cli(live_stack, "circle", "sync-cohorts")
    assert made.exit_code == 0, made.output
    assert "added grade circle grade-1987" in made.stderr
    again = cli(live_stack, "circle", "sync-cohorts")
    assert again.exit_code == 0 and "nothing to change" in again.stderr

    joined = as_actor(live_stack, graduate, password, tmp_path, "circle", "apply", "grade-1987")
    assert joined.exit_code == 0, joined.output
    assert f"{graduate.uid} joined grade-1987" in joined.stderr
    in_class = as_actor(
        live_stack, graduate, password, tmp_path, "circle", "apply", "class-f8703101"
    )
    assert in_class.exit_code == 0 and "joined" in in_class.stderr

    # Another year's graduate is not proven by their record: the application waits.
    waits = as_actor(live_stack, other, other_password, tmp_path, "circle", "apply", "grade-1987")
    assert waits.exit_code == 0 and "waits" in waits.stderr

    tree = Tree(live_stack.base_dn)
    seen = ldap_as(
        live_stack, graduate, password, "-b", tree.person(graduate.uid), "-s", "base", "memberOf"
    )
    assert f"memberOf: {tree.circle('grade-1987')}" in seen
    assert f"memberOf: {tree.circle('class-f8703101')}" in seen
    assert "memberOf" not in ldap_as(
        live_stack, other, other_password, "-b", tree.person(other.uid), "-s", "base", "memberOf"
    )

    mine = as_actor(live_stack, graduate, password, tmp_path, "circle", "list", "--mine", "--json")
    assert {c["name"] for c in json.loads(mine.stdout)} == {"grade-1987", "class-f8703101"}
    counts = json.loads(cli(live_stack, "circle", "show", "grade-1987", "--json").stdout)
    assert (counts["members"], counts["pending_applications"]) == (1, 1)


def test_an_application_waits_for_the_owner_who_approves_and_the_applicant_is_told(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, owner_pw = new_account()
    applicant, applicant_pw = new_account(preferred_language="zh-CN")
    stranger, stranger_pw = new_account()

    made = as_actor(
        live_stack,
        owner,
        owner_pw,
        tmp_path,
        "circle",
        "create",
        f"club-{owner.uid}",
        "--title",
        "上海校友 Shanghai",
        "--kind",
        "interest",
    )
    assert made.exit_code == 0, made.output
    name = f"club-{owner.uid}"
    applied = as_actor(
        live_stack,
        applicant,
        applicant_pw,
        tmp_path,
        "circle",
        "apply",
        name,
        "--message",
        "我是2010届",
    )
    assert applied.exit_code == 0 and "waits" in applied.stderr
    twice = as_actor(live_stack, applicant, applicant_pw, tmp_path, "circle", "apply", name)
    assert twice.exit_code == 6 and "applied to" in twice.stderr

    # Neither the applicant nor a stranger decides; nor sees the applications.
    for who, pw in ((applicant, applicant_pw), (stranger, stranger_pw)):
        refused = as_actor(live_stack, who, pw, tmp_path, "circle", "approve", name, applicant.uid)
        assert refused.exit_code == 9, refused.output
        assert "may not decide applications" in refused.stderr
        hidden = as_actor(live_stack, who, pw, tmp_path, "circle", "applications", name)
        assert hidden.exit_code == 9

    listed = as_actor(
        live_stack, owner, owner_pw, tmp_path, "circle", "applications", name, "--json"
    )
    assert [(a["uid"], a["message"]) for a in json.loads(listed.stdout)] == [
        (applicant.uid, "我是2010届")
    ]
    approved = as_actor(
        live_stack, owner, owner_pw, tmp_path, "circle", "approve", name, applicant.uid
    )
    assert approved.exit_code == 0, approved.output
    again = as_actor(
        live_stack, owner, owner_pw, tmp_path, "circle", "approve", name, applicant.uid
    )
    assert again.exit_code == 5 and "no pending application" in again.stderr

    tree = Tree(live_stack.base_dn)
    seen = ldap_as(
        live_stack,
        applicant,
        applicant_pw,
        "-b",
        tree.person(applicant.uid),
        "-s",
        "base",
        "memberOf",
    )
    assert f"memberOf: {tree.circle(name)}" in seen
    # Told in their language (zh-CN), over IMAP from their own mailbox.
    assert wait_for(
        lambda: "您已加入圈子" in " ".join(_decoded(live_stack, applicant.uid, applicant_pw))
    )

    # The only owner cannot leave; a member can; the stranger cannot remove anyone.
    stuck = as_actor(live_stack, owner, owner_pw, tmp_path, "circle", "leave", name)
    assert stuck.exit_code == 6 and "hand ownership over first" in stuck.stderr
    removing = as_actor(
        live_stack, stranger, stranger_pw, tmp_path, "circle", "remove", name, applicant.uid
    )
    assert removing.exit_code == 9
    left = as_actor(live_stack, applicant, applicant_pw, tmp_path, "circle", "leave", name)
    assert left.exit_code == 0, left.output
    assert "memberOf" not in ldap_as(
        live_stack,
        applicant,
        applicant_pw,
        "-b",
        tree.person(applicant.uid),
        "-s",
        "base",
        "memberOf",
    )


def _decoded(settings: Settings, uid: str, password: str) -> list[str]:
    return [str(make_header(decode_header(s))) for s in inbox_subjects(settings, uid, password)]


def test_a_hidden_circle_is_invisible_to_non_members_over_ldap(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, owner_pw = new_account()
    outsider, outsider_pw = new_account()
    name = f"quiet-{owner.uid}"
    made = as_actor(
        live_stack,
        owner,
        owner_pw,
        tmp_path,
        "circle",
        "create",
        name,
        "--title",
        "Quiet",
        "--kind",
        "interest",
        "--hidden",
    )
    assert made.exit_code == 0, made.output
    tree = Tree(live_stack.base_dn)
    search = ("-b", tree.circles, "-s", "one", f"(cn={name})", "cn")
    assert f"cn: {name}" in ldap_as(live_stack, owner, owner_pw, *search)
    assert ldap_as(live_stack, outsider, outsider_pw, *search).strip() == ""
    assert (
        ldap_as(live_stack, outsider, outsider_pw, "-b", tree.circle(name), "-s", "base").strip()
        == ""
    )
    shown = as_actor(live_stack, outsider, outsider_pw, tmp_path, "circle", "show", name)
    assert shown.exit_code == 5 and f"no circle named '{name}'" in shown.stderr
    applied = as_actor(live_stack, outsider, outsider_pw, tmp_path, "circle", "apply", name)
    assert applied.exit_code == 5
    listed = as_actor(live_stack, outsider, outsider_pw, tmp_path, "circle", "list", "--json")
    assert name not in {c["name"] for c in json.loads(listed.stdout)}
    staff_view = json.loads(cli(live_stack, "circle", "list", "--json").stdout)
    assert name in {c["name"] for c in staff_view}
    # An alumnus cannot write a circle straight to slapd either (only alumail does).
    ldapmodify = subprocess.run(
        [
            which("ldapmodify"),
            "-x",
            "-H",
            f"ldap://127.0.0.1:{live_stack.ports.ldap}",
            "-D",
            tree.person(owner.uid),
            "-w",
            owner_pw,
        ],
        input=f"dn: {tree.circle(name)}\nchangetype: modify\nadd: member\n"
        f"member: {tree.person(outsider.uid)}\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ldapmodify.returncode == 50, ldapmodify.stderr  # insufficient access


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["circle", "show", "no-such-circle"], 5, "no circle named 'no-such-circle'"),
        (["circle", "show", "Bad Name"], 4, "name: may contain only lowercase letters"),
        (["circle", "show", "ab"], 4, "name: must be 3 to 48 characters long"),
        (["circle", "create", "postmaster", "--title", "T", "--kind", "interest"], 4, "reserved"),
        (
            ["circle", "create", "grade-x1", "--title", "T", "--kind", "interest"],
            4,
            "cohort circles",
        ),
        (
            ["circle", "create", "grade-1990", "--title", "T", "--kind", "grade"],
            4,
            "year: a grade circle needs",
        ),
        (
            ["circle", "create", "grade-1990", "--title", "T", "--kind", "grade", "--year", "1991"],
            4,
            "is named grade-1991",
        ),
        (
            ["circle", "create", "club-ok", "--title", "a\x07b", "--kind", "interest"],
            4,
            "title: must not contain control",
        ),
        (
            ["circle", "create", "club-ok", "--title", "x" * 81, "--kind", "interest"],
            4,
            "title: must be at most 80",
        ),
        (
            ["circle", "create", "club-ok", "--title", " ", "--kind", "interest"],
            4,
            "title: must not be empty",
        ),
        (
            ["circle", "create", "class-a", "--title", "T", "--kind", "class", "--class-code", "a"],
            4,
            "class_code: must be 2 to 16",
        ),
        (
            [
                "circle",
                "create",
                "club-ok",
                "--title",
                "T",
                "--kind",
                "interest",
                "--owner",
                "nobody.here",
            ],
            5,
            "owner: no account",
        ),
        (["circle", "apply", "grade-1987"], 9, "only alumni are members"),
    ],
)
def test_bad_input_is_refused_by_name_and_nothing_is_made(
    live_stack: Settings, args: list[str], code: int, message: str
) -> None:
    result = cli(live_stack, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert cli(live_stack, "circle", "show", "club-ok").exit_code == 5


def test_a_flood_of_applications_is_refused_and_leaves_nothing_behind(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    names = [f"open-{account.uid}-{n}" for n in range(APPLICATIONS_PER_WINDOW + 1)]
    with use_case(CircleService, live_stack) as staff:
        for name in names:
            staff.create(name, "Open", kind=Kind.INTEREST, policy=Policy.OPEN)
    with use_case(CircleService, live_stack, alumnus(account, password, live_stack)) as mine:
        for name in names[:-1]:
            assert mine.apply(name).state == "approved"
        with pytest.raises(RateLimitedError, match="try again later"):
            mine.apply(names[-1])
        assert mine.show(names[-1]).members == 0
        assert not mine.show(names[-1]).is_member
        assert {a.circle for a in mine.my_applications()} == set(names[:-1])


def test_a_class_code_goes_from_roster_and_import_to_the_account_and_its_circle(
    live_stack: Settings, tmp_path: Path
) -> None:
    # Registration copies the roster's class code to the new account.
    number = graduate(live_stack, tmp_path, year="1979", birth_date="", class_code="c7902")
    uid = f"reg.{secrets.token_hex(2)}"
    with client(live_stack) as http:
        started = register_graduate(http, live_stack, number, uid, birth="", graduation_year="1979")
        assert started.status_code == 200, started.text
        assert confirm(http, live_stack, uid).status_code == 200
    shown = json.loads(cli(live_stack, "account", "show", uid, "--json").stdout)
    assert (shown["class_code"], shown["graduation_year"]) == ("C7902", 1979)
    # The import takes the optional column; a bad code is reported by its column.
    rows = tmp_path / "import.csv"
    imported = f"imp.{secrets.token_hex(2)}"
    rows.write_text(
        "uid,given_name,family_name,display_name,student_number,graduation_year,"
        "recovery_email,class_code\n"
        f"{imported},,,Imported One,,1979,,C7902\n"
        f"bad.{secrets.token_hex(2)},,,Bad Code,,1979,,-X-\n",
        encoding="utf-8",
    )
    report = cli(live_stack, "import", str(rows), "--json")
    assert report.exit_code == 10, report.output
    assert json.loads(report.stdout)["created"] == 1
    assert "class_code" in (rows.parent / "import.csv.report.csv").read_text()
    assert cli(live_stack, "circle", "sync-cohorts").exit_code == 0
    counts = json.loads(cli(live_stack, "circle", "show", "class-c7902", "--json").stdout)
    assert (counts["kind"], counts["class_code"]) == ("class", "C7902")


def test_the_groups_scope_releases_the_circles_a_person_is_in(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    name = f"oidc-{account.uid}"
    made = as_actor(
        live_stack,
        account,
        password,
        tmp_path,
        "circle",
        "create",
        name,
        "--title",
        "O",
        "--kind",
        "interest",
        "--hidden",
    )
    assert made.exit_code == 0, made.output
    with_groups = register(live_stack, "--trusted", "--scope", "groups")
    without = register(live_stack, "--trusted", "--scope", "alumni")
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, with_groups, scope="openid groups")
    info = userinfo(http, exchange(http, with_groups, code, verifier).json()["access_token"])
    assert info["groups"] == [name] and set(info) == {"sub", "groups"}
    code, verifier = code_for(http, without, scope="openid groups")
    info = userinfo(http, exchange(http, without, code, verifier).json()["access_token"])
    assert "groups" not in info  # a client not granted the scope gets no groups


def userinfo(http: httpx.Client, access_token: str) -> dict[str, object]:
    found = http.get("/oidc/userinfo", headers={"Authorization": f"Bearer {access_token}"})
    assert found.status_code == 200, found.text
    info: dict[str, object] = found.json()
    return info


def test_staff_tokens_manage_circles_over_the_api(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    tokens = staff_tokens(live_stack)
    owner, _ = new_account()
    first, first_pw = new_account()
    second, second_pw = new_account()
    name = f"api-{owner.uid}"
    with client(live_stack) as http:
        admin, desk = bearer(tokens["admin"]), bearer(tokens["helpdesk"])
        body = {"name": name, "title": "北京校友", "kind": "interest", "owner": owner.uid}
        made = http.post("/api/v1/circles", json=body, headers=admin)
        assert made.status_code == 201, made.text
        assert made.json()["owners"] == [owner.uid] and made.json()["members"] == 1
        assert http.post("/api/v1/circles", json=body, headers=admin).status_code == 409
        bad = http.post("/api/v1/circles", json={**body, "name": "Bad Name"}, headers=admin)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "name"
        extra = http.post("/api/v1/circles", json={**body, "members": []}, headers=admin)
        assert extra.status_code == 422
        for who, pw in ((first, first_pw), (second, second_pw)):
            applied = as_actor(live_stack, who, pw, tmp_path, "circle", "apply", name)
            assert applied.exit_code == 0, applied.output
        listed = http.get(f"/api/v1/circles/{name}/applications", headers=desk).json()
        assert [a["uid"] for a in listed["applications"]] == [first.uid, second.uid]
        path = f"/api/v1/circles/{name}/applications"
        assert http.post(f"{path}/{first.uid}/approve", headers=desk).status_code == 200
        rejected = http.post(
            f"{path}/{second.uid}/reject", json={"reason": "请先联系管理员"}, headers=desk
        )
        assert rejected.status_code == 200, rejected.text
        shown = http.get(f"/api/v1/circles/{name}", headers=desk).json()
        assert (shown["members"], shown["pending_applications"]) == (2, 0)
        assert http.get("/api/v1/circles/no-such-one", headers=desk).status_code == 404
        assert http.get("/api/v1/circles").status_code == 401
        assert name in {
            c["name"] for c in http.get("/api/v1/circles", headers=desk).json()["circles"]
        }
    assert wait_for(
        lambda: any("declined" in s for s in _decoded(live_stack, second.uid, second_pw))
    )


def test_a_proposed_circle_is_its_owners_and_staffs_until_activated(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, owner_pw = new_account()
    other, other_pw = new_account()
    name = f"proposed-{owner.uid}"
    waiting = replace(live_stack, circles=Circles(interest_approval=True))
    with Composition(waiting) as root:
        made = root.circles(alumnus(owner, owner_pw, live_stack)).create(
            name, "P", Kind.INTEREST, policy=Policy.OPEN
        )
    assert made.proposed
    tree = Tree(live_stack.base_dn)
    search = ("-b", tree.circle(name), "-s", "base", "cn")
    assert f"cn: {name}" in ldap_as(live_stack, owner, owner_pw, *search)
    assert ldap_as(live_stack, other, other_pw, *search).strip() == ""
    refused = as_actor(live_stack, owner, owner_pw, tmp_path, "circle", "activate", name)
    assert refused.exit_code == 9 and "may not activate circles" in refused.stderr
    assert cli(live_stack, "circle", "activate", name).exit_code == 0
    assert f"cn: {name}" in ldap_as(live_stack, other, other_pw, *search)
    joined = as_actor(live_stack, other, other_pw, tmp_path, "circle", "apply", name)
    assert joined.exit_code == 0 and "joined" in joined.stderr


def test_deleting_an_account_leaves_its_circles_owned_and_whole(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, owner_pw = new_account()
    member, _ = new_account()
    name = f"gone-{owner.uid}"
    made = as_actor(
        live_stack,
        owner,
        owner_pw,
        tmp_path,
        "circle",
        "create",
        name,
        "--title",
        "G",
        "--kind",
        "interest",
        "--policy",
        "invite",
    )
    assert made.exit_code == 0, made.output
    added = as_actor(live_stack, owner, owner_pw, tmp_path, "circle", "add", name, member.uid)
    assert added.exit_code == 0, added.output
    assert cli(live_stack, "account", "delete", owner.uid, "--purge-mail").exit_code == 0
    shown = json.loads(cli(live_stack, "circle", "show", name, "--json").stdout)
    # refint: the service owns it now (staff hand it over); memberof: the owner left it.
    assert (shown["owners"], shown["members"]) == ([], 1)
    assert cli(live_stack, "circle", "hand-over", name, member.uid).exit_code == 0
    assert json.loads(cli(live_stack, "circle", "show", name, "--json").stdout)["owners"] == [
        member.uid
    ]
    assert cli(live_stack, "account", "delete", member.uid, "--purge-mail").exit_code == 0
    assert json.loads(cli(live_stack, "circle", "show", name, "--json").stdout)["members"] == 0


def test_a_moderator_of_one_circle_cannot_act_on_another(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, owner_pw = new_account()
    moderator, moderator_pw = new_account()
    applicant, applicant_pw = new_account()
    mine, theirs = f"mod-a-{owner.uid}", f"mod-b-{owner.uid}"
    for name, policy in ((mine, "open"), (theirs, "approval")):
        made = as_actor(
            live_stack,
            owner,
            owner_pw,
            tmp_path,
            "circle",
            "create",
            name,
            "--title",
            "M",
            "--kind",
            "interest",
            "--policy",
            policy,
        )
        assert made.exit_code == 0, made.output
    assert (
        as_actor(live_stack, moderator, moderator_pw, tmp_path, "circle", "apply", mine).exit_code
        == 0
    )
    promoted = as_actor(
        live_stack, owner, owner_pw, tmp_path, "circle", "moderator", mine, moderator.uid
    )
    assert promoted.exit_code == 0, promoted.output
    assert (
        as_actor(live_stack, applicant, applicant_pw, tmp_path, "circle", "apply", theirs).exit_code
        == 0
    )
    for args in (
        ("approve", theirs, applicant.uid),
        ("reject", theirs, applicant.uid),
        ("applications", theirs),
        ("add", theirs, moderator.uid),
    ):
        refused = as_actor(live_stack, moderator, moderator_pw, tmp_path, "circle", *args)
        assert refused.exit_code == 9, (args, refused.output)
    pending = json.loads(cli(live_stack, "circle", "show", theirs, "--json").stdout)
    assert (pending["members"], pending["pending_applications"]) == (1, 1)  # untouched
