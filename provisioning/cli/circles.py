"""``alumail circle ...``: circles of alumni (provisioning.circles). Each command acts as
``--actor`` (root when none): the use case decides what that actor may do."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table

from identity.circles import Kind, Policy, Visibility
from identity.errors import ValidationError
from provisioning.circles.board import BODY_MAX, Post
from provisioning.circles.rankings import Sort
from provisioning.circles.service import APPROVED, RANKING_MAX
from provisioning.cli.base import (
    ANYONE,
    STAFF,
    Context,
    allow,
    emit_json,
    main,
    out,
    pass_ctx,
    print_mapping,
    say,
)


@main.group()
def circle() -> None:
    """Grade, class and interest circles: create, apply to join, decide, leave."""


@allow(ANYONE, changes=True)
@circle.command("create")
@click.argument("name")
@click.option("--title", required=True, help="Any script, up to 80 characters.")
@click.option("--kind", type=click.Choice([k.value for k in Kind]), required=True)
@click.option("--year", default=None, help="Graduation year (grade circles, optional for class).")
@click.option("--class-code", default=None, help="Class code (class circles).")
@click.option(
    "--policy",
    type=click.Choice([p.value for p in Policy]),
    default=Policy.APPROVAL.value,
    show_default=True,
)
@click.option("--hidden", is_flag=True, help="Seen by members and staff only.")
@click.option("--description", default="", help="Any script, up to 1000 characters.")
@click.option("--owner", default=None, metavar="UID", help="Owner (default: the actor).")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_create(
    ctx: Context,
    name: str,
    title: str,
    kind: str,
    year: str | None,
    class_code: str | None,
    policy: str,
    hidden: bool,
    description: str,
    owner: str | None,
    as_json: bool,
) -> None:
    """Create circle NAME (its address part: lowercase letters, digits, . - _)."""
    made = ctx.root.circles(ctx.actor).create(
        name,
        title,
        Kind(kind),
        policy=Policy(policy),
        visibility=Visibility.HIDDEN if hidden else Visibility.LISTED,
        description=description,
        year=year,
        class_code=class_code,
        owner=owner,
    )
    if as_json:
        emit_json(made.as_dict())
    elif made.proposed:
        say(f"created circle {made.name}; it waits for staff to activate it")
    else:
        say(f"created circle {made.name}")


@allow(ANYONE)
@circle.command("list")
@click.option("--mine", is_flag=True, help="Only the circles the actor is in.")
@click.option("--kind", type=click.Choice([k.value for k in Kind]), default=None)
@click.option(
    "--sort",
    type=click.Choice([s.value for s in Sort]),
    default=None,
    help="Ranked: members (count), popularity (members active in 30 days), interaction "
    "(posts and replies in 30 days, recent ones weighing more).",
)
@click.option(
    "--limit",
    type=click.IntRange(1, RANKING_MAX),
    default=20,
    show_default=True,
    help="With --sort: how many.",
)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_list(
    ctx: Context, mine: bool, kind: str | None, sort: str | None, limit: int, as_json: bool
) -> None:
    """Listed circles and the actor's own (hidden ones only for members and staff), by name
    or, with --sort, the first --limit of a ranking."""
    circles = ctx.root.circles(ctx.actor)
    chosen = Kind(kind) if kind else None
    if sort is not None:
        ranked = circles.ranked(Sort(sort), limit=limit, kind=chosen, mine=mine)
        if as_json:
            emit_json([r.as_dict() for r in ranked])
            return
        table = Table()
        for column in ("name", "title", "kind", "members", "active 30d", "posts 30d", "score"):
            table.add_column(column)
        for r in ranked:
            figures = r.standing
            table.add_row(
                r.circle.name,
                r.circle.title,
                r.circle.kind.value,
                str(figures.members),
                str(figures.active),
                str(figures.posts),
                f"{figures.score:.2f}",
            )
        out.print(table)
        return
    views = circles.find(mine=mine, kind=chosen)
    if as_json:
        emit_json([v.as_dict() for v in views])
        return
    table = Table()
    for column in ("name", "title", "kind", "policy", "members", "pending", "member"):
        table.add_column(column)
    for v in views:
        c = v.circle
        table.add_row(
            c.name,
            c.title,
            c.kind.value,
            c.policy.value + (" (hidden)" if c.hidden else ""),
            str(v.members),
            str(v.pending),
            "yes" if v.is_member else "",
        )
    out.print(table)


@allow(ANYONE)
@circle.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_show(ctx: Context, name: str, as_json: bool) -> None:
    """A circle with its counts of members and pending applications."""
    data = ctx.root.circles(ctx.actor).show(name).as_dict()
    emit_json(data) if as_json else print_mapping(data)


@allow(ANYONE, changes=True)
@circle.command("apply")
@click.argument("name")
@click.option("--message", default="", help="To the owners (up to 500 characters).")
@pass_ctx
def circle_apply(ctx: Context, name: str, message: str) -> None:
    """Apply to join NAME: in at once if it is open or your record proves a grade or class
    circle; otherwise the application waits for an owner or moderator."""
    application = ctx.root.circles(ctx.actor).apply(name, message)
    if application.state == APPROVED:
        say(f"{application.uid} joined {name}")
    else:
        say(f"{application.uid} applied to {name}; the application waits for an owner or moderator")


@allow(ANYONE)
@circle.command("applications")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_applications(ctx: Context, name: str, as_json: bool) -> None:
    """Pending applications to NAME (its owners, moderators and staff)."""
    rows = ctx.root.circles(ctx.actor).applications(name)
    if as_json:
        emit_json([a.as_dict() for a in rows])
        return
    table = Table()
    for column in ("uid", "applied", "message"):
        table.add_column(column)
    for a in rows:
        table.add_row(a.uid, str(a.as_dict()["created"]), a.message)
    out.print(table)


@allow(ANYONE, changes=True)
@circle.command("approve")
@click.argument("name")
@click.argument("uid")
@pass_ctx
def circle_approve(ctx: Context, name: str, uid: str) -> None:
    """Approve UID's pending application to NAME (they are told by mail)."""
    ctx.root.circles(ctx.actor).approve(name, uid)
    say(f"{uid} joined {name}")


