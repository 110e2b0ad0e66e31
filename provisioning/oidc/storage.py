"""The provider's tables in the web service's store (provisioning/store.py): registered
clients, authorization codes, tokens and remembered consents. Client secrets, codes and tokens
are kept as SHA-256 digests (256-bit random values, as the store keeps its own secrets): a
copy of the database gives no way in."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from identity.errors import ConflictError
from provisioning.store import Store, digest

SCHEMA = """
CREATE TABLE IF NOT EXISTS oidc_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_digest TEXT,
    redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    public INTEGER NOT NULL,
    trusted INTEGER NOT NULL,
    post_logout_uris TEXT NOT NULL,
    id_token_alg TEXT NOT NULL,
    created REAL NOT NULL,
    backchannel_logout_uri TEXT
);
-- One client per name, held by the database: two admins adding the same name at once cannot
-- both pass a check made before the insert.
CREATE UNIQUE INDEX IF NOT EXISTS oidc_clients_name ON oidc_clients (name);
CREATE TABLE IF NOT EXISTS oidc_codes (
    digest TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    entry_uuid TEXT NOT NULL,
    password_stamp TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    challenge TEXT,
    challenge_method TEXT,
    auth_time INTEGER NOT NULL,
    expires REAL NOT NULL,
    used REAL
);
CREATE TABLE IF NOT EXISTS oidc_tokens (
    access_digest TEXT PRIMARY KEY,
    refresh_digest TEXT UNIQUE,
    grant_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    entry_uuid TEXT NOT NULL,
    password_stamp TEXT NOT NULL,
    scope TEXT NOT NULL,
    created REAL NOT NULL,
    access_expires REAL NOT NULL,
    refresh_expires REAL,
    revoked REAL,
    rotated REAL
);
CREATE INDEX IF NOT EXISTS oidc_tokens_grant ON oidc_tokens (grant_id);
CREATE TABLE IF NOT EXISTS oidc_consents (
    entry_uuid TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (entry_uuid, client_id, scope)
);
"""


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    secret_digest: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    public: bool
    trusted: bool
    post_logout_uris: tuple[str, ...]
    id_token_alg: str
    created: float
    backchannel_logout_uri: str | None = None  # told when a person's session here ends

    def as_dict(self) -> dict[str, Any]:
        """What an admin sees (never the secret's digest)."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "type": "public" if self.public else "confidential",
            "trusted": self.trusted,
            "redirect_uris": list(self.redirect_uris),
            "scopes": list(self.scopes),
            "post_logout_uris": list(self.post_logout_uris),
            "id_token_alg": self.id_token_alg,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "created": self.created,
        }


@dataclass(frozen=True)
class Code:
    """An authorization code as stored: what it was granted for and to whom."""

    digest: str
    client_id: str
    uid: str
    entry_uuid: str
    password_stamp: str
    redirect_uri: str
    scope: str
    nonce: str | None
    challenge: str | None
    challenge_method: str | None
    auth_time: int
    expires: float
    used: float | None


@dataclass(frozen=True)
class Token:
    """A token pair as stored (digests only)."""

    access_digest: str
    refresh_digest: str | None
    grant_id: str
    client_id: str
    uid: str
    entry_uuid: str
    password_stamp: str
    scope: str
    created: float
    access_expires: float
    refresh_expires: float | None
    revoked: float | None
    rotated: float | None

    def access_live(self, now: float) -> bool:
        return self.revoked is None and self.access_expires > now

    def refresh_live(self, now: float) -> bool:
        return (
            self.revoked is None
            and self.rotated is None
            and self.refresh_expires is not None
            and self.refresh_expires > now
        )


def _client(row: tuple[Any, ...]) -> Client:
    return Client(
        row[0],
        row[1],
        row[2],
        tuple(json.loads(row[3])),
        tuple(json.loads(row[4])),
        bool(row[5]),
        bool(row[6]),
        tuple(json.loads(row[7])),
        row[8],
        row[9],
        row[10],
    )


