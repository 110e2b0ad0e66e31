"""Use cases on holders of a legacy lifelong mailbox: who they are and where each stands,
recording a holder, and a holder moving their own mail from the portal (in the background, one
move at a time, its last report kept).

Each function is handed what it works with (a directory connection, the tree, the audit log,
the service's store); it builds none of them. How a holder is kept in the directory is
:mod:`identity.legacy`; the copy of mail itself is :mod:`provisioning.legacy.migration`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

from identity.accounts import check_address, check_uid
from identity.directory import DirectoryConnection
from identity.dit import Tree
from identity.errors import NotFoundError, ValidationError
from identity.legacy import HOLDER_ATTRIBUTES, HOLDERS_FILTER, LegacyHolder, new_holder
from identity.markers import N_
from identity.roles import Actor
from provisioning.audit import AuditLog
from provisioning.legacy.migration import Job, Migrator
from provisioning.people.lookups import require
from provisioning.store import Store


def holders(directory: DirectoryConnection, tree: Tree) -> list[LegacyHolder]:
    """Every account with a legacy address, by uid."""
    rows = directory.search(tree.people, HOLDERS_FILTER, HOLDER_ATTRIBUTES, scope="one")
    return sorted((LegacyHolder.from_entry(entry) for _, entry in rows), key=lambda h: h.uid)


def holder(directory: DirectoryConnection, tree: Tree, uid: str) -> LegacyHolder | None:
    """``uid``'s legacy mailbox, or None when the account holds none."""
    entry = directory.get(tree.person(check_uid(uid)), HOLDER_ATTRIBUTES)
    if not entry:
        return None
    found = LegacyHolder.from_entry(entry)
    return found if found.legacy_address else None


def record_holder(
    directory: DirectoryConnection,
    tree: Tree,
    audit: AuditLog,
    actor: Actor,
    uid: str,
    address: str,
) -> str:
    """Record that ``uid`` holds the legacy mailbox ``address`` (not migrated yet); returns the
    address as recorded. Admins only; audited."""
    check_uid(uid)
    address = check_address(address, field="address").lower()
    with audit.action(actor, "legacy-set", uid) as done:
        if not actor.can_administer():
            require(actor, False, N_("record a legacy mailbox"))
        if directory.get(tree.person(uid), ["uid"]) is None:
            raise NotFoundError(N_("no account with uid '{uid}'").format(uid=uid))
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


class PortalMoves:
    """Moves of mail that holders start from the portal: each runs in the background (a copy
    takes minutes), at most one per holder at a time, and its report is kept in the store for
    the migration page. One per process: the running set is what keeps a second move out."""

    def __init__(self) -> None:
        self._running: set[str] = set()
        self._lock = threading.Lock()

    def running(self, uid: str) -> bool:
        return uid in self._running

    def start(
        self,
        store: Store,
        open_migrator: Callable[[], AbstractContextManager[Migrator]],
        holder: LegacyHolder | None,
        uid: str,
        login: str,
        password: str,
    ) -> None:
        """Start copying ``uid``'s legacy mailbox (``holder``, None when it holds none) into
        its new one, signing in to the legacy server with ``login`` and ``password``
        (``open_migrator`` makes the copier once the request is known to be good, on
        connections of its own: the copy outlives the request, and closes them when done)."""
        if holder is None:
            raise ValidationError("login", N_("this jAccount holds no legacy mailbox"))
        if not login.strip() or not password:
            raise ValidationError(
                "password", N_("give the login and password of the legacy mailbox")
            )
        with ExitStack() as opened:
            copier = opened.enter_context(open_migrator())
            with self._lock:
                if uid in self._running:
                    raise ValidationError(
                        "login", N_("a migration of this mailbox is running already")
                    )
                self._running.add(uid)
            job = Job(uid, login.strip(), password)
            # From here the copy's thread owns what the copier opened, and closes it.
            thread = threading.Thread(
                target=self._run, args=(store, copier, job, opened.pop_all()), daemon=True
            )
        thread.start()

    def _run(self, store: Store, migrator: Migrator, job: Job, opened: ExitStack) -> None:
        started = time.time()
        try:
            with opened:
                report = migrator.one(job)
            save_report(store, job.uid, started, time.time(), report.as_dict())
        finally:
            with self._lock:
                self._running.discard(job.uid)