@allow(ANYONE, changes=True)
@circle.command("reject")
@click.argument("name")
@click.argument("uid")
@click.option("--reason", default="", help="Told to the applicant (up to 500 characters).")
@pass_ctx
def circle_reject(ctx: Context, name: str, uid: str, reason: str) -> None:
    """Decline UID's pending application to NAME (they are told by mail)."""
    ctx.root.circles(ctx.actor).reject(name, uid, reason)
    say(f"{uid}'s application to {name} was declined")


@allow(ANYONE, changes=True)
@circle.command("cancel")
@click.argument("name")
@pass_ctx
def circle_cancel(ctx: Context, name: str) -> None:
    """Withdraw your pending application to NAME."""
    ctx.root.circles(ctx.actor).cancel(name)
    say(f"application to {name} withdrawn")


@allow(ANYONE, changes=True)
@circle.command("leave")
@click.argument("name")
@pass_ctx
def circle_leave(ctx: Context, name: str) -> None:
    """Leave NAME (its only owner hands ownership over first)."""
    ctx.root.circles(ctx.actor).leave(name)
    say(f"left {name}")


@allow(ANYONE, changes=True)
@circle.command("add")
@click.argument("name")
@click.argument("uid")
@pass_ctx
def circle_add(ctx: Context, name: str, uid: str) -> None:
    """Add alumnus UID to NAME (owners, moderators and staff; how invite-only circles grow)."""
    ctx.root.circles(ctx.actor).add(name, uid)
    say(f"added {uid} to {name}")


@allow(ANYONE, changes=True)
@circle.command("remove")
@click.argument("name")
@click.argument("uid")
@pass_ctx
def circle_remove(ctx: Context, name: str, uid: str) -> None:
    """Remove member UID from NAME (owners, moderators and staff)."""
    ctx.root.circles(ctx.actor).remove(name, uid)
    say(f"removed {uid} from {name}")