class OidcStore:
    """The provider's tables, created in the service store on first use."""

    def __init__(self, store: Store) -> None:
        self.store = store
        db = sqlite3.connect(store.path, timeout=10)
        try:
            db.executescript(SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(oidc_clients)")}
            if "backchannel_logout_uri" not in columns:  # a store made before back-channel logout
                db.execute("ALTER TABLE oidc_clients ADD COLUMN backchannel_logout_uri TEXT")
                db.commit()
        finally:
            db.close()

    # -- clients ---------------------------------------------------------------------------------

    def add_client(self, client: Client) -> None:
        """ConflictError when a client of that name exists (however close the other add)."""
        with self.store.connect() as db:
            try:
                db.execute(
                    "INSERT INTO oidc_clients VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        client.client_id,
                        client.name,
                        client.secret_digest,
                        json.dumps(list(client.redirect_uris)),
                        json.dumps(list(client.scopes)),
                        int(client.public),
                        int(client.trusted),
                        json.dumps(list(client.post_logout_uris)),
                        client.id_token_alg,
                        client.created,
                        client.backchannel_logout_uri,
                    ),
                )
            except sqlite3.IntegrityError as exc:
                taken = f"a client named '{client.name}' is registered already"
                raise ConflictError(taken) from exc

    def client(self, client_id: str) -> Client | None:
        with self.store.connect() as db:
            row = db.execute(
                "SELECT * FROM oidc_clients WHERE client_id = ?", (client_id,)
            ).fetchone()
        return _client(row) if row else None

    def clients(self) -> list[Client]:
        with self.store.connect() as db:
            rows = db.execute("SELECT * FROM oidc_clients ORDER BY created, client_id").fetchall()
        return [_client(row) for row in rows]

    def remove_client(self, client_id: str) -> bool:
        """The client goes, with its codes, its tokens and the consents given to it."""
        with self.store.connect() as db:
            gone = db.execute("DELETE FROM oidc_clients WHERE client_id = ?", (client_id,))
            db.execute("DELETE FROM oidc_codes WHERE client_id = ?", (client_id,))
            db.execute("DELETE FROM oidc_tokens WHERE client_id = ?", (client_id,))
            db.execute("DELETE FROM oidc_consents WHERE client_id = ?", (client_id,))
        return gone.rowcount > 0

    def set_secret(self, client_id: str, secret_digest: str) -> bool:
        with self.store.connect() as db:
            changed = db.execute(
                "UPDATE oidc_clients SET secret_digest = ? WHERE client_id = ?",
                (secret_digest, client_id),
            )
        return changed.rowcount > 0

    # -- codes -----------------------------------------------------------------------------------

    def save_code(self, code: str, found: Code) -> None:
        with self.store.connect() as db:
            db.execute("DELETE FROM oidc_codes WHERE expires <= ?", (time.time() - 3600,))
            db.execute(
                "INSERT INTO oidc_codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
                (
                    digest(code),
                    found.client_id,
                    found.uid,
                    found.entry_uuid,
                    found.password_stamp,
                    found.redirect_uri,
                    found.scope,
                    found.nonce,
                    found.challenge,
                    found.challenge_method,
                    found.auth_time,
                    found.expires,
                ),
            )

    def redeem_code(self, code: str, client_id: str) -> tuple[Code | None, bool]:
        """The unexpired code issued to ``client_id``, marked used; and whether it was a replay.
        A code used before is refused, and every token issued from it is revoked (RFC 6749
        section 4.1.2)."""
        now = time.time()
        key = digest(code)
        with self.store.connect() as db:
            row = db.execute(
                "SELECT * FROM oidc_codes WHERE digest = ? AND client_id = ?", (key, client_id)
            ).fetchone()
            if row is None:
                return None, False
            found = Code(*row)
            if found.used is not None:
                db.execute(
                    "UPDATE oidc_tokens SET revoked = ? WHERE grant_id = ? AND revoked IS NULL",
                    (now, key),
                )
                return None, True
            db.execute("UPDATE oidc_codes SET used = ? WHERE digest = ?", (now, key))
        return (found if found.expires > now else None), False

    def nonce_used(self, client_id: str, nonce: str) -> bool:
        """Whether ``client_id`` sent ``nonce`` in an earlier authorization (a replay)."""
        with self.store.connect() as db:
            row = db.execute(
                "SELECT 1 FROM oidc_codes WHERE client_id = ? AND nonce = ?", (client_id, nonce)
            ).fetchone()
        return row is not None

    # -- tokens ----------------------------------------------------------------------------------

    def save_token(self, access: str, refresh: str | None, found: Token) -> None:
        with self.store.connect() as db:
            db.execute(
                "INSERT INTO oidc_tokens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                (
                    digest(access),
                    digest(refresh) if refresh else None,
                    found.grant_id,
                    found.client_id,
                    found.uid,
                    found.entry_uuid,
                    found.password_stamp,
                    found.scope,
                    found.created,
                    found.access_expires,
                    found.refresh_expires,
                ),
            )

    def by_access(self, access: str) -> Token | None:
        with self.store.connect() as db:
            row = db.execute(
                "SELECT * FROM oidc_tokens WHERE access_digest = ?", (digest(access),)
            ).fetchone()
        return Token(*row) if row else None

    def by_refresh(self, refresh: str) -> Token | None:
        with self.store.connect() as db:
            row = db.execute(
                "SELECT * FROM oidc_tokens WHERE refresh_digest = ?", (digest(refresh),)
            ).fetchone()
        return Token(*row) if row else None

    def rotate(self, token: Token) -> bool:
        """Mark ``token``'s refresh token used up by a rotation; False if it already was (a
        replay: the caller revokes the grant)."""
        with self.store.connect() as db:
            changed = db.execute(
                "UPDATE oidc_tokens SET rotated = ? WHERE access_digest = ? AND rotated IS NULL "
                "AND revoked IS NULL",
                (time.time(), token.access_digest),
            )
        return changed.rowcount > 0

    def revoke(self, token: Token) -> None:
        with self.store.connect() as db:
            db.execute(
                "UPDATE oidc_tokens SET revoked = ? WHERE access_digest = ? AND revoked IS NULL",
                (time.time(), token.access_digest),
            )

    def revoke_grant(self, grant_id: str) -> None:
        """Every token of one grant (one code's descendants) stops."""
        with self.store.connect() as db:
            db.execute(
                "UPDATE oidc_tokens SET revoked = ? WHERE grant_id = ? AND revoked IS NULL",
                (time.time(), grant_id),
            )

    def revoke_person(self, entry_uuid: str) -> None:
        """Every token of one person, for every client, stops (a logout)."""
        with self.store.connect() as db:
            db.execute(
                "UPDATE oidc_tokens SET revoked = ? WHERE entry_uuid = ? AND revoked IS NULL",
                (time.time(), entry_uuid),
            )

    def logged_in_clients(self, entry_uuid: str) -> list[Client]:
        """The clients that hold a token still good for the person (access or refresh), or
        their consent: those a back-channel logout concerns (read before the tokens are
        revoked)."""
        now = time.time()
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT * FROM oidc_clients WHERE client_id IN ("
                " SELECT client_id FROM oidc_tokens WHERE entry_uuid = ? AND revoked IS NULL"
                " AND (access_expires > ? OR (rotated IS NULL AND refresh_expires > ?))"
                " UNION SELECT client_id FROM oidc_consents WHERE entry_uuid = ?"
                ") ORDER BY client_id",
                (entry_uuid, now, now, entry_uuid),
            ).fetchall()
        return [_client(row) for row in rows]

    def subjects_of(self, uid: str) -> list[str]:
        """The entries (entryUUIDs) that hold tokens still good under the name ``uid`` (after a
        deletion the directory no longer knows whose they were)."""
        now = time.time()
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT DISTINCT entry_uuid FROM oidc_tokens WHERE uid = ? AND revoked IS NULL"
                " AND (access_expires > ? OR (rotated IS NULL AND refresh_expires > ?))",
                (uid, now, now),
            ).fetchall()
        return [row[0] for row in rows]

    # -- consents --------------------------------------------------------------------------------

    def consented(self, entry_uuid: str, client_id: str, scopes: list[str]) -> bool:
        """Whether the person agreed to give ``client_id`` exactly this scope set before."""
        with self.store.connect() as db:
            row = db.execute(
                "SELECT 1 FROM oidc_consents WHERE entry_uuid = ? AND client_id = ? AND scope = ?",
                (entry_uuid, client_id, " ".join(sorted(scopes))),
            ).fetchone()
        return row is not None

    def apps_of(self, entry_uuid: str) -> list[tuple[Client, list[str], float]]:
        """The clients the person consented to, with the scopes and when (newest first)."""
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT c.*, o.scope, o.created FROM oidc_consents o "
                "JOIN oidc_clients c ON c.client_id = o.client_id "
                "WHERE o.entry_uuid = ? ORDER BY o.created DESC",
                (entry_uuid,),
            ).fetchall()
        return [(_client(row[:11]), row[11].split(), row[12]) for row in rows]

    def forget_app(self, entry_uuid: str, client_id: str) -> bool:
        """The person withdraws their consent to ``client_id``: it goes, and every token the
        client holds for them stops. False if there was no consent."""
        now = time.time()
        with self.store.connect() as db:
            gone = db.execute(
                "DELETE FROM oidc_consents WHERE entry_uuid = ? AND client_id = ?",
                (entry_uuid, client_id),
            )
            db.execute(
                "UPDATE oidc_tokens SET revoked = ? "
                "WHERE entry_uuid = ? AND client_id = ? AND revoked IS NULL",
                (now, entry_uuid, client_id),
            )
        return gone.rowcount > 0

    def consent(self, entry_uuid: str, client_id: str, scopes: list[str]) -> None:
        with self.store.connect() as db:
            db.execute(
                "INSERT OR IGNORE INTO oidc_consents VALUES (?, ?, ?, ?)",
                (entry_uuid, client_id, " ".join(sorted(scopes)), time.time()),
            )
