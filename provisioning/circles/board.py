"""A circle's message board: posts and replies (one level), edited and deleted by their
authors, hidden and pinned by the circle's owners and moderators (and staff), read a page at a
time (pinned first, then newest activity), with each member's unread count.

Who reads: members and staff; an alumnus who is not a member reads the board of a listed,
open circle whose owners made it public (``public_board``, kept in the store beside the board:
a setting only this service reads, so it needs no directory attribute and no schema change).
Who posts and replies: members only (a member who left is refused like any non-member).

Posts are data, not audit lines: hiding, unhiding, pinning, unpinning and the public setting
are audited (who moderated what); posting, editing and deleting one's own are not.
Each post and reply changes the rankings' counters (rankings.py) in the same transaction.
"""

from __future__ import annotations

import sqlite3
import time
import unicodedata
from dataclasses import dataclass, field, replace

from identity.circles import Circle, Policy
from identity.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from identity.markers import N_
from provisioning.circles import rankings
from provisioning.circles.markup import render
from provisioning.circles.service import CircleService
from provisioning.people.lookups import require

SUBJECT_MAX = 200
BODY_MAX = 20_000  # characters: a long letter; attachments are not board posts
PAGE_SIZE = 20

_COLUMNS = (
    "id, circle, parent, author, subject, body, html, created, edited, deleted, hidden_by, "
    "pinned, activity, replies"
)


def _iso(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(frozen=True)
class Post:
    id: int
    circle: str
    parent: int | None
    author: str
    subject: str
    body: str
    html: str
    created: float
    edited: float | None
    deleted: float | None
    hidden_by: str | None
    pinned: bool
    activity: float
    reply_count: int
    unread: bool = False
    replies: tuple[Post, ...] = field(default=())

    @classmethod
    def from_row(cls, row: tuple[object, ...], seen: int | None) -> Post:
        (id_, circle, parent, author, subject, body, html, created, edited, deleted, hidden_by,
         pinned, activity, replies) = row  # fmt: skip
        return cls(
            int(id_),  # type: ignore[call-overload]
            str(circle),
            None if parent is None else int(parent),  # type: ignore[call-overload]
            str(author),
            str(subject),
            str(body),
            str(html),
            float(created),  # type: ignore[arg-type]
            None if edited is None else float(edited),  # type: ignore[arg-type]
            None if deleted is None else float(deleted),  # type: ignore[arg-type]
            None if hidden_by is None else str(hidden_by),
            bool(pinned),
            float(activity),  # type: ignore[arg-type]
            int(replies),  # type: ignore[call-overload]
            unread=seen is not None and int(id_) > seen,  # type: ignore[call-overload]
        )

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "id": self.id,
            "circle": self.circle,
            "author": self.author,
            "body": self.body,
            "html": self.html,
            "created": _iso(self.created),
            "edited": _iso(self.edited),
            "deleted": self.deleted is not None,
            "hidden": self.hidden_by is not None,
            "unread": self.unread,
        }
        if self.parent is None:
            data.update(
                subject=self.subject,
                pinned=self.pinned,
                activity=_iso(self.activity),
                reply_count=self.reply_count,
                replies=[r.as_dict() for r in self.replies],
            )
        else:
            data["reply_to"] = self.parent
        return data


@dataclass(frozen=True)
class BoardPage:
    circle: str
    page: int
    pages: int
    total: int
    unread: int
    posts: list[Post]

    def as_dict(self) -> dict[str, object]:
        return {
            "circle": self.circle,
            "page": self.page,
            "pages": self.pages,
            "total": self.total,
            "unread": self.unread,
            "posts": [p.as_dict() for p in self.posts],
        }


def check_subject(value: str) -> str:
    text = unicodedata.normalize("NFC", value.strip())
    if not text:
        raise ValidationError("subject", N_("must not be empty"))
    if len(text) > SUBJECT_MAX:
        raise ValidationError(
            "subject", N_("must be at most {count} characters").format(count=SUBJECT_MAX)
        )
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ValidationError(
            "subject", N_("must not contain control or invisible format characters")
        )
    return text


def check_body(value: str) -> str:
    """Markdown, any script; tabs and line breaks allowed, other control characters not."""
    text = unicodedata.normalize("NFC", value.replace("\r\n", "\n").strip())
    if not text:
        raise ValidationError("body", N_("must not be empty"))
    if len(text) > BODY_MAX:
        raise ValidationError(
            "body", N_("must be at most {count} characters").format(count=BODY_MAX)
        )
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in text):
        raise ValidationError("body", N_("must not contain control characters"))
    return text