@allow(ANYONE, changes=True)
@circle.command("hand-over")
@click.argument("name")
@click.argument("uid")
@pass_ctx
def circle_hand_over(ctx: Context, name: str, uid: str) -> None:
    """Make UID the owner of NAME in place of its owners (who stay members)."""
    ctx.root.circles(ctx.actor).hand_over(name, uid)
    say(f"{uid} now owns {name}")


@allow(ANYONE, changes=True)
@circle.command("moderator")
@click.argument("name")
@click.argument("uid")
@click.option("--remove", "remove_role", is_flag=True, help="Take the role away instead.")
@pass_ctx
def circle_moderator(ctx: Context, name: str, uid: str, remove_role: bool) -> None:
    """Make member UID a moderator of NAME (its owners and staff)."""
    service = ctx.root.circles(ctx.actor)
    if remove_role:
        service.remove_moderator(name, uid)
        say(f"{uid} no longer moderates {name}")
    else:
        service.add_moderator(name, uid)
        say(f"{uid} moderates {name}")


@allow(ANYONE, changes=True)
@circle.command("activate")
@click.argument("name")
@pass_ctx
def circle_activate(ctx: Context, name: str) -> None:
    """Let a proposed interest circle go live (staff; see circles.interest_approval)."""
    ctx.root.circles(ctx.actor).activate(name)
    say(f"{name} is active")


