"""The web service's own state, in one SQLite file under ``state/web/``: the alumni roster,
one-time tokens (e-mail confirmation, password recovery), API tokens, browser sessions, the
last migration report per account, the cutoff reminders sent, applications to circles, the
circles' boards and the rankings' counters.

None of it is identity: a jAccount exists only in the directory. Secrets (token values,
session ids) are stored as SHA-256 digests: they are 256-bit random values, so a fast hash is
enough, and a copy of this file gives no way in.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mailstack.files import ensure_dir
from mailstack.layout import Layout
from mailstack.privileges import SERVICE_USER

SCHEMA = """
CREATE TABLE IF NOT EXISTS roster (
    student_number TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    birth_date TEXT,
    graduation_year INTEGER,
    legacy_address TEXT,
    class_code TEXT,
    latin_name TEXT,
    search_keys TEXT,
    registered_uid TEXT,
    registered_at REAL
);
CREATE TABLE IF NOT EXISTS one_time (
    digest TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    used REAL
);
CREATE INDEX IF NOT EXISTS one_time_subject ON one_time (kind, subject);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    digest TEXT NOT NULL,
    label TEXT NOT NULL,
    created REAL NOT NULL,
    last_used REAL,
    revoked REAL,
    entry_uuid TEXT,
    role TEXT
);
CREATE TABLE IF NOT EXISTS migrations (
    uid TEXT PRIMARY KEY,
    started REAL,
    finished REAL,
    report TEXT
);
CREATE TABLE IF NOT EXISTS reminders (
    uid TEXT,
    offset INTEGER,
    sent REAL,
    PRIMARY KEY (uid, offset)
);
-- Applications to join a circle (provisioning/circles). At most one pending per person and
-- circle (a partial unique index: SQLite and PostgreSQL alike); decided ones stay as history
-- and count against the applicant's rate limit.
CREATE TABLE IF NOT EXISTS circle_applications (
    id INTEGER PRIMARY KEY,
    circle TEXT NOT NULL,
    uid TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    decided REAL,
    decided_by TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS circle_applications_pending
    ON circle_applications (circle, uid) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS circle_applications_by_uid ON circle_applications (uid, created);
-- The circles' message boards (provisioning/circles/board.py). A row is a post (parent NULL,
-- with a subject) or a reply to one (one level). ``activity``: a post's newest of its own and
-- its replies' times (a board page's order after the pinned posts). Deleted rows stay as
-- tombstones (body emptied) so replies keep their post.
CREATE TABLE IF NOT EXISTS circle_posts (
    id INTEGER PRIMARY KEY,
    circle TEXT NOT NULL,
    parent INTEGER REFERENCES circle_posts (id),
    author TEXT NOT NULL,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    html TEXT NOT NULL,
    created REAL NOT NULL,
    edited REAL,
    deleted REAL,
    hidden_by TEXT,
    pinned INTEGER NOT NULL DEFAULT 0,
    activity REAL NOT NULL,
    replies INTEGER NOT NULL DEFAULT 0
);
-- hidden_by in the board's index: a page's count of visible posts reads the index alone.
CREATE INDEX IF NOT EXISTS circle_posts_board
    ON circle_posts (circle, pinned DESC, activity DESC, id DESC, hidden_by) WHERE parent IS NULL;
CREATE INDEX IF NOT EXISTS circle_posts_replies ON circle_posts (parent, id)
    WHERE parent IS NOT NULL;
