"""The hot-circle rankings, kept in step with every post, reply, join and leave (no nightly job).

Three orders, each read from one index of ``circle_stats`` (store.py), so "top N by X" walks N
entries of an index instead of every circle:

- **members**: the circle's member count, re-read from the directory entry in the store
  transaction of each join and leave (so it heals itself after refint drops a deleted account);
- **popularity**: distinct members active in the last 30 days, active meaning posted, replied or
  joined. ``circle_active`` keeps each member's last activity per circle; a member counts once
  and is taken out when their last activity is 30 days old, or when they leave;
- **interaction**: posts and replies of the last 30 days, each weighing ``0.5 ** (age_days / 7)``
  (a week-old post counts half, a fresh one 1, one 30 days old drops out). The sum is kept as
  ``heat = log2(sum(2 ** ((t - EPOCH) / WEEK)))`` over the live posts' times ``t``: the score at
  any moment ``now`` is ``2 ** (heat - (now - EPOCH) / WEEK)``, the same factor for every
  circle, so ordering by ``heat`` is ordering by score at every moment, and a post only adds
  its term (in log space: no overflow however many years pass).

The 30-day window is applied by :func:`catch_up` at the start of each ranking read and each
change: it takes out what turned 30 days old since the last call (an index range on the time
column; each row leaves once), and recomputes the heat of the circles that lost posts from
their remaining live posts (at most 30 days' worth each).
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import Enum

from identity.circles import Circle

DAY = 86400.0
WEEK = 7 * DAY
WINDOW = 30 * DAY
EPOCH = 1767225600.0  # 2026-01-01T00:00:00Z: any fixed time serves; this one keeps heat small


class Sort(Enum):
    MEMBERS = "members"
    POPULARITY = "popularity"
    INTERACTION = "interaction"


_COLUMN = {Sort.MEMBERS: "members", Sort.POPULARITY: "active", Sort.INTERACTION: "heat"}


@dataclass(frozen=True)
class Standing:
    """One circle's figures at ``now``."""

    circle: str
    members: int
    active: int
    posts: int
    score: float

    def as_dict(self) -> dict[str, object]:
        return {
            "members": self.members,
            "active_members_30d": self.active,
            "posts_30d": self.posts,
            "interaction": round(self.score, 4),
        }


def exponent(t: float) -> float:
    """log2 of a post's anchored weight: its weight at ``now`` is 2 ** (this - exponent(now))."""
    return (t - EPOCH) / WEEK


def log2_sum(exponents: Iterable[float]) -> float | None:
    """log2(sum(2 ** e)) without overflow; None for no terms."""
    terms = list(exponents)
    if not terms:
        return None
    top = max(terms)
    return top + math.log2(sum(2 ** (e - top) for e in terms))


def score(heat: float | None, now: float) -> float:
    """The interaction score at ``now``: sum of 0.5 ** (age_days / 7) over the live posts."""
    return 0.0 if heat is None else 2 ** (heat - exponent(now))


def ensure(db: sqlite3.Connection, circle: Circle) -> None:
    """The circle's counters row, made on first need (circles made before the rankings too)."""
    db.execute(
        "INSERT INTO circle_stats (circle, kind, listed, members) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (circle) DO UPDATE SET kind = excluded.kind, listed = excluded.listed",
        (circle.name, circle.kind.value, int(is_listed(circle)), len(circle.members)),
    )


def is_listed(circle: Circle) -> bool:
    return not circle.hidden and not circle.proposed


def set_members(db: sqlite3.Connection, circle: str, count: int) -> None:
    db.execute("UPDATE circle_stats SET members = ? WHERE circle = ?", (count, circle))


def touched(db: sqlite3.Connection, circle: str, uid: str, now: float) -> None:
    """``uid`` was active in ``circle`` at ``now`` (posted, replied, joined)."""
    catch_up(db, now)
    row = db.execute(
        "SELECT counted FROM circle_active WHERE circle = ? AND uid = ?", (circle, uid)
    ).fetchone()
    db.execute(
        "INSERT INTO circle_active (circle, uid, last, counted) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (circle, uid) DO UPDATE SET last = excluded.last, counted = 1",
        (circle, uid, now),
    )
    if row is None or not row[0]:
        db.execute("UPDATE circle_stats SET active = active + 1 WHERE circle = ?", (circle,))