def check_post_id(value: int | str, *, field: str = "post_id") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError(field, N_("must be a whole number")) from None
    if not 1 <= number <= 2**62:
        raise ValidationError(field, N_("must be a positive whole number"))
    return number


def check_page(value: int | str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError("page", N_("must be a whole number")) from None
    if not 1 <= number <= 1_000_000:
        raise ValidationError("page", N_("must be between 1 and 1000000"))
    return number


def read_page(
    db: sqlite3.Connection, name: str, number: int, *, moderator: bool, seen: int | None
) -> tuple[int, list[Post]]:
    """The board's post count and page ``number`` of its posts with their replies, in the
    caller's transaction: three statements on the board's two partial indexes (the bench
    times this beside the plain query)."""
    visible = "" if moderator else " AND hidden_by IS NULL"
    (total,) = db.execute(
        f"SELECT COUNT(*) FROM circle_posts WHERE circle = ? AND parent IS NULL{visible}",  # noqa: S608 -- fixed fragments; values bound
        (name,),
    ).fetchone()
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM circle_posts WHERE circle = ? AND parent IS NULL"  # noqa: S608 -- fixed fragments; values bound
        f"{visible} ORDER BY pinned DESC, activity DESC, id DESC LIMIT ? OFFSET ?",
        (name, PAGE_SIZE, (number - 1) * PAGE_SIZE),
    ).fetchall()
    posts = [Post.from_row(row, seen) for row in rows]
    replies: dict[int, list[Post]] = {}
    if posts:
        marks = ", ".join("?" * len(posts))
        for row in db.execute(
            f"SELECT {_COLUMNS} FROM circle_posts WHERE parent IN ({marks}){visible} "  # noqa: S608 -- fixed fragments; values bound
            "ORDER BY id",
            [p.id for p in posts],
        ):
            reply = Post.from_row(row, seen)
            replies.setdefault(reply.parent or 0, []).append(reply)
    return total, [replace(p, replies=tuple(replies.get(p.id, ()))) for p in posts]


