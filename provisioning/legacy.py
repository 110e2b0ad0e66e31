"""Use cases on holders of a legacy lifelong mailbox: who they are and where each stands,
recording a holder, a holder's move of mail as the portal shows it (the last report).

Each function is handed what it works with (a directory connection, the tree, the audit log,
the service's store); it builds none of them. How a holder is kept in the directory is
:mod:`identity.legacy`; the copy of mail itself is :mod:`provisioning.migration`.
"""

from __future__ import annotations

import json

from identity.accounts import check_address, check_uid
from identity.directory import Directory
from identity.dit import Tree
from identity.errors import AccessDeniedError, NotFoundError
from identity.legacy import HOLDER_ATTRIBUTES, HOLDERS_FILTER, LegacyHolder, new_holder
from identity.roles import Actor
from provisioning.audit import AuditLog
from provisioning.store import Store


def holders(directory: Directory, tree: Tree) -> list[LegacyHolder]:
    """Every account with a legacy address, by uid."""
    rows = directory.search(tree.people, HOLDERS_FILTER, HOLDER_ATTRIBUTES, scope="one")
    return sorted((LegacyHolder.from_entry(entry) for _, entry in rows), key=lambda h: h.uid)


def holder(directory: Directory, tree: Tree, uid: str) -> LegacyHolder | None:
    """``uid``'s legacy mailbox, or None when the account holds none."""
    entry = directory.get(tree.person(check_uid(uid)), HOLDER_ATTRIBUTES)
    if not entry:
        return None
    found = LegacyHolder.from_entry(entry)
    return found if found.legacy_address else None


def record_holder(
    directory: Directory, tree: Tree, audit: AuditLog, actor: Actor, uid: str, address: str
) -> str:
    """Record that ``uid`` holds the legacy mailbox ``address`` (not migrated yet); returns the
    address as recorded. Admins only; audited."""
    check_uid(uid)
    address = check_address(address, field="address").lower()
    with audit.action(actor, "legacy-set", uid) as done:
        if not actor.can_administer():
            raise AccessDeniedError(f"{actor} may not record a legacy mailbox")
        if directory.get(tree.person(uid), ["uid"]) is None:
            raise NotFoundError(f"no account with uid '{uid}'")
        directory.replace(tree.person(uid), new_holder(address))
        done.changes = {"legacy_address": address}
    return address


def last_report(store: Store, uid: str) -> dict[str, object] | None:
    """The report of ``uid``'s last move of mail started from the portal, if any."""
    with store.connect() as db:
        row = db.execute("SELECT report FROM migrations WHERE uid = ?", (uid,)).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def save_report(
    store: Store, uid: str, started: float, finished: float, report: dict[str, object]
) -> None:
    with store.connect() as db:
        db.execute(
            "INSERT OR REPLACE INTO migrations VALUES (?, ?, ?, ?)",
            (uid, started, finished, json.dumps(report)),
        )
