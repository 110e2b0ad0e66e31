"""The board's rules and the rankings' counters over the fake directory and a real store:
who reads and posts, replies one level deep, edit and delete own, hide and pin audited, the
page order, unread counts; the interaction formula and the 30-day window at chosen times."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from identity.circles import Circle, Kind, Policy, Visibility
from identity.directory import Credentials
from identity.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from identity.roles import ROOT, Actor, Role
from provisioning.circles import rankings
from provisioning.circles.board import BODY_MAX, PAGE_SIZE, SUBJECT_MAX, Board
from provisioning.circles.rankings import DAY, Sort
from provisioning.circles.service import CircleService
from provisioning.store import Store
from tests.unit.fakes import Composed, composed

pytestmark = pytest.mark.unit


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.c: Composed = composed(tmp_path)

    def circles(self, actor: Actor = ROOT) -> CircleService:
        return self.c.root.circles(actor)

    def board(self, actor: Actor = ROOT) -> Board:
        return self.c.root.board(actor)

    def alumnus(self, uid: str) -> Actor:
        self.c.alumnus(uid, "Alumnus-Pass-42")
        return Actor(uid, Role.ALUMNUS, Credentials(self.c.tree.person(uid), "Alumnus-Pass-42"))


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_members_post_reply_edit_and_delete_their_own(world: World) -> None:
    owner, member, outsider = (world.alumnus(u) for u in ("owner.a", "member.b", "out.c"))
    world.circles(owner).create("club", "Club", Kind.INTEREST, policy=Policy.OPEN)
    world.circles(member).apply("club")

    post = world.board(member).post("club", "Reunion", "See you **there**")
    assert post.html == "<p>See you <strong>there</strong></p>\n"
    reply = world.board(owner).reply("club", post.id, "Count me in")
    with pytest.raises(ValidationError, match="reply_to: replies are to posts"):
        world.board(member).reply("club", reply.id, "nested")
    with pytest.raises(AccessDeniedError, match="only its members post"):
        world.board(outsider).post("club", "Hi", "let me in")
    with pytest.raises(AccessDeniedError, match="read the board of 'club'"):
        world.board(outsider).page("club")
    with pytest.raises(AccessDeniedError, match="only their own"):
        world.board(owner).edit("club", post.id, "rewritten")

    world.board(member).edit("club", post.id, "See you _there_", subject="Reunion 2027")
    world.board(member).delete("club", post.id)
    shown = world.board(owner).page("club")
    (tombstone,) = shown.posts
    assert tombstone.deleted is not None and tombstone.body == "" and tombstone.subject == ""
    assert [r.body for r in tombstone.replies] == ["Count me in"]
    with pytest.raises(ConflictError, match="takes no replies"):
        world.board(owner).reply("club", post.id, "too late")

    # Leaving ends posting.
    world.circles(member).leave("club")
    with pytest.raises(AccessDeniedError, match="only its members post"):
        world.board(member).post("club", "Back?", "hello")
    # Posts are data, not audit lines: none for posting, editing, deleting.
    assert not [a for a, _, _ in world.c.trail() if a.startswith("circle-post")]


@pytest.mark.parametrize(
    ("subject", "body", "field"),
    [
        ("", "text", "subject"),
        ("x" * (SUBJECT_MAX + 1), "text", "subject"),
        ("bell\a", "text", "subject"),
        ("Fine", "   ", "body"),
        ("Fine", "y" * (BODY_MAX + 1), "body"),
        ("Fine", "nul\x00byte", "body"),
    ],
)
def test_bad_posts_name_the_field(world: World, subject: str, body: str, field: str) -> None:
    owner = world.alumnus("owner.a")
    world.circles(owner).create("club", "Club", Kind.INTEREST)
    with pytest.raises(ValidationError) as refused:
        world.board(owner).post("club", subject, body)
    assert refused.value.field == field
    assert world.board(owner).page("club").total == 0


def test_moderators_hide_and_pin_audited_page_order_and_unread(world: World) -> None:
    owner, member = world.alumnus("owner.a"), world.alumnus("member.b")
    world.circles(owner).create("club", "Club", Kind.INTEREST, policy=Policy.OPEN)
    world.circles(member).apply("club")
    ids = [world.board(owner).post("club", f"post {n}", f"body {n}").id for n in range(25)]
    assert world.board(member).unread("club") == 25
    assert world.board(member).unread_counts() == {"club": 25}
    assert world.board(ROOT).unread_counts() == {}  # staff are in no circle

    first = world.board(member).page("club")
    assert (first.total, first.pages, first.unread) == (25, 2, 25)
    assert [p.id for p in first.posts] == ids[::-1][:PAGE_SIZE]
    assert all(p.unread for p in first.posts)
    assert world.board(member).unread("club") == 0  # the first page was read
    second = world.board(member).page("club", 2)
    assert [p.id for p in second.posts] == ids[::-1][PAGE_SIZE:]

    # A reply lifts its post; a pinned post goes first; a hidden one only moderators see.
    world.board(member).reply("club", ids[0], "up you go")
    assert world.board(owner).unread("club") == 1  # the member's reply; not one's own posts
    world.board(owner).pin("club", ids[3])
    world.board(owner).hide("club", ids[20])
    with pytest.raises(AccessDeniedError, match="may not moderate 'club'"):
        world.board(member).pin("club", ids[4])
    seen = [p.id for p in world.board(member).page("club").posts]
    assert seen[:2] == [ids[3], ids[0]] and ids[20] not in seen
    assert ids[20] in [p.id for p in world.board(owner).page("club").posts]
    with pytest.raises(NotFoundError):
        world.board(member).reply("club", ids[20], "hidden from me")
    assert world.board(owner).unread("club") == 0  # the owner read the first page since
    with pytest.raises(ValidationError, match="post_id: must be a whole number"):
        world.board(owner).hide("club", "1; DROP TABLE circle_posts")
    trail = world.c.trail()
    assert ("circle-post-pin", f"club {ids[3]}", "ok") in trail
    assert ("circle-post-hide", f"club {ids[20]}", "ok") in trail
    assert ("circle-post-pin", f"club {ids[4]}", "denied") in trail


def test_public_boards_of_listed_open_circles_only(world: World) -> None:
    owner, reader = world.alumnus("owner.a"), world.alumnus("reader.b")
    world.circles(owner).create("open-club", "Open", Kind.INTEREST, policy=Policy.OPEN)
    world.circles(owner).create("closed-club", "Closed", Kind.INTEREST)
    for name in ("open-club", "closed-club"):
        world.board(owner).post(name, "News", "hello")
        world.board(owner).set_public(name, True)
    assert world.board(reader).page("open-club").total == 1
    with pytest.raises(AccessDeniedError):
        world.board(reader).page("closed-club")  # approval circle: members only anyway
    with pytest.raises(AccessDeniedError, match="only its members post"):
        world.board(reader).post("open-club", "Hi", "reading is not posting")
    with pytest.raises(AccessDeniedError, match="may not change the board"):
        world.board(reader).set_public("open-club", False)
    assert ("circle-board-public", "open-club", "ok") in world.c.trail()


def test_the_interaction_formula(tmp_path: Path) -> None:
    store = Store(tmp_path / "web.db")
    now = 1_800_000_000.0
    with store.connect() as db:
        for name in ("a", "b"):
            rankings.ensure(db, Circle(name, name, Kind.INTEREST, members=("x",)))
        rankings.posted(db, "a", 1, "x", now - 14 * DAY)  # weighs 0.25 now
        rankings.posted(db, "a", 2, "y", now - 7 * DAY)  # 0.5
        rankings.posted(db, "b", 3, "x", now)  # 1
        rankings.posted(db, "b", 4, "x", now - 29 * DAY)  # 0.5 ** (29 / 7)
    with store.connect() as db:
        by_score = {
            s.circle: s for s in rankings.top(db, Sort.INTERACTION, now, limit=5, also=None)
        }
    assert math.isclose(by_score["a"].score, 0.75)
    assert math.isclose(by_score["b"].score, 1 + 0.5 ** (29 / 7))
    assert (by_score["a"].active, by_score["b"].active, by_score["b"].posts) == (2, 1, 2)
    with store.connect() as db:
        later = rankings.top(db, Sort.INTERACTION, now + 2 * DAY, limit=5, also=None)
    # b's old post turned 30 days old and left; a's two did not. Order follows the scores.
    assert [s.circle for s in later] == ["b", "a"]
    assert math.isclose(later[0].score, 0.5 ** (2 / 7))
    assert later[0].posts == 1
    with store.connect() as db:
        gone = rankings.top(db, Sort.POPULARITY, now + 40 * DAY, limit=5, also=None)
    assert [(s.active, s.posts, s.score) for s in gone] == [(0, 0, 0.0), (0, 0, 0.0)]


def test_the_order_by_heat_is_the_order_by_score_at_any_time() -> None:
    older = rankings.log2_sum([rankings.exponent(t) for t in (0.0, DAY, 2 * DAY)]) or 0.0
    newer = rankings.log2_sum([rankings.exponent(5 * DAY)]) or 0.0
    for now in (5 * DAY, 9 * DAY, 20 * DAY):
        assert (older > newer) == (rankings.score(older, now) > rankings.score(newer, now))
    assert older > newer  # three posts a few days older outweigh one
    # Years on, the heat stays a small number (log space): no overflow.
    far = rankings.log2_sum([rankings.exponent(rankings.EPOCH + 100 * 365 * DAY)])
    assert far is not None and far < 6000


def test_counters_follow_joins_leaves_and_posts(world: World) -> None:
    owner = world.alumnus("owner.a")
    people = [world.alumnus(f"member.{n}") for n in range(3)]
    outsider = world.alumnus("out.z")
    world.circles(owner).create("big", "Big", Kind.INTEREST, policy=Policy.OPEN)
    world.circles(owner).create("busy", "Busy", Kind.INTEREST, policy=Policy.OPEN)
    world.circles(owner).create(
        "secret", "Secret", Kind.INTEREST, policy=Policy.OPEN, visibility=Visibility.HIDDEN
    )
    for person in people:
        world.circles(person).apply("big")
    for n in range(3):
        world.board(owner).post("busy", f"news {n}", "text")
    world.board(owner).post("secret", "psst", "text")
    world.board(owner).post("secret", "psst", "text")
    world.board(owner).post("secret", "psst", "text")
    world.board(owner).post("secret", "psst", "text")

    def order(actor: Actor, by: Sort) -> list[str]:
        return [r.circle.name for r in world.circles(actor).ranked(by)]

    assert order(outsider, Sort.MEMBERS) == ["big", "busy"]
    assert order(outsider, Sort.POPULARITY) == ["big", "busy"]  # 4 active (joined) beside 1
    assert order(outsider, Sort.INTERACTION) == ["busy", "big"]
    assert order(owner, Sort.INTERACTION) == ["secret", "busy", "big"]  # a member sees it
    assert order(ROOT, Sort.INTERACTION)[0] == "secret"
    for person in people:
        world.circles(person).leave("big")
    figures = {r.circle.name: r.standing for r in world.circles(ROOT).ranked(Sort.MEMBERS)}
    assert (figures["big"].members, figures["big"].active) == (1, 1)
    assert figures["busy"].posts == 3 and figures["secret"].posts == 4
    mine = world.circles(people[0]).ranked(Sort.MEMBERS, mine=True)
    assert mine == []
    with pytest.raises(ValidationError, match="limit"):
        world.circles(owner).ranked(Sort.MEMBERS, limit=0)


def test_a_ranking_reads_an_index(tmp_path: Path) -> None:
    store = Store(tmp_path / "web.db")
    db = sqlite3.connect(store.path)
    for column in ("members", "active", "heat"):
        plan = " ".join(
            row[3]
            for row in db.execute(
                f"EXPLAIN QUERY PLAN SELECT circle FROM circle_stats WHERE (listed = 1 OR circle IN (?)) ORDER BY {column} DESC, circle LIMIT 20",  # noqa: S608, E501
                ("x",),
            )
        )
        assert f"USING INDEX circle_stats_{'active' if column == 'active' else column}" in plan
        assert "TEMP B-TREE" not in plan
    db.close()