class Board:
    def __init__(self, circles: CircleService) -> None:
        self.circles = circles
        self.store = circles.store
        self.actor = circles.actor

    # -- who may ---------------------------------------------------------------------------------

    def _public(self, db: sqlite3.Connection, name: str) -> bool:
        row = db.execute("SELECT public FROM circle_boards WHERE circle = ?", (name,)).fetchone()
        return bool(row and row[0])

    def _may_read(self, db: sqlite3.Connection, circle: Circle) -> bool:
        me = self.circles.me
        if self.circles.is_staff or (me is not None and me in circle.members):
            return True
        return (
            me is not None
            and rankings.is_listed(circle)
            and circle.policy is Policy.OPEN
            and self._public(db, circle.name)
        )

    def _readable(self, db: sqlite3.Connection, circle: Circle) -> None:
        require(
            self.actor,
            self._may_read(db, circle),
            N_("read the board of '{name}' (members only)").format(name=circle.name),
        )

    def _member(self, circle: Circle) -> str:
        me = self.circles.me
        if me is None or me not in circle.members:
            raise AccessDeniedError(
                N_("{actor} may not {what}").format(
                    actor=self.actor,
                    what=N_("post to '{name}': only its members post").format(name=circle.name),
                )
            )
        return me

    def _row(self, db: sqlite3.Connection, circle: Circle, post_id: int) -> Post:
        """The post or reply ``post_id`` of the circle's board (a hidden one for moderators)."""
        name = circle.name
        row = db.execute(
            f"SELECT {_COLUMNS} FROM circle_posts WHERE id = ? AND circle = ?",  # noqa: S608 -- fixed fragments; values bound
            (post_id, name),
        ).fetchone()
        if row is None or (row[10] is not None and not self.circles._may_moderate(circle)):
            raise NotFoundError(f"no post {post_id} on the board of '{name}'")
        return Post.from_row(row, None)

    # -- writing ---------------------------------------------------------------------------------

    def post(self, name: str, subject: str, body: str) -> Post:
        """A new post by a member."""
        circle = self.circles.get(name)
        checked_subject = check_subject(subject)
        text = check_body(body)
        me = self._member(circle)
        return self._insert(circle, me, None, checked_subject, text)

    def reply(self, name: str, post_id: int | str, body: str) -> Post:
        """A member's reply to a post (not to a reply: one level)."""
        number = check_post_id(post_id, field="reply_to")
        circle = self.circles.get(name)
        text = check_body(body)
        me = self._member(circle)
        with self.store.connect() as db:
            parent = self._row(db, circle, number)
        if parent.parent is not None:
            raise ValidationError("reply_to", N_("replies are to posts, not to other replies"))
        if parent.deleted is not None or parent.hidden_by is not None:
            raise ConflictError(f"post {number} on '{name}' was removed; it takes no replies")
        return self._insert(circle, me, number, "", text)

    def _insert(self, circle: Circle, me: str, parent: int | None, subject: str, text: str) -> Post:
        html = render(text)
        now = time.time()
        with self.store.connect() as db:
            rankings.ensure(db, circle)
            (post_id,) = db.execute(
                "INSERT INTO circle_posts (circle, parent, author, subject, body, html, created, "
                "activity) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (circle.name, parent, me, subject, text, html, now, now),
            ).fetchone()
            if parent is not None:
                db.execute(
                    "UPDATE circle_posts SET replies = replies + 1, activity = ? WHERE id = ?",
                    (now, parent),
                )
            rankings.posted(db, circle.name, post_id, me, now)
            row = db.execute(f"SELECT {_COLUMNS} FROM circle_posts WHERE id = ?", (post_id,))  # noqa: S608 -- fixed fragments; values bound
            return Post.from_row(row.fetchone(), None)

    def edit(self, name: str, post_id: int | str, body: str, *, subject: str | None = None) -> Post:
        """The author changes their post's or reply's text (and a post's subject)."""
        number = check_post_id(post_id)
        text = check_body(body)
        circle = self.circles.get(name)
        me = self._member(circle)
        with self.store.connect() as db:
            found = self._row(db, circle, number)
            if found.author != me:
                raise AccessDeniedError(f"{self.actor} may edit only their own posts")
            if found.deleted is not None:
                raise ConflictError(f"post {number} on '{name}' was deleted")
            if subject is not None and found.parent is not None:
                raise ValidationError("subject", N_("replies have no subject"))
            new_subject = found.subject if subject is None else check_subject(subject)
            db.execute(
                "UPDATE circle_posts SET subject = ?, body = ?, html = ?, edited = ? WHERE id = ?",
                (new_subject, text, render(text), time.time(), number),
            )
            row = db.execute(f"SELECT {_COLUMNS} FROM circle_posts WHERE id = ?", (number,))  # noqa: S608 -- fixed fragments; values bound
            return Post.from_row(row.fetchone(), None)

    def delete(self, name: str, post_id: int | str) -> None:
        """The author removes their post or reply: a tombstone stays (a post's replies too)."""
        number = check_post_id(post_id)
        circle = self.circles.get(name)
        me = self.circles.me
        with self.store.connect() as db:
            found = self._row(db, circle, number)
            if found.author != me:
                raise AccessDeniedError(
                    f"{self.actor} may delete only their own posts (moderators hide others)"
                )
            if found.deleted is not None:
                return
            db.execute(
                "UPDATE circle_posts SET subject = '', body = '', html = '', deleted = ?, "
                "pinned = 0 WHERE id = ?",
                (time.time(), number),
            )

    # -- moderating (audited) --------------------------------------------------------------------

    def hide(self, name: str, post_id: int | str, *, hidden: bool = True) -> None:
        """Owners, moderators and staff take a post or reply out of sight (or back)."""
        action = "circle-post-hide" if hidden else "circle-post-unhide"
        with self.circles.audited(action, f"{name} {post_id}") as outcome:
            number = check_post_id(post_id)
            circle = self.circles.get(name)
            require(
                self.actor,
                self.circles._may_moderate(circle),
                N_("moderate '{name}'").format(name=name),
            )
            with self.store.connect() as db:
                found = self._row(db, circle, number)
                if (found.hidden_by is not None) == hidden:
                    outcome.unchanged = True
                    return
                db.execute(
                    "UPDATE circle_posts SET hidden_by = ? WHERE id = ?",
                    (self.actor.name if hidden else None, number),
                )
            outcome.changes = {"hidden": hidden, "author": found.author}

    def pin(self, name: str, post_id: int | str, *, pinned: bool = True) -> None:
        """Owners, moderators and staff keep a post at the top of the board (or let it go)."""
        action = "circle-post-pin" if pinned else "circle-post-unpin"
        with self.circles.audited(action, f"{name} {post_id}") as outcome:
            number = check_post_id(post_id)
            circle = self.circles.get(name)
            require(
                self.actor,
                self.circles._may_moderate(circle),
                N_("moderate '{name}'").format(name=name),
            )
            with self.store.connect() as db:
                found = self._row(db, circle, number)
                if found.parent is not None:
                    raise ValidationError("post_id", N_("replies cannot be pinned; pin the post"))
                if found.deleted is not None:
                    raise ConflictError(f"post {number} on '{name}' was deleted")
                if found.pinned == pinned:
                    outcome.unchanged = True
                    return
                db.execute("UPDATE circle_posts SET pinned = ? WHERE id = ?", (int(pinned), number))
            outcome.changes = {"pinned": pinned}

    def set_public(self, name: str, public: bool) -> None:
        """Owners and staff let alumni read a listed open circle's board without joining."""
        with self.circles.audited("circle-board-public", name) as outcome:
            circle = self.circles.get(name)
            require(
                self.actor,
                self.circles._may_own(circle),
                N_("change the board of '{name}'").format(name=name),
            )
            with self.store.connect() as db:
                if self._public(db, name) == public:
                    outcome.unchanged = True
                    return
                db.execute(
                    "INSERT INTO circle_boards (circle, public) VALUES (?, ?) "
                    "ON CONFLICT (circle) DO UPDATE SET public = excluded.public",
                    (name, int(public)),
                )
            outcome.changes = {"public_board": public}

    def is_public(self, name: str) -> bool:
        self.circles.get(name)
        with self.store.connect() as db:
            return self._public(db, name)

    # -- reading ---------------------------------------------------------------------------------

    def page(self, name: str, page: int | str = 1) -> BoardPage:
        """One page of posts with their replies: pinned first, then by newest activity (a
        reply lifts its post), ties by id; hidden ones only for moderators. A member's unread
        count is of others' posts and replies newer than what they last saw; reading the first
        page marks everything up to now seen."""
        number = check_page(page)
        circle = self.circles.get(name)
        moderator = self.circles._may_moderate(circle)
        me = self.circles.me
        with self.store.connect() as db:
            self._readable(db, circle)
            member = me is not None and me in circle.members
            seen = self._seen(db, name, me) if member and me is not None else None
            total, posts = read_page(db, name, number, moderator=moderator, seen=seen)
            unread = self._unread(db, name, me, seen) if seen is not None else 0
            if member and me is not None and number == 1:
                (newest,) = db.execute(
                    "SELECT MAX(id) FROM circle_posts WHERE circle = ?", (name,)
                ).fetchone()
                if newest is not None:
                    self._mark_seen(db, name, me, newest)
        return BoardPage(name, number, max(1, -(-total // PAGE_SIZE)), total, unread, posts)

    def unread(self, name: str) -> int:
        """Others' posts and replies on the board since the member last read its first page."""
        circle = self.circles.get(name)
        me = self._member_reader(circle)
        with self.store.connect() as db:
            return self._unread(db, name, me, self._seen(db, name, me))

    def unread_counts(self) -> dict[str, int]:
        """The actor's circles (their names from the directory, as "my circles") with the
        unread count of each board: one indexed count per circle."""
        me = self.circles.me
        if me is None:
            return {}
        mine = [view.circle.name for view in self.circles.find(mine=True)]
        with self.store.connect() as db:
            return {name: self._unread(db, name, me, self._seen(db, name, me)) for name in mine}

    def _member_reader(self, circle: Circle) -> str:
        me = self.circles.me
        if me is None or me not in circle.members:
            raise AccessDeniedError(f"{self.actor} has no unread marks on '{circle.name}'")
        return me

    @staticmethod
    def _seen(db: sqlite3.Connection, name: str, me: str) -> int:
        row = db.execute(
            "SELECT seen FROM circle_reads WHERE circle = ? AND uid = ?", (name, me)
        ).fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def _unread(db: sqlite3.Connection, name: str, me: str | None, seen: int) -> int:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM circle_posts WHERE circle = ? AND id > ? AND author != ? "
            "AND deleted IS NULL AND hidden_by IS NULL",
            (name, seen, me or ""),
        ).fetchone()
        return int(count)

    @staticmethod
    def _mark_seen(db: sqlite3.Connection, name: str, me: str, post_id: int) -> None:
        db.execute(
            "INSERT INTO circle_reads (circle, uid, seen) VALUES (?, ?, ?) "
            "ON CONFLICT (circle, uid) DO UPDATE SET seen = max(seen, excluded.seen)",
            (name, me, post_id),
        )
