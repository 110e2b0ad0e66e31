"""The circles' boards and rankings on the real stack: members post, reply, edit and delete
through the command line acting as themselves (slapd's ACLs and the service store underneath),
owners hide and pin (audited), pages and unread counts, a member who left and a non-member
refused, rankings moving as posts and joins happen, a hidden circle absent from an outsider's
rankings; the same board for staff tokens under /api/v1/circles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from identity.accounts import Account
from identity.circles import Kind, Policy, Visibility
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.circles.board import PAGE_SIZE
from provisioning.composition import Composition
from tests.integration.test_circles import alumnus, as_actor
from tests.support import NewAccount, cli
from tests.web import bearer, client, staff_tokens

pytestmark = pytest.mark.integration

XSS = (
    "Hello **all**\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>\n\n"
    "[click](javascript:alert(1)) [site](https://alumni.example.edu)\n"
)


def run(
    settings: Settings, who: tuple[Account, str], tmp_path: Path, *args: str
) -> tuple[int, str, str]:
    done = as_actor(settings, who[0], who[1], tmp_path, "circle", *args)
    return done.exit_code, done.stdout, done.stderr


def make_circle(
    settings: Settings, owner: tuple[Account, str], name: str, *, hidden: bool = False
) -> None:
    with Composition(settings) as root:
        root.circles(alumnus(*owner, settings)).create(
            name,
            "板",
            Kind.INTEREST,
            policy=Policy.OPEN,
            visibility=Visibility.HIDDEN if hidden else Visibility.LISTED,
        )


def test_members_post_reply_moderate_and_read_the_board(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, member, outsider = new_account(), new_account(), new_account()
    name = f"board-{owner[0].uid}"
    make_circle(live_stack, owner, name)
    assert run(live_stack, member, tmp_path, "apply", name)[0] == 0
    body = tmp_path / "post.md"
    body.write_text(XSS)

    code, out, err = run(
        live_stack, member, tmp_path, "post", name, "--subject", "聚会", "--body-file", str(body)
    )
    assert code == 0, err
    post_id = out.strip()
    page = json.loads(run(live_stack, owner, tmp_path, "posts", name, "--json")[1])
    (shown,) = page["posts"]
    assert (shown["id"], shown["subject"], shown["author"]) == (int(post_id), "聚会", member[0].uid)
    assert "<script" not in shown["html"] and "<img" not in shown["html"]
    assert 'href="javascript' not in shown["html"]
    assert '<a href="https://alumni.example.edu" rel="nofollow noopener">' in shown["html"]
    assert page["unread"] == 1 and shown["unread"]

    reply = tmp_path / "reply.md"
    reply.write_text("同去")
    code, out, err = run(
        live_stack, owner, tmp_path, "post", name, "--reply-to", post_id, "--body-file", str(reply)
    )
    assert code == 0, err
    reply_id = out.strip()
    nested = run(
        live_stack, member, tmp_path, "post", name, "--reply-to", reply_id,
        "--body-file", str(reply),
    )  # fmt: skip
    assert nested[0] == 4 and "reply_to: replies are to posts" in nested[2]
    others = run(live_stack, owner, tmp_path, "edit-post", name, post_id, "--body-file", str(reply))
    assert others[0] == 9 and "only their own" in others[2]
    assert run(live_stack, member, tmp_path, "edit-post", name, post_id,
               "--body-file", str(reply))[0] == 0  # fmt: skip

    # Moderation: the member may not; the owner may, and it is audited.
    assert run(live_stack, member, tmp_path, "pin", name, post_id)[0] == 9
    assert run(live_stack, owner, tmp_path, "pin", name, post_id)[0] == 0
    assert run(live_stack, owner, tmp_path, "hide", name, reply_id)[0] == 0
    member_view = json.loads(run(live_stack, member, tmp_path, "posts", name, "--json")[1])
    assert member_view["posts"][0]["pinned"] and member_view["posts"][0]["replies"] == []
    audit = Layout(live_stack.state_dir).audit_log
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    moderated = {(x["action"], x["target"], x["outcome"]) for x in lines}
    assert ("circle-post-pin", f"{name} {post_id}", "ok") in moderated
    assert ("circle-post-hide", f"{name} {reply_id}", "ok") in moderated
    assert ("circle-post-pin", f"{name} {post_id}", "denied") in moderated
    assert not [
        x
        for x in lines
        if x["action"] == "circle-post" or "聚会" in json.dumps(x, ensure_ascii=False)
    ]

    # Delete own: a tombstone, its (visible) replies kept.
    assert run(live_stack, owner, tmp_path, "hide", name, reply_id, "--undo")[0] == 0
    assert run(live_stack, member, tmp_path, "delete-post", name, post_id)[0] == 0
    after = json.loads(run(live_stack, owner, tmp_path, "posts", name, "--json")[1])["posts"][0]
    assert (
        after["deleted"]
        and after["body"] == ""
        and [r["body"] for r in after["replies"]] == ["同去"]
    )

    # Pages of 20, newest first, unread counted for the member.
    with Composition(live_stack) as root:
        board = root.board(alumnus(*owner, live_stack))
        made = [board.post(name, f"n{n}", "text").id for n in range(PAGE_SIZE + 1)]
    unread = json.loads(run(live_stack, member, tmp_path, "unread", "--json")[1])
    assert unread == {name: PAGE_SIZE + 1}
    first = json.loads(run(live_stack, member, tmp_path, "posts", name, "--json")[1])
    assert (first["total"], first["pages"], first["unread"]) == (PAGE_SIZE + 2, 2, PAGE_SIZE + 1)
    assert [p["id"] for p in first["posts"]][:2] == [made[-1], made[-2]]
    again = json.loads(run(live_stack, member, tmp_path, "posts", name, "--json")[1])
    assert again["unread"] == 0
    second = json.loads(
        run(live_stack, member, tmp_path, "posts", name, "--page", "2", "--json")[1]
    )
    assert len(second["posts"]) == 2
    assert run(live_stack, member, tmp_path, "posts", name, "--page", "0")[0] == 4

    # A non-member reads nothing of a members-only board and posts nothing; a member who left
    # posts nothing either.
    refused = run(live_stack, outsider, tmp_path, "posts", name)
    assert refused[0] == 9 and "members only" in refused[2]
    body.write_text("hi")
    posting = ("post", name, "--subject", "Hi", "--body-file", str(body))
    assert run(live_stack, outsider, tmp_path, *posting)[0] == 9
    assert run(live_stack, member, tmp_path, "leave", name)[0] == 0
    left = run(live_stack, member, tmp_path, *posting)
    assert left[0] == 9 and "only its members post" in left[2]
    # The owner opens the board to readers: the outsider reads it, still without posting.
    assert run(live_stack, owner, tmp_path, "board", name, "--public")[1].strip() == "public"
    assert run(live_stack, outsider, tmp_path, "posts", name)[0] == 0
    assert run(live_stack, outsider, tmp_path, *posting)[0] == 9
    big = tmp_path / "big.md"
    big.write_text("x" * 100_000)
    oversized = run(live_stack, owner, tmp_path, "post", name, "--subject", "S",
                    "--body-file", str(big))  # fmt: skip
    assert oversized[0] == 4 and "body: must be at most" in oversized[2]


def names(listing: str) -> list[str]:
    return [c["name"] for c in json.loads(listing)]


def test_rankings_move_with_posts_and_joins_and_hide_hidden_circles(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    owner, joiner, outsider = new_account(), new_account(), new_account()
    quiet, busy, secret = (f"{kind}-{owner[0].uid}" for kind in ("quiet", "busy", "secret"))
    for name in (quiet, busy):
        make_circle(live_stack, owner, name)
    make_circle(live_stack, owner, secret, hidden=True)

    def ranking(who: tuple[Account, str], by: str, *extra: str) -> list[str]:
        return names(run_list(who, by, *extra)[1])

    def run_list(who: tuple[Account, str], by: str, *extra: str) -> tuple[int, str, str]:
        done = run(live_stack, who, tmp_path, "list", "--sort", by, "--json", *extra)
        assert done[0] == 0, done[2]
        return done

    mine = ("--mine", "--limit", "100")
    before = ranking(owner, "members", *mine)
    assert before.index(busy) < before.index(quiet)  # equal (1 each): by name
    assert run(live_stack, joiner, tmp_path, "apply", quiet)[0] == 0
    assert ranking(owner, "members", *mine).index(quiet) < ranking(owner, "members", *mine).index(
        busy
    )
    assert ranking(owner, "popularity", *mine).index(quiet) < ranking(
        owner, "popularity", *mine
    ).index(busy)

    body = tmp_path / "b.md"
    body.write_text("news")
    for n in range(3):
        posted = run(live_stack, owner, tmp_path, "post", busy, "--subject", f"s{n}",
                     "--body-file", str(body))  # fmt: skip
        assert posted[0] == 0, posted[2]
    for n in range(5):
        run(live_stack, owner, tmp_path, "post", secret, "--subject", f"s{n}",
            "--body-file", str(body))  # fmt: skip
    by_owner = json.loads(run_list(owner, "interaction", *mine)[1])
    order = [c["name"] for c in by_owner]
    assert order.index(secret) < order.index(busy) < order.index(quiet)
    figures = {c["name"]: c for c in by_owner}
    assert figures[busy]["posts_30d"] == 3 and 2.99 < figures[busy]["interaction"] <= 3.0

    # The outsider never sees the hidden circle in any ranking (it leads this one).
    for by in ("interaction", "members", "popularity"):
        assert secret not in ranking(outsider, by, "--limit", "100")
    assert busy in ranking(outsider, "interaction", "--limit", "100")
    assert secret in ranking(owner, "interaction", "--limit", "100")


def test_staff_tokens_read_and_moderate_boards_over_the_api(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path
) -> None:
    tokens = staff_tokens(live_stack)
    owner, member = new_account(), new_account()
    name = f"apiboard-{owner[0].uid}"
    make_circle(live_stack, owner, name, hidden=True)
    with Composition(live_stack) as root:
        post = root.board(alumnus(*owner, live_stack)).post(name, "API", "<b>x</b>")
    with client(live_stack) as http:
        desk = bearer(tokens["helpdesk"])
        path = f"/api/v1/circles/{name}/posts"
        page = http.get(path, headers=desk)
        assert page.status_code == 200, page.text
        assert page.json()["posts"][0]["html"] == "<p>&lt;b&gt;x&lt;/b&gt;</p>\n"
        assert http.post(f"{path}/{post.id}/pin", headers=desk).status_code == 200
        assert http.post(f"{path}/{post.id}/hide", headers=desk).status_code == 200
        shown = http.get(path, headers=desk).json()["posts"][0]
        assert shown["pinned"] and shown["hidden"]
        assert http.post(f"{path}/999999999/pin", headers=desk).status_code == 404
        assert http.get(f"{path}?page=0", headers=desk).status_code == 422
        assert http.get(path).status_code == 401
        assert http.get("/api/v1/circles/no-such-one/posts", headers=desk).status_code == 404
        ranked = http.get("/api/v1/circles?sort=interaction&limit=100", headers=desk)
        assert ranked.status_code == 200 and name in {c["name"] for c in ranked.json()["circles"]}
        assert http.get("/api/v1/circles?sort=loudest", headers=desk).status_code == 422
    # Hidden from a member's view once hidden: the member reads an empty board.
    as_actor(live_stack, owner[0], owner[1], tmp_path, "circle", "add", name, member[0].uid)
    hidden_view = json.loads(run(live_stack, member, tmp_path, "posts", name, "--json")[1])
    assert hidden_view["posts"] == []
    assert cli(live_stack, "circle", "posts", name, "--json").exit_code == 0
