"""The board and the rankings on the circles' portal pages over HTTP on the running stack: a
member posts, replies, edits and deletes (deleting asks first); an owner hides and pins; a
stranger is refused; an XSS payload comes out inert; unread markers appear and clear, on the
circle's page and on "my circles"; a public board read but not written by a non-member; the
home page's rankings follow posts; staff moderate any board from the console's link."""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser

import httpx
import pytest

from identity.circles import Policy
from identity.directory import Credentials
from identity.dit import Tree
from identity.roles import ROOT, Actor, Role
from mailstack.settings import Settings
from provisioning.circles.board import PAGE_SIZE, Board
from provisioning.circles.service import CircleService
from tests.integration.test_web_admin import signed_in
from tests.integration.test_web_circles import make_circle
from tests.support import NewAccount, use_case
from tests.web import STAFF_PASSWORD, console_staff, form_token

pytestmark = pytest.mark.integration

XSS = (
    "Hello **all**\n\n<script>alert('x')</script> <img src=x onerror=alert(1)>\n\n"
    '[click](javascript:alert(1)) <a href="javascript:alert(2)" onclick="alert(3)">a</a> '
    "[site](https://alumni.example.edu) <svg onload=alert(4)></svg>\n"
)


class Tags(HTMLParser):
    """Every start tag of a page with its attributes: what a browser would build from it."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def post_bodies(page: str) -> str:
    return "".join(re.findall(r'<div class="post-body">(.*?)</div>', page, re.S))


def send(http: httpx.Client, path: str, **data: str) -> httpx.Response:
    return http.post(path, data={"csrf_token": form_token(http, "/circles"), **data})


def post_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="post[^"]*" id="post-(\d+)"', page)]


def unread_ids(page: str) -> list[int]:
    return [
        int(i)
        for i in re.findall(r'<li class="(?:post|reply)[^"]*unread[^"]*" id="post-(\d+)"', page)
    ]


def join(settings: Settings, name: str, uid: str) -> None:
    with use_case(CircleService, settings, ROOT) as circles:
        circles.add(name, uid)


def test_members_post_reply_edit_delete_and_owners_moderate_on_the_page(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    member, member_pw = new_account()
    stranger, stranger_pw = new_account()
    name = make_circle(live_stack, owner, title="校友板", policy=Policy.APPROVAL)
    join(live_stack, name, member.uid)
    page = f"/circles/{name}"
    with signed_in(live_stack, member.uid, member_pw) as http:
        empty = send(http, f"{page}/posts", subject="", body="")
        assert empty.status_code == 422
        assert 'id="subject-error"' in empty.text and "must not be empty" in empty.text
        made = send(http, f"{page}/posts", subject="First 第一", body=XSS)
        assert made.status_code == 200, made.text
        (first,) = post_ids(made.text)
        assert unread_ids(made.text) == []  # one's own post is not news to oneself
        # Nothing a browser would run: no script element, no on* attribute, no javascript: URL.
        parser = Tags()
        parser.feed(made.text)
        own_script = ("script", [("src", "/static/forms.js"), ("defer", None)])
        assert [
            (tag, attrs) for tag, attrs in parser.tags if tag in ("script", "svg", "img", "iframe")
        ] == [own_script]  # the site's own form helper only
        body_html = post_bodies(made.text)
        assert "<strong>all</strong>" in body_html
        assert "<script" not in body_html and "<svg" not in body_html
        for tag, attrs in parser.tags:
            assert not any(k.startswith("on") for k, _ in attrs), (tag, attrs)
            assert not any("javascript:" in (v or "").lower() for _, v in attrs), (tag, attrs)
        assert 'href="https://alumni.example.edu"' in body_html

        replied = send(http, f"{page}/posts/{first}/reply", body="A reply *here*")
        assert replied.status_code == 200 and "<em>here</em>" in replied.text
        (reply_id,) = re.findall(r'<li class="reply[^"]*" id="post-(\d+)"', replied.text)
        too_long = send(http, f"{page}/posts/{first}/reply", body="x" * 20_001)
        assert too_long.status_code == 422 and "at most 20000 characters" in too_long.text

        edited = send(http, f"{page}/posts/{first}/edit", subject="Renamed", body="New text")
        assert edited.status_code == 200 and "Renamed" in edited.text and "New text" in edited.text
        edited_reply = send(http, f"{page}/posts/{reply_id}/edit", body="Reply changed")
        assert edited_reply.status_code == 200 and "Reply changed" in edited_reply.text

        asked = send(http, f"{page}/posts/{reply_id}/delete")
        assert asked.status_code == 200 and 'name="confirmed"' in asked.text
        assert "Reply changed" in http.get(page).text  # asking deleted nothing
        deleted = send(http, f"{page}/posts/{reply_id}/delete", confirmed="yes")
        assert deleted.status_code == 200
        assert "Reply changed" not in deleted.text
        assert "This text was deleted by its author." in deleted.text

        second = send(http, f"{page}/posts", subject="Second", body="later")
        assert post_ids(second.text)[0] != first  # newest activity first

        refused = send(http, f"{page}/posts/{first}/hide")  # a plain member moderates nothing
        assert refused.status_code == 403

    with signed_in(live_stack, owner.uid, owner_pw) as http:
        pinned = send(http, f"{page}/posts/{first}/pin")
        assert pinned.status_code == 200 and post_ids(pinned.text)[0] == first
        assert 'class="badge pin"' in pinned.text
        not_theirs = send(http, f"{page}/posts/{first}/edit", subject="x", body="y")
        assert not_theirs.status_code == 403
        hidden = send(http, f"{page}/posts/{first}/hide")
        assert hidden.status_code == 200 and 'class="badge hidden-mark"' in hidden.text

    with signed_in(live_stack, member.uid, member_pw) as http:
        seen = http.get(page).text
        assert first not in post_ids(seen)  # hidden from members
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        assert send(http, f"{page}/posts/{first}/unhide").status_code == 200
        unknown = send(http, f"{page}/posts/999999999/pin")
        assert unknown.status_code == 404

    with signed_in(live_stack, stranger.uid, stranger_pw) as http:
        closed = http.get(page)
        assert closed.status_code == 200 and 'id="board-closed"' in closed.text
        assert "New text" not in closed.text
        assert send(http, f"{page}/posts", subject="Hi", body="let me in").status_code == 403
        assert send(http, f"{page}/posts/{first}/reply", body="me too").status_code == 403
    with use_case(Board, live_stack, ROOT) as board:
        texts = [p.body for p in board.page(name).posts]
    assert "let me in" not in texts


def test_unread_markers_appear_and_clear_and_my_circles_counts_them(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    reader, reader_pw = new_account()
    name = make_circle(live_stack, owner, policy=Policy.OPEN)
    join(live_stack, name, reader.uid)
    with signed_in(live_stack, reader.uid, reader_pw) as http:
        assert 'id="unread-count"' not in http.get(f"/circles/{name}").text
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        made = send(http, f"/circles/{name}/posts", subject="News", body="one")
        (news,) = post_ids(made.text)
        send(http, f"/circles/{name}/posts/{news}/reply", body="two")
    with signed_in(live_stack, reader.uid, reader_pw) as http:
        mine = http.get("/circles/mine").text
        card = re.search(rf'data-name="{name}".*?</li>', mine, re.S)
        assert card is not None and "2 unread" in card.group(0)
        first = http.get(f"/circles/{name}").text
        assert "2 new since your last visit" in first
        assert news in unread_ids(first) and len(unread_ids(first)) == 2
        again = http.get(f"/circles/{name}").text  # the first view advanced the position
        assert unread_ids(again) == [] and 'id="unread-count"' not in again
        mine = http.get("/circles/mine").text
        card = re.search(rf'data-name="{name}".*?</li>', mine, re.S)
        assert card is not None and "unread-count" not in card.group(0)


def test_a_public_board_is_read_by_alumni_and_written_by_members_only(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    reader, reader_pw = new_account()
    name = make_circle(live_stack, owner, policy=Policy.OPEN)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        send(http, f"/circles/{name}/posts", subject="Open letter", body="for all")
        manage = http.get(f"/circles/{name}/manage")
        assert 'id="board-readers"' in manage.text
        opened = send(http, f"/circles/{name}/board", public="yes")
        assert opened.status_code == 200 and "Any alumnus may read the board now" in opened.text
    with signed_in(live_stack, reader.uid, reader_pw) as http:
        page = http.get(f"/circles/{name}").text
        assert "for all" in page and 'id="read-only"' in page and 'id="post-form"' not in page
        assert send(http, f"/circles/{name}/posts", subject="x", body="y").status_code == 403
        assert send(http, f"/circles/{name}/board", public="").status_code == 403
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        assert send(http, f"/circles/{name}/board", public="").status_code == 200
    with signed_in(live_stack, reader.uid, reader_pw) as http:
        assert "for all" not in http.get(f"/circles/{name}").text


def ranked_names(page: str) -> list[str]:
    return re.findall(r'<li class="circle-card" data-name="([^"]+)"', page)


def test_home_rankings_follow_posts_and_hide_hidden_circles(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    outsider, outsider_pw = new_account()
    kind_tag = secrets.token_hex(3)
    quiet = make_circle(live_stack, owner, title=f"Quiet {kind_tag}", policy=Policy.OPEN)
    busy = make_circle(live_stack, owner, title=f"Busy {kind_tag}", policy=Policy.OPEN)
    secret = make_circle(live_stack, owner, title=f"Secret {kind_tag}", hidden=True)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        for name in (busy, busy, secret):
            assert send(http, f"/circles/{name}/posts", subject="s", body="b").status_code == 200
        home = http.get("/circles", params={"sort": "interaction", "q": kind_tag})
        assert home.status_code == 200 and 'aria-current="true">Most posts' in home.text
        order = ranked_names(home.text)
        assert order.index(busy) < order.index(secret) < order.index(quiet)
        for _ in range(3):
            send(http, f"/circles/{quiet}/posts", subject="s", body="b")
        order = ranked_names(
            http.get("/circles", params={"sort": "interaction", "q": kind_tag}).text
        )
        assert order.index(quiet) < order.index(busy)
        links = http.get("/circles").text
        for sort in ("popularity", "interaction", "members"):
            assert f'href="/circles?sort={sort}' in links
        wrong = http.get("/circles", params={"sort": "loudest"})
        assert (
            wrong.status_code == 422 and "must be popularity, interaction or members" in wrong.text
        )
    with signed_in(live_stack, outsider.uid, outsider_pw) as http:
        for sort in ("popularity", "interaction", "members"):
            order = ranked_names(http.get("/circles", params={"sort": sort, "q": kind_tag}).text)
            assert secret not in order and quiet in order


def test_staff_reach_circles_from_the_consoles_and_moderate_any_board(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    name = make_circle(live_stack, owner, title="Staffed", hidden=True)
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        made = send(http, f"/circles/{name}/posts", subject="Spam?", body="maybe")
        (spam,) = post_ids(made.text)
    staff = console_staff(live_stack, "board")
    with signed_in(live_stack, staff["admin"], STAFF_PASSWORD) as http:
        assert '<a href="/circles">' in http.get("/admin").text
    with signed_in(live_stack, staff["helpdesk"], STAFF_PASSWORD) as http:
        assert 'href="/circles" id="circles-link"' in http.get("/helpdesk").text
        page = http.get(f"/circles/{name}")
        assert (
            page.status_code == 200 and "maybe" in page.text and 'id="post-form"' not in page.text
        )
        hidden = send(http, f"/circles/{name}/posts/{spam}/hide")
        assert hidden.status_code == 200 and 'class="badge hidden-mark"' in hidden.text
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        assert spam in post_ids(http.get(f"/circles/{name}").text)  # owners moderate: they see it


def test_the_board_pages_twenty_posts_at_a_time_newest_first(
    live_stack: Settings, new_account: NewAccount
) -> None:
    owner, owner_pw = new_account()
    name = make_circle(live_stack, owner, policy=Policy.OPEN)
    author = Actor(
        owner.uid, Role.ALUMNUS, Credentials(Tree(live_stack.base_dn).person(owner.uid), owner_pw)
    )
    with use_case(Board, live_stack, author) as board:
        made = [board.post(name, f"Post {i}", f"text {i}").id for i in range(PAGE_SIZE + 1)]
    with signed_in(live_stack, owner.uid, owner_pw) as http:
        first = http.get(f"/circles/{name}").text
        assert post_ids(first) == made[::-1][:PAGE_SIZE]
        assert f'href="/circles/{name}?page=2#board" rel="next"' in first
        second = http.get(f"/circles/{name}", params={"page": "2"}).text
        assert post_ids(second) == [made[0]] and 'rel="prev"' in second
        refused = http.get(f"/circles/{name}", params={"page": "zwei"})
        assert refused.status_code == 422 and "must be a whole number" in refused.text
        assert post_ids(refused.text) == made[::-1][:PAGE_SIZE]
