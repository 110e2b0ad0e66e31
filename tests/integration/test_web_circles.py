"""The circles' portal pages (provisioning/web/circles.py) over HTTP on the running stack, as a
plain client sees them: the home page's search and filter, a new interest circle, applying
(open: in at once; approval: waits), my circles, cancelling and leaving, the management page
(approve, reject with a reason, remove, moderators, hand over), a hidden circle as unknown as a
name that does not exist, staff managing any circle, and every refusal."""

from __future__ import annotations

import re
import secrets

import httpx
import pytest

from identity.accounts import Account
from identity.circles import Kind, Policy, Visibility
from identity.roles import ROOT
from mailstack.settings import Settings
from mailstack.settings.sections import Circles
from provisioning.audit import AuditLog, audit_path
from provisioning.circles.service import APPLICATIONS_PER_WINDOW, CircleService
from provisioning.web.circles import PAGE_SIZE
from tests.integration.test_web_admin import signed_in
from tests.mail import inbox_subjects
from tests.support import NewAccount, use_case, wait_for
from tests.web import STAFF_PASSWORD, client, console_staff, form_token, in_process

pytestmark = pytest.mark.integration


def errors_on(page: str) -> list[str]:
    return re.findall(r'class="error"[^>]*>([^<]+)<', page)


def make_circle(
    settings: Settings,
    owner: Account | None,
    *,
    title: str = "Circle",
    policy: Policy = Policy.APPROVAL,
    hidden: bool = False,
    description: str = "",
) -> str:
    name = f"c{secrets.token_hex(4)}"
    with use_case(CircleService, settings, ROOT) as circles:
        circles.create(
            name,
            title,
            Kind.INTEREST,
            policy=policy,
            visibility=Visibility.HIDDEN if hidden else Visibility.LISTED,
            description=description,
            owner=owner.uid if owner else None,
        )
    return name


def members_of(settings: Settings, name: str) -> tuple[str, ...]:
    with use_case(CircleService, settings, ROOT) as circles:
        return circles.get(name).members


def post(http: httpx.Client, path: str, **data: str) -> httpx.Response:
    return http.post(path, data={"csrf_token": form_token(http, "/circles"), **data})