def left(db: sqlite3.Connection, circle: str, uid: str) -> None:
    """``uid`` is no longer a member: no longer among the circle's active members."""
    row = db.execute(
        "DELETE FROM circle_active WHERE circle = ? AND uid = ? RETURNING counted", (circle, uid)
    ).fetchone()
    if row is not None and row[0]:
        db.execute("UPDATE circle_stats SET active = active - 1 WHERE circle = ?", (circle,))


def posted(db: sqlite3.Connection, circle: str, post: int, uid: str, now: float) -> None:
    """A post or reply: one more live post, its weight added to the heat, the author active."""
    touched(db, circle, uid, now)
    db.execute("INSERT INTO circle_heat (post, circle, at) VALUES (?, ?, ?)", (post, circle, now))
    (heat,) = db.execute("SELECT heat FROM circle_stats WHERE circle = ?", (circle,)).fetchone()
    terms = [exponent(now)] if heat is None else [heat, exponent(now)]
    db.execute(
        "UPDATE circle_stats SET posts = posts + 1, heat = ? WHERE circle = ?",
        (log2_sum(terms), circle),
    )


def catch_up(db: sqlite3.Connection, now: float) -> None:
    """Take out what turned 30 days old: activity from ``active``, posts from ``posts`` and
    ``heat`` (recomputed from the circle's remaining live posts, exact, no subtraction)."""
    cutoff = now - WINDOW
    gone = Counter(
        circle
        for (circle,) in db.execute(
            "UPDATE circle_active SET counted = 0 WHERE counted = 1 AND last < ? RETURNING circle",
            (cutoff,),
        ).fetchall()
    )
    db.executemany(
        "UPDATE circle_stats SET active = active - ? WHERE circle = ?",
        [(n, circle) for circle, n in gone.items()],
    )
    aged = Counter(
        circle
        for (circle,) in db.execute(
            "DELETE FROM circle_heat WHERE at < ? RETURNING circle", (cutoff,)
        ).fetchall()
    )
    for circle, n in aged.items():
        rest = db.execute("SELECT at FROM circle_heat WHERE circle = ?", (circle,)).fetchall()
        db.execute(
            "UPDATE circle_stats SET posts = posts - ?, heat = ? WHERE circle = ?",
            (n, log2_sum(exponent(at) for (at,) in rest), circle),
        )


def top(
    db: sqlite3.Connection,
    by: Sort,
    now: float,
    *,
    limit: int,
    also: Collection[str] | None,
    kind: str | None = None,
    only: Collection[str] | None = None,
) -> list[Standing]:
    """The first ``limit`` circles by ``by``: listed ones and those named in ``also`` (the
    hidden circles the reader is in); ``also=None``: every circle (staff). ``only``: just
    these circles (the reader's own). Ties by name."""
    catch_up(db, now)
    terms: list[str] = []
    values: list[str] = []
    if also is not None:
        terms.append(f"(listed = 1 OR circle IN ({', '.join('?' * len(also))}))")
        values.extend(also)
    if only is not None:
        terms.append(f"circle IN ({', '.join('?' * len(only))})")
        values.extend(only)
    if kind is not None:
        terms.append("kind = ?")
        values.append(kind)
    where = f"WHERE {' AND '.join(terms)} " if terms else ""
    column = _COLUMN[by]
    rows = db.execute(
        f"SELECT circle, members, active, posts, heat FROM circle_stats {where}"  # noqa: S608 -- fixed fragments; values bound
        f"ORDER BY {column} DESC, circle LIMIT ?",
        (*values, limit),
    ).fetchall()
    return [Standing(c, m, a, p, score(h, now)) for c, m, a, p, h in rows]
