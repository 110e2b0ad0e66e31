"""Bearer tokens for API clients, issued to a staff member and revoked with the CLI.

Issuing and revoking are an admin's changes, audited (ApiTokens); the functions below are the
store's side of them. A token is ``alm_<id>_<secret>``: the id finds the row, the secret is
stored only as its SHA-256 digest. A token is bound to the staff entry it was issued to (its
entryUUID, not the UID string) and to the role that entry had then: when the entry is removed
(and perhaps a new one made with the same UID), demoted, promoted or suspended, the token is
revoked at its next use and never works again. slapd judges each operation as that member
through proxied authorization.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from identity.accounts import check_uid
from identity.errors import AccessDeniedError, NotFoundError, ValidationError
from identity.markers import N_
from identity.roles import Actor
from provisioning.audit import AuditLog
from provisioning.people.lookups import require
from provisioning.store import Store, digest, new_secret

PREFIX = "alm_"
REFUSED = "API token: not valid"


@dataclass(frozen=True)
class Binding:
    """Whom a token acts as: the staff member's UID, entryUUID and role."""

    uid: str
    entry_uuid: str
    role: str


@dataclass(frozen=True)
class TokenInfo:
    id: str
    uid: str
    label: str
    created: float
    last_used: float | None
    revoked: float | None

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Issued:
    token: str  # shown once, never stored
    info: TokenInfo
    role: str


class ApiTokens:
    """``bind`` finds what a token for a UID is bound to
    (provisioning.people.standing.token_binding), refusing anyone who is not a staff member in
    good standing."""

    def __init__(self, store: Store, audit: AuditLog, bind: Callable[[str], Binding]) -> None:
        self.store = store
        self.audit = audit
        self.bind = bind

    def issue(self, actor: Actor, uid: str, label: str) -> Issued:
        with self.audit.action(actor, "token-issue", uid) as outcome:
            require(actor, actor.can_administer(), N_("issue API tokens"))
            binding = self.bind(uid)
            token, info = issue(self.store, binding, label)
            outcome.changes = {"token": info.id, "label": info.label, "role": binding.role}
        return Issued(token, info, binding.role)

    def revoke(self, actor: Actor, token_id: str) -> bool:
        """False when it was revoked already."""
        with self.audit.action(actor, "token-revoke", token_id) as outcome:
            require(actor, actor.can_administer(), N_("revoke API tokens"))
            changed = revoke(self.store, token_id)
            outcome.unchanged = not changed
            if changed:
                outcome.changes = {"revoked": token_id}
        return changed


def issue(store: Store, binding: Binding, label: str) -> tuple[str, TokenInfo]:
    """A new token for the staff member ``binding`` names; the token text is returned once,
    never stored."""
    check_uid(binding.uid)
    if not binding.entry_uuid or not binding.role:
        raise ValidationError("uid", "a token is bound to a staff entry and its role")
    label = label.strip()
    if not label or len(label) > 64 or not label.isprintable():
        raise ValidationError("label", N_("must be 1 to 64 printable characters"))
    token_id = secrets.token_hex(6)
    secret = new_secret()
    now = time.time()
    with store.connect() as db:
        db.execute(
            "INSERT INTO api_tokens (id, uid, digest, label, created, last_used, revoked, "
            "entry_uuid, role) VALUES (?, ?, ?, ?, ?, NULL, NULL, ?, ?)",
            (token_id, binding.uid, digest(secret), label, now, binding.entry_uuid, binding.role),
        )
    info = TokenInfo(token_id, binding.uid, label, now, None, None)
    return f"{PREFIX}{token_id}_{secret}", info


def revoke(store: Store, token_id: str) -> bool:
    """False when it was revoked already."""
    with store.connect() as db:
        row = db.execute("SELECT revoked FROM api_tokens WHERE id = ?", (token_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"no API token with id '{token_id}'")
        if row[0] is not None:
            return False
        db.execute("UPDATE api_tokens SET revoked = ? WHERE id = ?", (time.time(), token_id))
    return True


def revoke_all(store: Store, uid: str) -> int:
    """Revoke every live token of ``uid`` (removed, demoted or suspended); how many."""
    with store.connect() as db:
        done = db.execute(
            "UPDATE api_tokens SET revoked = ? WHERE uid = ? AND revoked IS NULL",
            (time.time(), uid),
        )
        return done.rowcount


def revoke_stale(store: Store, uid: str, now: Binding | None) -> int:
    """Revoke every live token of ``uid`` not bound to ``now`` (the member as the directory has
    them; None when removed or suspended): tokens issued to the new entry of a re-added UID, or
    after a role change, keep working. How many were revoked."""
    with store.connect() as db:
        done = db.execute(
            "UPDATE api_tokens SET revoked = ? WHERE uid = ? AND revoked IS NULL "
            "AND NOT (entry_uuid IS ? AND role IS ?)",
            (
                time.time(),
                uid,
                now.entry_uuid if now else None,
                now.role if now else None,
            ),
        )
        return done.rowcount


def listing(store: Store) -> list[TokenInfo]:
    with store.connect() as db:
        rows = db.execute(
            "SELECT id, uid, label, created, last_used, revoked FROM api_tokens ORDER BY created"
        ).fetchall()
    return [TokenInfo(*row) for row in rows]


def token_id(token: str) -> str:
    """The id part of a presented token (what rate limits per token key on)."""
    return token.strip().removeprefix(PREFIX).split("_", 1)[0]


def holder(store: Store, token: str) -> Binding:
    """The binding a presented token was issued with; AccessDeniedError for anything else (the
    same message whatever was wrong, so probing learns nothing). A token made before tokens
    were bound to entries is refused: issue a new one."""
    refused = AccessDeniedError(REFUSED)
    if not token.startswith(PREFIX) or token.count("_") < 2:
        raise refused
    _, _, secret = token[len(PREFIX) :].partition("_")
    presented = token_id(token)
    with store.connect() as db:
        row = db.execute(
            "SELECT uid, digest, revoked, entry_uuid, role FROM api_tokens WHERE id = ?",
            (presented,),
        ).fetchone()
        if (
            row is None
            or row[2] is not None
            or not row[3]
            or not hmac.compare_digest(row[1], digest(secret))
        ):
            raise refused
        db.execute("UPDATE api_tokens SET last_used = ? WHERE id = ?", (time.time(), presented))
    return Binding(str(row[0]), str(row[3]), str(row[4] or ""))