-- Covering an unread count (others' visible posts after a position): the index alone.
CREATE INDEX IF NOT EXISTS circle_posts_since
    ON circle_posts (circle, id, author, deleted, hidden_by);
-- Per member and circle: the newest post or reply id they have seen (unread markers).
CREATE TABLE IF NOT EXISTS circle_reads (
    circle TEXT NOT NULL,
    uid TEXT NOT NULL,
    seen INTEGER NOT NULL,
    PRIMARY KEY (circle, uid)
);
-- A board's settings: whether readers of a listed open circle may read it without joining.
CREATE TABLE IF NOT EXISTS circle_boards (
    circle TEXT PRIMARY KEY,
    public INTEGER NOT NULL DEFAULT 0
);
-- The rankings' counters (provisioning/circles/rankings.py), changed in the transaction of
-- each post, reply, join and leave. ``heat``: log2 of the interaction score anchored at the
-- epoch (see rankings.py); ``listed``: 1 for listed, active circles (the others are ranked
-- for their members and staff only).
CREATE TABLE IF NOT EXISTS circle_stats (
    circle TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    listed INTEGER NOT NULL,
    members INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 0,
    posts INTEGER NOT NULL DEFAULT 0,
    heat REAL
);
CREATE INDEX IF NOT EXISTS circle_stats_members ON circle_stats (members DESC, circle);
CREATE INDEX IF NOT EXISTS circle_stats_active ON circle_stats (active DESC, circle);
CREATE INDEX IF NOT EXISTS circle_stats_heat ON circle_stats (heat DESC, circle);
-- Each member's last activity in a circle (posted, replied, joined); ``counted``: included in
-- circle_stats.active (taken out once 30 days old, at the next ranking read or change).
CREATE TABLE IF NOT EXISTS circle_active (
    circle TEXT NOT NULL,
    uid TEXT NOT NULL,
    last REAL NOT NULL,
    counted INTEGER NOT NULL,
    PRIMARY KEY (circle, uid)
);
CREATE INDEX IF NOT EXISTS circle_active_expiry ON circle_active (last) WHERE counted = 1;
-- Each post and reply's weight in circle_stats.heat and posts while under 30 days old.
CREATE TABLE IF NOT EXISTS circle_heat (
    post INTEGER PRIMARY KEY,
    circle TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS circle_heat_expiry ON circle_heat (at);
CREATE INDEX IF NOT EXISTS circle_heat_circle ON circle_heat (circle, at);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY,
    uid TEXT NOT NULL,
    csrf TEXT NOT NULL,
    must_change INTEGER NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL,
    entry_uuid TEXT NOT NULL DEFAULT '',
    password_stamp TEXT NOT NULL DEFAULT ''
);
"""
# Columns added after a table first shipped: a store made before them gets them on open.
# Rows made before (tokens, sessions) carry no binding to an entry and are refused when used.
ADDED_COLUMNS = [
    ("roster", "latin_name", "TEXT"),
    ("roster", "search_keys", "TEXT"),
    ("roster", "class_code", "TEXT"),
    ("api_tokens", "entry_uuid", "TEXT"),
    ("api_tokens", "role", "TEXT"),
    ("sessions", "entry_uuid", "TEXT NOT NULL DEFAULT ''"),
    ("sessions", "password_stamp", "TEXT NOT NULL DEFAULT ''"),
]


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def store_path(state_dir: Path) -> Path:
    return Layout(state_dir).web_db


@dataclass(frozen=True)
class OneTime:
    kind: str
    subject: str
    payload: dict[str, Any]
    expires: float


@dataclass(frozen=True)
class Standing:
    """What a session or token was granted against: the entry (its entryUUID, so a removed
    and re-added UID is another person) and its password (slapd's pwdChangedTime)."""

    entry_uuid: str
    password_stamp: str


@dataclass(frozen=True)
class Session:
    uid: str
    csrf: str
    must_change: bool
    expires: float
    standing: Standing


class Store:
    """The store, shared by the threads of one process. Each thread keeps one connection of its
    own, opened on first use and reused (opening one cost more than most of the statements run
    on it); every use is one short ``BEGIN IMMEDIATE`` transaction, so writers from any thread
    or process (the web service's thread pool, the command line) queue on SQLite's lock, wait
    up to ``BUSY_SECONDS`` for it, and commit durably (WAL, ``synchronous`` left at FULL)."""

    BUSY_SECONDS = 10

    def __init__(self, path: Path) -> None:
        self.path = path
        # The web service (unprivileged) owns its store; root's commands use it too, and
        # SQLite gives the journal files root makes the database file's owner.
        ensure_dir(path.parent, 0o700, SERVICE_USER, SERVICE_USER)
        db = sqlite3.connect(path, timeout=self.BUSY_SECONDS)
        try:
            os.chmod(path, 0o600)
            if os.geteuid() == 0:
                shutil.chown(path, SERVICE_USER, SERVICE_USER)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)  # commits on its own
            for table, column, kind in ADDED_COLUMNS:
                present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        finally:
            db.close()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._connections: dict[threading.Thread, sqlite3.Connection] = {}

    @classmethod
    def for_state(cls, state_dir: Path) -> Store:
        return cls(store_path(state_dir))

    def _connection(self) -> sqlite3.Connection:
        """This thread's connection. A thread that ended leaves its connection here: the next
        thread to open one closes it. A forked child opens its own (SQLite's locks belong to
        the process that took them)."""
        me = threading.current_thread()
        with self._lock:
            if self._pid != os.getpid():
                self._pid, self._connections = os.getpid(), {}
            db = self._connections.get(me)
            if db is None:
                for ended in [t for t in self._connections if not t.is_alive()]:
                    self._connections.pop(ended).close()
                db = sqlite3.connect(
                    self.path,
                    timeout=self.BUSY_SECONDS,
                    isolation_level=None,
                    check_same_thread=False,  # only close() touches it from another thread
                )
                self._connections[me] = db
        return db

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """One short transaction on this thread's connection (not to be nested)."""
        db = self._connection()
        if db.in_transaction:
            raise RuntimeError("a store transaction is open on this thread already")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close every thread's connection (at the end of the process's use of the store)."""
        with self._lock:
            connections, self._connections = self._connections, {}
        if self._pid == os.getpid():
            for db in connections.values():
                db.close()

    # -- one-time tokens -------------------------------------------------------------------------

    def issue(self, kind: str, subject: str, payload: dict[str, Any], ttl: float) -> str:
        """A new single-use token for ``kind`` and ``subject``; earlier unused ones of the same
        kind and subject stop working (only the newest mail's link is good)."""
        token = new_secret()
        now = time.time()
        with self.connect() as db:
            db.execute(
                "UPDATE one_time SET used = ? WHERE kind = ? AND subject = ? AND used IS NULL",
                (now, kind, subject),
            )
            db.execute(
                "INSERT INTO one_time VALUES (?, ?, ?, ?, ?, ?, NULL)",
                (digest(token), kind, subject, json.dumps(payload), now, now + ttl),
            )
        return token

    def peek(self, kind: str, token: str) -> OneTime | None:
        """The token's content if it is of ``kind``, unused and unexpired."""
        with self.connect() as db:
            return _live(db, kind, token)

    def consume(self, kind: str, token: str) -> OneTime | None:
        """Mark the token used and return it; None if it was not good (any longer)."""
        with self.connect() as db:
            found = _live(db, kind, token)
            if found is not None:
                db.execute(
                    "UPDATE one_time SET used = ? WHERE digest = ?", (time.time(), digest(token))
                )
        return found

    def spent(self, kind: str, token: str) -> OneTime | None:
        """The content of a token of ``kind`` that was used already (or replaced by a newer
        one): what a link followed a second time was for."""
        with self.connect() as db:
            row = db.execute(
                "SELECT subject, payload, expires FROM one_time "
                "WHERE digest = ? AND kind = ? AND used IS NOT NULL",
                (digest(token), kind),
            ).fetchone()
        return OneTime(kind, row[0], json.loads(row[1]), row[2]) if row else None

    def pending_subjects(self, kind: str, key: str, value: str) -> int:
        """How many live tokens of ``kind`` carry ``payload[key] == value``."""
        with self.connect() as db:
            rows = db.execute(
                "SELECT payload FROM one_time WHERE kind = ? AND used IS NULL AND expires > ?",
                (kind, time.time()),
            ).fetchall()
        return sum(1 for (payload,) in rows if json.loads(payload).get(key) == value)

    # -- sessions --------------------------------------------------------------------------------

    def open_session(
        self, uid: str, standing: Standing, *, must_change: bool, ttl: float
    ) -> tuple[str, Session]:
        session_id = new_secret()
        now = time.time()
        session = Session(uid, new_secret(), must_change, now + ttl, standing)
        with self.connect() as db:
            db.execute("DELETE FROM sessions WHERE expires <= ?", (now,))
            db.execute(
                "INSERT INTO sessions (digest, uid, csrf, must_change, created, expires, "
                "entry_uuid, password_stamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    digest(session_id),
                    uid,
                    session.csrf,
                    int(must_change),
                    now,
                    session.expires,
                    standing.entry_uuid,
                    standing.password_stamp,
                ),
            )
        return session_id, session

    def session(self, session_id: str) -> Session | None:
        with self.connect() as db:
            row = db.execute(
                "SELECT uid, csrf, must_change, expires, entry_uuid, password_stamp "
                "FROM sessions WHERE digest = ? AND expires > ?",
                (digest(session_id), time.time()),
            ).fetchone()
        if row is None:
            return None
        return Session(row[0], row[1], bool(row[2]), row[3], Standing(row[4], row[5]))

    def close_session(self, session_id: str) -> None:
        with self.connect() as db:
            db.execute("DELETE FROM sessions WHERE digest = ?", (digest(session_id),))

    def close_sessions_of(self, uid: str) -> None:
        """Every browser session of ``uid`` ends (a password changed or reset, the account
        suspended or deleted)."""
        with self.connect() as db:
            db.execute("DELETE FROM sessions WHERE uid = ?", (uid,))


def _live(db: sqlite3.Connection, kind: str, token: str) -> OneTime | None:
    """The unused, unexpired token of ``kind``, read inside the caller's transaction."""
    row = db.execute(
        "SELECT subject, payload, expires FROM one_time "
        "WHERE digest = ? AND kind = ? AND used IS NULL AND expires > ?",
        (digest(token), kind, time.time()),
    ).fetchone()
    return OneTime(kind, row[0], json.loads(row[1]), row[2]) if row else None
