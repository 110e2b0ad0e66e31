"""The circles' figures for ``make bench`` (also ``python -m bench.circles``): each ranking and a
board page read the way the service reads them, beside a plain SQL query for the same answer
over the same rows, in the same run, on a store seeded in bulk:

- 10,000 circles, 100,000 alumni in about 300,000 memberships (a bench-only table standing in
  for the directory's member lists, for the plain queries), 1,000,000 posts over 90 days (one
  in four a reply), skewed so that a few circles are busy (a power law, as real circles are);
- the service's counters (circle_stats, circle_active, circle_heat) made from those rows by
  SQL, as the use cases would have left them, so the two sides answer the same question;
- "top 20" by members, popularity and interaction through rankings.top (as staff, and as an
  alumnus with 5 hidden circles of their own), beside GROUP BY over the raw rows; the answers
  are compared, not only timed;
- the first and the 50th page of the busiest circle's board through board.read_page, beside
  the same 20 posts fetched by their ids (the least any page can cost);
- "my circles" on the store's side: unread counts and figures of one member's 10 circles.
  The directory's side (memberOf of one entry, read by slapd) is not measured here: it needs
  the 100,000 accounts in slapd, which ``bench.run``'s import figures build and time.

Seeding is SQL over a recursive counter (no use case, no Python loop per row). Nothing here
asserts a time.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from provisioning.circles import rankings
from provisioning.circles.board import Board, read_page
from provisioning.circles.rankings import EPOCH, WEEK, WINDOW, Sort
from provisioning.store import SCHEMA

CIRCLES = 10_000
ALUMNI = 100_000
MEMBERSHIPS_EACH = 3
POSTS = 1_000_000
SPAN = 90 * 86400.0
TOP = 20
REPEAT = 20

# A post's circle: a power law over the circle numbers (circle 0 the busiest), from a hash of
# the post's number; a reply (every fourth row) goes to the circle of the post before it.
CIRCLE_OF = "CAST({n} * pow(((({k}) * 2654435761) % 1000003) / 1000003.0, 3) AS INTEGER)"


def seed(db: sqlite3.Connection, now: float) -> dict[str, float]:
    """The rows, in bulk; returns the seconds each part took."""
    took: dict[str, float] = {}
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;")
    db.executescript(SCHEMA)
    start = time.perf_counter()
    db.execute("BEGIN")
    post_circle = CIRCLE_OF.format(n=CIRCLES, k="i - (i % 4 = 0)")
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "  # noqa: S608 -- our constants
        "INSERT INTO circle_posts (id, circle, parent, author, subject, body, html, created, "
        "activity) SELECT i, 'c' || " + post_circle + ", "
        "CASE WHEN i % 4 = 0 THEN i - 1 END, 'a' || (i * 7919 % ?), "
        "CASE WHEN i % 4 = 0 THEN '' ELSE 'subject ' || i END, 'body of ' || i, "
        "'<p>body of ' || i || '</p>', ? - (? - i) * ?, ? - (? - i) * ? FROM n",
        (POSTS, ALUMNI, now, POSTS, SPAN / POSTS, now, POSTS, SPAN / POSTS),
    )
    # A post's activity: its newest reply's time; its reply count.
    db.execute(
        "UPDATE circle_posts SET replies = 1, activity = activity + ? "
        "WHERE parent IS NULL AND id % 4 = 3",
        (SPAN / POSTS,),
    )
    took["posts_s"] = time.perf_counter() - start
    start = time.perf_counter()
    db.execute(
        "CREATE TABLE bench_membership (circle TEXT, uid TEXT, joined REAL, "
        "PRIMARY KEY (circle, uid)) WITHOUT ROWID"
    )
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "  # noqa: S608 -- our constants
        "INSERT OR IGNORE INTO bench_membership SELECT 'c' || "
        + CIRCLE_OF.format(n=CIRCLES, k="i * 31 + 7")
        + ", 'a' || (i % ?), ? - (i * 104729 % 1000) * ? FROM n",
        (ALUMNI * MEMBERSHIPS_EACH, ALUMNI, now, SPAN / 1000),
    )
    # Every circle has its row, busy or not.
    db.execute(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
        "INSERT INTO circle_stats (circle, kind, listed) "
        "SELECT 'c' || i, 'interest', i % 50 != 7 FROM n",  # one in fifty hidden
        (CIRCLES - 1,),
    )
    db.execute(
        "UPDATE circle_stats SET members = m.n FROM (SELECT circle, COUNT(*) AS n "
        "FROM bench_membership GROUP BY circle) AS m WHERE m.circle = circle_stats.circle"
    )
    cutoff = now - WINDOW
    db.execute(
        "INSERT INTO circle_active (circle, uid, last, counted) "
        "SELECT circle, uid, MAX(at), MAX(at) >= ? FROM ("
        "SELECT circle, author AS uid, created AS at FROM circle_posts "
        "UNION ALL SELECT circle, uid, joined FROM bench_membership) GROUP BY circle, uid",
        (cutoff,),
    )
    db.execute(
        "INSERT INTO circle_heat (post, circle, at) "
        "SELECT id, circle, created FROM circle_posts WHERE created >= ?",
        (cutoff,),
    )
    db.execute(
        "UPDATE circle_stats SET active = a.n FROM (SELECT circle, COUNT(*) AS n "
        "FROM circle_active WHERE counted = 1 GROUP BY circle) AS a "
        "WHERE a.circle = circle_stats.circle"
    )
    db.execute(
        "UPDATE circle_stats SET posts = h.n, heat = h.heat FROM (SELECT circle, COUNT(*) AS n, "
        "log2(SUM(pow(2, (at - ?) / ?))) AS heat FROM circle_heat GROUP BY circle) AS h "
        "WHERE h.circle = circle_stats.circle",
        (EPOCH, WEEK),
    )
    db.execute("COMMIT")
    db.execute("ANALYZE")
    took["counters_s"] = time.perf_counter() - start
    return took


PLAIN = {
    Sort.MEMBERS: (
        "SELECT circle, COUNT(*) AS v FROM bench_membership GROUP BY circle "
        "ORDER BY v DESC, circle LIMIT ?"
    ),
    Sort.POPULARITY: (
        "SELECT circle, COUNT(DISTINCT uid) AS v FROM ("
        "SELECT circle, author AS uid FROM circle_posts WHERE created >= :cutoff "
        "UNION ALL SELECT circle, uid FROM bench_membership WHERE joined >= :cutoff) "
        "GROUP BY circle ORDER BY v DESC, circle LIMIT :top"
    ),
    Sort.INTERACTION: (
        "SELECT circle, SUM(pow(0.5, (:now - created) / :week)) AS v FROM circle_posts "
        "WHERE created >= :cutoff GROUP BY circle ORDER BY v DESC, circle LIMIT :top"
    ),
}


def figure_members(standing: rankings.Standing) -> float:
    return float(standing.members)


def figure_active(standing: rankings.Standing) -> float:
    return float(standing.active)


def figure_score(standing: rankings.Standing) -> float:
    return standing.score


def best_ms(fn: Callable[[], object], repeat: int = REPEAT) -> float:
    """The median of ``repeat`` runs, in milliseconds (the first run warms the page cache)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def circle_figures() -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="alumail-bench-circles-"))
    figures: dict[str, float] = {}
    try:
        db = sqlite3.connect(work / "web.db", isolation_level=None)
        # Inside the window; the counters are exact for this moment (nothing expires between
        # the seeding and the reads, so catch_up finds nothing: a read's usual case).
        now = time.time()
        start = time.perf_counter()
        figures.update(seed(db, now))
        figures["seed_total_s"] = time.perf_counter() - start
        hidden_mine = [f"c{i}" for i in range(7, 300, 50)][:5]
        for by in Sort:
            plain_args: dict[str, object] | tuple[object, ...]
            if by is Sort.MEMBERS:
                plain_args = (TOP,)
            else:
                plain_args = {"cutoff": now - WINDOW, "now": now, "week": WEEK, "top": TOP}
            sql = PLAIN[by]
            args = plain_args

            def ours(by: Sort = by) -> list[rankings.Standing]:
                return rankings.top(db, by, now, limit=TOP, also=None)

            def as_alumnus(by: Sort = by) -> list[rankings.Standing]:
                return rankings.top(db, by, now, limit=TOP, also=hidden_mine)

            def plain(sql: str = sql, args: object = args) -> list[tuple[str, float]]:
                return db.execute(sql, args).fetchall()  # type: ignore[arg-type]

            figures[f"top_{by.value}_ms"] = best_ms(ours)
            figures[f"top_{by.value}_as_alumnus_ms"] = best_ms(as_alumnus)
            figures[f"plain_{by.value}_ms"] = best_ms(plain, repeat=3)
            figures[f"top_{by.value}_speedup"] = (
                figures[f"plain_{by.value}_ms"] / figures[f"top_{by.value}_ms"]
            )
            got = ours()
            value: Callable[[rankings.Standing], float] = {
                Sort.MEMBERS: figure_members,
                Sort.POPULARITY: figure_active,
                Sort.INTERACTION: figure_score,
            }[by]
            reference = plain()
            figures[f"top_{by.value}_same_answer"] = float(
                [s.circle for s in got] == [r[0] for r in reference]
                and all(
                    abs(value(s) - r[1]) <= 1e-6 * max(1.0, r[1])
                    for s, r in zip(got, reference, strict=True)
                )
            )
        (busiest,) = db.execute(
            "SELECT circle FROM circle_posts GROUP BY circle ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
        (figures["busiest_board_posts"],) = db.execute(
            "SELECT COUNT(*) FROM circle_posts WHERE circle = ?", (busiest,)
        ).fetchone()
        for number in (1, 50):

            def page(number: int = number) -> object:
                return read_page(db, busiest, number, moderator=False, seen=0)

            ids = [p.id for p in read_page(db, busiest, number, moderator=False, seen=0)[1]]
            marks = ", ".join("?" * len(ids))

            def by_ids(ids: list[int] = ids, marks: str = marks) -> object:
                return db.execute(
                    f"SELECT * FROM circle_posts WHERE id IN ({marks})",  # noqa: S608 -- marks
                    ids,
                ).fetchall()

            figures[f"board_page_{number}_ms"] = best_ms(page)
            figures[f"board_page_{number}_by_ids_ms"] = best_ms(by_ids)
            figures[f"board_page_{number}_vs_by_ids"] = (
                figures[f"board_page_{number}_ms"] / figures[f"board_page_{number}_by_ids_ms"]
            )
        figures["board_unread_never_read_ms"] = best_ms(
            lambda: Board._unread(db, busiest, "a4242", 0)
        )
        member = "a4242"
        mine = [
            row[0]
            for row in db.execute(
                "SELECT circle FROM bench_membership WHERE uid = ? LIMIT 10", (member,)
            )
        ]

        def my_circles() -> object:
            shown = rankings.top(db, Sort.MEMBERS, now, limit=10, also=mine, only=mine)
            return [
                db.execute(
                    "SELECT COUNT(*) FROM circle_posts WHERE circle = ? AND id > ? "
                    "AND author != ? AND deleted IS NULL AND hidden_by IS NULL",
                    (s.circle, POSTS - 5000, member),
                ).fetchone()
                for s in shown
            ]

        figures["my_circles_store_ms"] = best_ms(my_circles)
        figures["my_circles_count"] = float(len(mine))
        db.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def main() -> None:
    figures = circle_figures()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}} {value:>14,.3f}")


if __name__ == "__main__":
    os.nice(5)
    main()