def test_home_searches_by_han_and_pinyin_filters_by_kind_and_orders_by_members(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, _ = new_account()
    member, member_pw = new_account()
    tag = secrets.token_hex(3)
    big = make_circle(live_stack, owner, title=f"上海校友会 {tag}", policy=Policy.OPEN)
    small = make_circle(live_stack, owner, title=f"Beijing Runners {tag}", policy=Policy.OPEN)
    invite = make_circle(live_stack, owner, title=f"邀请 {tag}", policy=Policy.INVITE)
    with use_case(CircleService, live_stack, ROOT) as circles:
        circles.add(big, member.uid)
    with signed_in(live_stack, member.uid, member_pw) as http:
        home = http.get("/circles", params={"q": tag})
        assert home.status_code == 200
        listed = re.findall(r'data-name="([^"]+)"', home.text)
        assert listed[0] == big and set(listed[1:]) == {small, invite}  # most members first
        assert 'id="circles-link"' in home.text
        by_pinyin = http.get("/circles", params={"q": "shanghai xiaoyou"}).text
        assert big in by_pinyin and small not in by_pinyin
        by_han = http.get("/circles", params={"q": "校友会"}).text
        assert big in by_han and small not in by_han
        by_name = http.get("/circles", params={"q": small}).text
        assert re.findall(r'data-name="([^"]+)"', by_name) == [small]
        # No apply button on an invitation-only circle; none where one is a member.
        assert f'href="/circles/{small}#apply"' in home.text
        assert f'href="/circles/{invite}#apply"' not in home.text
        assert f'href="/circles/{big}#apply"' not in home.text
        grades = http.get("/circles", params={"kind": "grade", "q": tag})
        assert grades.status_code == 200 and "data-name" not in grades.text
        bad_kind = http.get("/circles", params={"kind": "<script>"})
        assert bad_kind.status_code == 422
        assert "Kind must be grade, class or interest" in errors_on(bad_kind.text)
        assert "<script>" not in bad_kind.text
        too_long = http.get("/circles", params={"q": "x" * 101})
        assert too_long.status_code == 422
        for page in ("0", "-1", "abc", "１", "9" * 30):
            bad_page = http.get("/circles", params={"page": page})
            assert bad_page.status_code == 422, page
            assert "Page must be a whole number from 1" in errors_on(bad_page.text)
        beyond = http.get("/circles", params={"q": tag, "page": "2"})
        assert beyond.status_code == 200 and "data-name" not in beyond.text


def test_an_alumnus_creates_a_circle_and_bad_input_is_shown_under_its_field(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    name = f"club-{secrets.token_hex(3)}"
    with signed_in(live_stack, account.uid, password) as http:
        made = post(
            http,
            "/circles/new",
            name=name,
            title="杭州校友 <b>Hangzhou</b>",
            description="Line one\n<script>alert(1)</script>",
            policy="open",
        )
        assert made.status_code == 200, errors_on(made.text)
        assert "you own it" in made.text
        assert "&lt;b&gt;Hangzhou&lt;/b&gt;" in made.text and "<b>Hangzhou" not in made.text
        assert "&lt;script&gt;" in made.text and "<script>alert" not in made.text
        again = post(http, "/circles/new", name=name, title="Again")
        assert again.status_code == 409
        assert "Circle name is taken by another circle" in errors_on(again.text)
        bad = post(http, "/circles/new", name="Bad Name!", title="")
        assert bad.status_code == 422
        shown = errors_on(bad.text)
        assert any(e.startswith("Circle name may contain only lowercase") for e in shown), shown
        assert 'value="Bad Name!"' in bad.text  # the form as sent
        reserved = post(http, "/circles/new", name="mine", title="Mine")
        assert reserved.status_code == 422 and "reserved" in reserved.text
        bad_policy = post(http, "/circles/new", name=f"p-{name}", title="T", policy="everyone")
        assert bad_policy.status_code == 422
        assert "Who may join must be open, approval or invitation only" in errors_on(
            bad_policy.text
        )
        no_csrf = http.post("/circles/new", data={"name": f"x-{name}", "title": "T"})
        assert no_csrf.status_code == 403
    with use_case(CircleService, live_stack, ROOT) as circles:
        assert circles.get(name).owners == (account.uid,)
        assert not [v for v in circles.find() if v.circle.name in (f"p-{name}", f"x-{name}")]


def test_apply_waits_then_the_owner_approves_and_rejects_on_the_manage_page(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    applicant, applicant_pw = new_account()
    second, second_pw = new_account()
    name = make_circle(live_stack, owner, title="Approval Club", description="We run.")
    opened = make_circle(live_stack, owner, title="Open Club", policy=Policy.OPEN)
    with signed_in(live_stack, applicant.uid, applicant_pw) as http:
        page = http.get(f"/circles/{name}")
        assert page.status_code == 200 and 'id="apply"' in page.text
        assert "We run." in page.text and owner.uid in page.text
        assert 'id="manage-link"' not in page.text
        too_long = post(http, f"/circles/{name}/apply", message="x" * 501)
        assert too_long.status_code == 422
        assert "Message must be at most 500 characters" in errors_on(too_long.text)
        sent = post(http, f"/circles/{name}/apply", message="我是2010届")
        assert sent.status_code == 200 and 'id="pending"' in sent.text
        twice = post(http, f"/circles/{name}/apply")
        assert twice.status_code == 409 and "has applied to" in twice.text
        chinese = http.post(
            f"/circles/{name}/apply",
            data={"csrf_token": form_token(http, "/circles"), "message": "x" * 501},
            headers={"Accept-Language": "zh-CN"},
        )
        assert chinese.status_code == 422 and "留言最多 500 个字符" in errors_on(chinese.text)
        mine = http.get("/circles/mine")
        assert "waiting for a decision" in mine.text and f'data-name="{name}"' in mine.text
        joined = post(http, f"/circles/{opened}/apply")
        assert joined.status_code == 200 and "You are a member of this circle now" in joined.text
        refused = http.get(f"/circles/{name}/manage")
        assert refused.status_code == 403
        not_theirs = post(http, f"/circles/{name}/applications/{applicant.uid}/approve")
        assert not_theirs.status_code == 403
    with signed_in(live_stack, second.uid, second_pw) as http:
        assert post(http, f"/circles/{name}/apply").status_code == 200
    assert applicant.uid not in members_of(live_stack, name)

    with signed_in(live_stack, owner.uid, owner_pw) as http:
        manage = http.get(f"/circles/{name}/manage")
        assert manage.status_code == 200
        assert "我是2010届" in manage.text and f'data-uid="{second.uid}"' in manage.text
        approved = post(http, f"/circles/{name}/applications/{applicant.uid}/approve")
        assert approved.status_code == 200 and "is a member now" in approved.text
        long_reason = post(
            http, f"/circles/{name}/applications/{second.uid}/reject", reason="r" * 501
        )
        assert long_reason.status_code == 422
        assert "Reason must be at most 500 characters" in errors_on(long_reason.text)
        rejected = post(
            http, f"/circles/{name}/applications/{second.uid}/reject", reason="Members only"
        )
        assert rejected.status_code == 200 and "is declined" in rejected.text
        gone = post(http, f"/circles/{name}/applications/{second.uid}/approve")
        assert gone.status_code == 404 and "no pending application" in gone.text
    assert applicant.uid in members_of(live_stack, name)
    assert second.uid not in members_of(live_stack, name)
    assert wait_for(
        lambda: (
            "You have joined the circle Approval Club"
            in inbox_subjects(live_stack, applicant.uid, applicant_pw)
        )
    )
    with signed_in(live_stack, second.uid, second_pw) as http:
        theirs = http.get("/circles/mine").text
        assert "declined" in theirs and "Members only" in theirs


def test_cancel_and_leave_with_a_confirmation_and_the_only_owner_stays(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    alumnus, password = new_account()
    name = make_circle(live_stack, owner, title="Leavers")
    opened = make_circle(live_stack, owner, title="Open", policy=Policy.OPEN)
    with signed_in(live_stack, alumnus.uid, password) as http:
        post(http, f"/circles/{name}/apply")
        cancelled = post(http, f"/circles/{name}/cancel")
        assert cancelled.status_code == 200 and "withdrawn" in cancelled.text
        assert "cancelled" in cancelled.text
        assert post(http, f"/circles/{name}/cancel").status_code == 404
        post(http, f"/circles/{opened}/apply")
        asked = post(http, f"/circles/{opened}/leave")
        assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
        assert alumnus.uid in members_of(live_stack, opened)  # asked, not done
        left = post(http, f"/circles/{opened}/leave", confirmed="yes")
        assert left.status_code == 200 and f"You have left {opened}" in left.text
        assert post(http, f"/circles/{opened}/leave", confirmed="yes").status_code == 404
    assert alumnus.uid not in members_of(live_stack, opened)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        own_page = http.get(f"/circles/{opened}").text
        assert "As its only owner you stay" in own_page
        assert f'action="/circles/{opened}/leave"' not in own_page
        assert f'action="/circles/{opened}/leave"' not in http.get("/circles/mine").text
        stuck = post(http, f"/circles/{opened}/leave", confirmed="yes")
        assert stuck.status_code == 409 and "hand ownership over first" in stuck.text
    assert owner.uid in members_of(live_stack, opened)


def test_a_hidden_circle_is_a_404_like_an_unknown_name(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    stranger, stranger_pw = new_account()
    name = make_circle(live_stack, owner, title="Secret Society", hidden=True)
    with signed_in(live_stack, stranger.uid, stranger_pw) as http:
        hidden = http.get(f"/circles/{name}")
        unknown = http.get("/circles/no-such-circle")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.text.replace(name, "X") == unknown.text.replace("no-such-circle", "X")
        assert "Secret Society" not in hidden.text
        in_chinese = http.get(f"/circles/{name}", headers={"Accept-Language": "zh-CN"})
        assert in_chinese.status_code == 404 and f"没有名为“{name}”的圈子" in in_chinese.text
        assert "Secret Society" not in http.get("/circles").text
        assert post(http, f"/circles/{name}/apply").status_code == 404
        assert http.get(f"/circles/{name}/manage").status_code == 404
        assert http.get("/circles/..%2Fadmin").status_code in (404, 422)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        assert "Secret Society" in http.get(f"/circles/{name}").text
        assert "Secret Society" in http.get("/circles/mine").text


def test_members_moderators_and_handing_over_on_the_manage_page(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    moderator, moderator_pw = new_account()
    plain, _ = new_account()
    heir, heir_pw = new_account()
    name = make_circle(live_stack, owner, title="Managed", policy=Policy.INVITE)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        for uid in (moderator.uid, plain.uid, heir.uid):
            added = post(http, f"/circles/{name}/members", member_uid=uid)
            assert added.status_code == 200, errors_on(added.text)
        unknown = post(http, f"/circles/{name}/members", member_uid="Not A UID")
        assert unknown.status_code == 422 and errors_on(unknown.text)
        made = post(http, f"/circles/{name}/moderators", moderator_uid=moderator.uid)
        assert made.status_code == 200 and "moderates the circle now" in made.text
    with signed_in(live_stack, moderator.uid, moderator_pw) as http:
        page = http.get(f"/circles/{name}/manage")
        assert page.status_code == 200 and 'id="hand-over"' not in page.text
        asked = post(http, f"/circles/{name}/members/{plain.uid}/remove")
        assert 'name="confirmed" value="yes"' in asked.text
        removed = post(http, f"/circles/{name}/members/{plain.uid}/remove", confirmed="yes")
        assert removed.status_code == 200 and "is no longer a member" in removed.text
        owners_only = post(http, f"/circles/{name}/owner", owner_uid=moderator.uid)
        assert owners_only.status_code == 403
        not_owner = post(http, f"/circles/{name}/members/{owner.uid}/remove", confirmed="yes")
        assert not_owner.status_code == 409
    assert plain.uid not in members_of(live_stack, name)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        empty = post(http, f"/circles/{name}/owner", owner_uid="")
        assert empty.status_code == 422
        asked = post(http, f"/circles/{name}/owner", owner_uid=heir.uid)
        assert asked.status_code == 200 and f'name="owner_uid" value="{heir.uid}"' in asked.text
        with use_case(CircleService, live_stack, ROOT) as circles:
            assert circles.get(name).owners == (owner.uid,)  # asked, not done
        handed = post(http, f"/circles/{name}/owner", owner_uid=heir.uid, confirmed="yes")
        assert handed.status_code == 200 and f"{heir.uid} owns the circle now" in handed.text
        assert http.get(f"/circles/{name}/manage").status_code == 403
    with use_case(CircleService, live_stack, ROOT) as circles:
        assert circles.get(name).owners == (heir.uid,)
    with signed_in(live_stack, heir.uid, heir_pw) as http:
        dropped = post(http, f"/circles/{name}/moderators/{moderator.uid}/remove")
        assert dropped.status_code == 200 and "no longer moderates" in dropped.text
    assert any(
        heir.uid in str(line.get("actor"))
        for line in AuditLog(audit_path(live_stack.state_dir)).query(
            target=f"{name} {moderator.uid}", action="circle-moderator-remove"
        )
    )


def test_staff_manage_any_circle_and_see_hidden_ones(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, _ = new_account()
    applicant, applicant_pw = new_account()
    name = make_circle(live_stack, owner, title="Staff Watch", hidden=True)
    with use_case(CircleService, live_stack, ROOT) as circles:
        circles.add(name, applicant.uid)
        circles.remove(name, applicant.uid)
    staff = console_staff(live_stack, "circles")
    with signed_in(live_stack, staff["helpdesk"], STAFF_PASSWORD) as http:
        assert "Staff Watch" in http.get("/circles").text
        assert http.get("/circles/mine").headers["location"] == "/circles"
        page = http.get(f"/circles/{name}/manage")
        assert page.status_code == 200
        added = post(http, f"/circles/{name}/members", member_uid=applicant.uid)
        assert added.status_code == 200
        staff_apply = post(http, f"/circles/{name}/apply")
        assert staff_apply.status_code == 403
        staff_create = post(http, "/circles/new", name=f"s{secrets.token_hex(3)}", title="S")
        assert staff_create.status_code == 403
    assert applicant.uid in members_of(live_stack, name)
    with signed_in(live_stack, applicant.uid, applicant_pw) as http:
        assert "Staff Watch" in http.get(f"/circles/{name}").text


def test_a_flood_of_applications_is_a_page_message_with_retry_after(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    names = [make_circle(live_stack, None, policy=Policy.OPEN) for _ in range(11)]
    assert len(names) == APPLICATIONS_PER_WINDOW + 1
    with signed_in(live_stack, account.uid, password) as http:
        for name in names[:-1]:
            assert post(http, f"/circles/{name}/apply").status_code == 200
        flood = post(http, f"/circles/{names[-1]}/apply", message="one more")
        assert flood.status_code == 429
        assert int(flood.headers["retry-after"]) > 0
        assert "You have sent many applications in the last hour" in flood.text
        assert "one more" in flood.text  # the form as sent
        assert 'id="apply"' in flood.text
    assert account.uid not in members_of(live_stack, names[-1])


def test_signed_out_visitors_go_to_the_sign_in_page(live_stack: Settings) -> None:
    with client(live_stack) as http:
        for path in ("/circles", "/circles/mine", "/circles/grade-1987"):
            answer = http.get(path)
            assert answer.status_code == 303
            assert answer.headers["location"].startswith("/login?next=")


def test_a_graduate_whose_record_proves_a_grade_circle_is_in_at_once(
    live_stack: Settings, new_account: NewAccount
) -> None:
    year = 1990 + secrets.randbelow(30)
    graduate, password = new_account(graduation_year=year)
    other, other_pw = new_account(graduation_year=year - 1 if year > 1990 else year + 1)
    name = f"grade-{year}"
    with use_case(CircleService, live_stack, ROOT) as circles:
        if name not in {v.circle.name for v in circles.find(kind=Kind.GRADE)}:
            circles.create(name, f"{year} 届", Kind.GRADE, year=year)
    with signed_in(live_stack, graduate.uid, password) as http:
        grades = http.get("/circles", params={"kind": "grade", "q": name})
        assert f'data-name="{name}"' in grades.text
        joined = post(http, f"/circles/{name}/apply")
        assert joined.status_code == 200 and "You are a member of this circle now" in joined.text
    with signed_in(live_stack, other.uid, other_pw) as http:
        waits = post(http, f"/circles/{name}/apply")
        assert waits.status_code == 200 and 'id="pending"' in waits.text
    members = members_of(live_stack, name)
    assert graduate.uid in members and other.uid not in members


def test_with_interest_approval_a_new_circle_waits_for_staff(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, password = new_account()
    other, other_pw = new_account()
    name = f"prop-{secrets.token_hex(3)}"
    with in_process(live_stack, circles=Circles(interest_approval=True)) as http:
        token = form_token(http, "/login")
        signed = http.post(
            "/login", data={"csrf_token": token, "login": owner.uid, "password": password}
        )
        assert signed.status_code == 303
        assert "waits for staff to activate it" in http.get("/circles").text
        made = http.post(
            "/circles/new",
            data={"csrf_token": form_token(http, "/circles"), "name": name, "title": "Proposed"},
        )
        assert made.status_code == 200 and "waits for staff to activate it" in made.text
        assert 'id="proposed"' in made.text and 'id="apply"' not in made.text
    with signed_in(live_stack, other.uid, other_pw) as http:
        assert http.get(f"/circles/{name}").status_code == 404
        assert post(http, f"/circles/{name}/apply").status_code == 404
    with use_case(CircleService, live_stack, ROOT) as circles:
        assert circles.get(name).proposed


POST_PATHS = [
    "/circles/new",
    "/circles/{name}/apply",
    "/circles/{name}/cancel",
    "/circles/{name}/leave",
    "/circles/{name}/applications/{uid}/approve",
    "/circles/{name}/applications/{uid}/reject",
    "/circles/{name}/members",
    "/circles/{name}/members/{uid}/remove",
    "/circles/{name}/moderators",
    "/circles/{name}/moderators/{uid}/remove",
    "/circles/{name}/owner",
]


def test_every_form_needs_its_csrf_token(live_stack: Settings, new_account: NewAccount) -> None:
    owner, password = new_account()
    member, _ = new_account()
    name = make_circle(live_stack, owner, policy=Policy.OPEN)
    with use_case(CircleService, live_stack, ROOT) as circles:
        circles.add(name, member.uid)
    with signed_in(live_stack, owner.uid, password) as http:
        for path in POST_PATHS:
            target = path.format(name=name, uid=member.uid)
            data = {"confirmed": "yes", "uid": member.uid, "member_uid": member.uid}
            for token in ({}, {"csrf_token": "forged"}):
                refused = http.post(target, data={**data, **token})
                assert refused.status_code == 403, target
    with use_case(CircleService, live_stack, ROOT) as circles:
        circle = circles.get(name)
    assert circle.members == tuple(sorted((owner.uid, member.uid)))
    assert circle.owners == (owner.uid,) and circle.moderators == ()


def test_the_home_page_lists_fifty_circles_a_page(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    tag = secrets.token_hex(3)
    with use_case(CircleService, live_stack, ROOT) as circles:
        for n in range(PAGE_SIZE + 1):
            circles.create(f"p{tag}-{n:02d}", f"Page {tag}", Kind.INTEREST)
    with signed_in(live_stack, account.uid, password) as http:
        first = http.get("/circles", params={"q": tag})
        assert len(re.findall(r'data-name="', first.text)) == PAGE_SIZE
        assert f"{PAGE_SIZE + 1} circles" in first.text and 'rel="next"' in first.text
        second = http.get("/circles", params={"q": tag, "page": "2"})
        assert re.findall(r'data-name="([^"]+)"', second.text) == [f"p{tag}-{PAGE_SIZE:02d}"]
        assert 'rel="prev"' in second.text and 'rel="next"' not in second.text