@allow(STAFF, changes=True)
@circle.command("sync-cohorts")
@click.option("--dry-run", is_flag=True, help="Say what would be created; change nothing.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_sync_cohorts(ctx: Context, dry_run: bool, as_json: bool) -> None:
    """A grade circle for every graduation year and a class circle for every class code the
    accounts and the roster carry. Existing circles are left as they are."""
    cohorts = ctx.root.cohorts(ctx.actor)
    plan = cohorts.plan()
    if not dry_run:
        cohorts.apply(plan)
    if as_json:
        emit_json({**plan.as_dict(), "dry_run": dry_run})
        return
    if not plan.add:
        say("nothing to change")
    for made in plan.add:
        say(f"{'would add' if dry_run else 'added'} {made.kind.value} circle {made.name}")


# -- the board --------------------------------------------------------------------------------


def read_body(path: str) -> str:
    """A post's body from a file (``-``: standard input): UTF-8 text, read no further than
    a body may be long (so a huge file is refused without being read whole)."""
    limit = BODY_MAX * 4 + 1  # UTF-8 takes at most 4 bytes a character
    try:
        if path == "-":
            data = sys.stdin.buffer.read(limit)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(limit)
    except OSError as error:
        raise ValidationError("body-file", f"cannot be read: {error.strerror}") from None
    if len(data) >= limit:
        raise ValidationError("body", f"must be at most {BODY_MAX} characters")
    try:
        text: str = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("body-file", "must be UTF-8 text") from None
    return text


@allow(ANYONE, changes=True)
@circle.command("post")
@click.argument("name")
@click.option("--subject", default=None, help="Up to 200 characters (posts, not replies).")
@click.option("--body-file", required=True, help="Markdown, UTF-8 (- for standard input).")
@click.option("--reply-to", default=None, metavar="POST_ID", help="Reply to this post.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_post(
    ctx: Context,
    name: str,
    subject: str | None,
    body_file: str,
    reply_to: str | None,
    as_json: bool,
) -> None:
    """Post to NAME's board (members only), or reply to a post with --reply-to; prints the id."""
    body = read_body(body_file)
    board = ctx.root.board(ctx.actor)
    if reply_to is not None:
        if subject is not None:
            raise ValidationError("subject", "replies have no subject")
        made = board.reply(name, reply_to, body)
    else:
        if subject is None:
            raise ValidationError("subject", "is required for a post (or give --reply-to)")
        made = board.post(name, subject, body)
    if as_json:
        emit_json(made.as_dict())
    else:
        click.echo(made.id)


@allow(ANYONE)
@circle.command("posts")
@click.argument("name")
@click.option("--page", default="1", show_default=True, help="20 posts a page.")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_posts(ctx: Context, name: str, page: str, as_json: bool) -> None:
    """A page of NAME's board: pinned posts first, then by newest activity, with replies."""
    shown = ctx.root.board(ctx.actor).page(name, page)
    if as_json:
        emit_json(shown.as_dict())
        return
    table = Table(title=f"{name}: page {shown.page} of {shown.pages}, {shown.unread} unread")
    for column in ("id", "reply to", "author", "when", "subject", "text", ""):
        table.add_column(column)

    def row(post: Post) -> None:
        marks = [
            word
            for word, on in (
                ("pinned", post.pinned),
                ("hidden", post.hidden_by is not None),
                ("deleted", post.deleted is not None),
                ("edited", post.edited is not None and post.deleted is None),
                ("new", post.unread),
            )
            if on
        ]
        table.add_row(
            str(post.id),
            str(post.parent or ""),
            post.author,
            str(post.as_dict()["created"]),
            post.subject,
            post.body,
            " ".join(marks),
        )

    for post in shown.posts:
        row(post)
        for reply in post.replies:
            row(reply)
    out.print(table)


@allow(ANYONE)
@circle.command("unread")
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
def circle_unread(ctx: Context, as_json: bool) -> None:
    """The actor's circles with the count of posts and replies they have not read."""
    counts = ctx.root.board(ctx.actor).unread_counts()
    if as_json:
        emit_json(counts)
        return
    for name, count in counts.items():
        click.echo(f"{name}\t{count}")


@allow(ANYONE, changes=True)
@circle.command("edit-post")
@click.argument("name")
@click.argument("post_id")
@click.option("--subject", default=None, help="A new subject (posts only).")
@click.option("--body-file", required=True, help="Markdown, UTF-8 (- for standard input).")
@pass_ctx
def circle_edit_post(
    ctx: Context, name: str, post_id: str, subject: str | None, body_file: str
) -> None:
    """Change the text of your own post or reply POST_ID on NAME's board."""
    ctx.root.board(ctx.actor).edit(name, post_id, read_body(body_file), subject=subject)
    say(f"post {post_id} edited")


@allow(ANYONE, changes=True)
@circle.command("delete-post")
@click.argument("name")
@click.argument("post_id")
@pass_ctx
def circle_delete_post(ctx: Context, name: str, post_id: str) -> None:
    """Delete your own post or reply POST_ID (a tombstone stays; a post's replies too)."""
    ctx.root.board(ctx.actor).delete(name, post_id)
    say(f"post {post_id} deleted")


@allow(ANYONE, changes=True)
@circle.command("hide")
@click.argument("name")
@click.argument("post_id")
@click.option("--undo", is_flag=True, help="Show it again.")
@pass_ctx
def circle_hide(ctx: Context, name: str, post_id: str, undo: bool) -> None:
    """Hide post or reply POST_ID on NAME's board (owners, moderators, staff; audited)."""
    ctx.root.board(ctx.actor).hide(name, post_id, hidden=not undo)
    say(f"post {post_id} {'shown again' if undo else 'hidden'}")


@allow(ANYONE, changes=True)
@circle.command("pin")
@click.argument("name")
@click.argument("post_id")
@click.option("--undo", is_flag=True, help="Unpin it.")
@pass_ctx
def circle_pin(ctx: Context, name: str, post_id: str, undo: bool) -> None:
    """Pin post POST_ID to the top of NAME's board (owners, moderators, staff; audited)."""
    ctx.root.board(ctx.actor).pin(name, post_id, pinned=not undo)
    say(f"post {post_id} {'unpinned' if undo else 'pinned'}")


@allow(ANYONE, changes=True)
@circle.command("board")
@click.argument("name")
@click.option(
    "--public/--members-only",
    default=None,
    help="Let alumni read a listed open circle's board without joining (owners, staff).",
)
@pass_ctx
def circle_board(ctx: Context, name: str, public: bool | None) -> None:
    """Show or set who reads NAME's board: members only, or any alumnus (public_board)."""
    board = ctx.root.board(ctx.actor)
    if public is not None:
        board.set_public(name, public)
    state = board.is_public(name)
    click.echo("public" if state else "members-only")
