"""Circle use cases: create, show, list, apply, decide, cancel, leave, remove, hand over,
moderators. The circle and its members live in the directory (identity.circles); applications
in the service store.

Who may do what:
- any alumnus: create an interest circle (they own it), apply, cancel their own pending
  application, leave;
- a circle's owners and moderators: decide its applications, remove members (moderators only
  plain members: an owner stays until ownership is handed over);
- its owners: hand ownership over, add and remove moderators;
- staff (admins, helpdesk) and the host's root: all of it on every circle, and create grade
  and class circles; they see hidden circles too. Staff are not members of circles.

Reads go through the actor's own connection, so slapd's ACLs hide a hidden circle from a
non-member (who is told it does not exist, as for an unknown name). Writes go through the
system connection (root on the CLI, the web service's identity in the portal) after the checks
here: alumni may not write circle entries themselves (identity/access.py). Every change is
audited, refusals included.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace

from identity.accounts import ACCOUNT_ATTRIBUTES, Account, check_uid
from identity.circles import (
    CIRCLE_ATTRIBUTES,
    Circle,
    Kind,
    Policy,
    Visibility,
    check_circle_name,
    check_cohort,
    check_description,
    check_message,
    check_title,
    uids_of,
)
from identity.directory import DirectoryConnection, escape
from identity.dit import Tree
from identity.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from identity.roles import Actor, Role
from mailstack.settings import Settings
from provisioning.audit import AuditLog, Outcome
from provisioning.circles import rankings
from provisioning.circles.rankings import Sort, Standing
from provisioning.collaborators import Connections, MailSender
from provisioning.errors import RateLimitedError
from provisioning.i18n import ENGLISH, N_, _, speaking
from provisioning.people.lookups import AccountLookups, require
from provisioning.store import Store

# A person may apply this many times in this many seconds (all circles together): enough for
# anyone joining their grade, class and a few interests at once, not for a script.
APPLICATIONS_PER_WINDOW = 10
APPLICATION_WINDOW = 3600
REASON_MAX = 500

PENDING = "pending"
APPROVED = "approved"
REJECTED = "rejected"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class Application:
    circle: str
    uid: str
    message: str
    state: str
    reason: str
    created: float
    decided_by: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "circle": self.circle,
            "uid": self.uid,
            "message": self.message,
            "state": self.state,
            "reason": self.reason,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.created)),
            "decided_by": self.decided_by,
        }


@dataclass(frozen=True)
class CircleView:
    circle: Circle
    members: int
    pending: int
    is_member: bool

    def as_dict(self) -> dict[str, object]:
        return {
            **self.circle.as_dict(),
            "members": self.members,
            "pending_applications": self.pending,
            "is_member": self.is_member,
        }


# What a role that may not create circles of a kind is refused.
REFUSED_CREATIONS = {
    Kind.GRADE: N_("create grade circles"),
    Kind.CLASS: N_("create class circles"),
    Kind.INTEREST: N_("create interest circles"),
}


@dataclass(frozen=True)
class RankedView:
    """A circle in a ranking, with the figures it is ranked by (rankings.py)."""

    circle: Circle
    standing: Standing
    is_member: bool

    def as_dict(self) -> dict[str, object]:
        return {**self.circle.as_dict(), **self.standing.as_dict(), "is_member": self.is_member}


RANKING_MAX = 100


class CircleService:
    def __init__(
        self,
        settings: Settings,
        actor: Actor,
        *,
        connections: Connections,
        audit: AuditLog,
        store: Store,
        mailer: MailSender,
    ) -> None:
        self.settings = settings
        self.actor = actor
        self.tree = Tree(settings.base_dn)
        self.connections = connections
        self.lookups = AccountLookups(self.tree, connections)
        self.audit = audit
        self.store = store
        self.mailer = mailer

    # -- roles ---------------------------------------------------------------------------------

    @property
    def directory(self) -> DirectoryConnection:
        """The actor's own connection: slapd's ACLs judge what they see."""
        return self.connections.as_actor(self.actor)

    @property
    def writer(self) -> DirectoryConnection:
        return self.connections.system

    def audited(self, action: str, target: str) -> AbstractContextManager[Outcome]:
        return self.audit.action(self.actor, action, target)

    @property
    def is_staff(self) -> bool:
        return self.actor.can_support()

    @property
    def me(self) -> str | None:
        """The actor's UID if they are an alumnus (only alumni are members)."""
        return self.actor.name if self.actor.role is Role.ALUMNUS else None

    def _may_moderate(self, circle: Circle) -> bool:
        me = self.me
        return self.is_staff or (
            me is not None and (me in circle.owners or me in circle.moderators)
        )

    def _may_own(self, circle: Circle) -> bool:
        return self.is_staff or (self.me is not None and self.me in circle.owners)

    def may_moderate(self, circle: Circle) -> bool:
        """Whether the actor decides applications and removes members of ``circle`` (the
        faces show those actions only then; each action checks again)."""
        return self._may_moderate(circle)

    def may_own(self, circle: Circle) -> bool:
        """Whether the actor chooses moderators and hands ownership of ``circle`` over."""
        return self._may_own(circle)

    def _require_alumnus_actor(self, what: str) -> str:
        if self.me is None:
            raise AccessDeniedError(
                N_("{actor} may not {what}: only alumni are members").format(
                    actor=self.actor, what=what
                )
            )
        return self.me

    def _alumnus(self, uid: str, *, field: str = "uid") -> Account:
        """An alumnus account (never a staff one), read as root: its year, class and language."""
        check_uid(uid, field=field)
        self.lookups.require_alumnus(self.actor, uid)
        entry = self.writer.get(self.tree.person(uid), ACCOUNT_ATTRIBUTES)
        if entry is None:
            raise NotFoundError(f"{field}: no account with uid '{uid}'")
        return Account.from_entry(entry, default_quota=self.settings.default_quota)

    # -- reading -------------------------------------------------------------------------------

    def get(self, name: str) -> Circle:
        """The circle, as the actor may see it: a hidden circle of which they are not a member
        is not found, like an unknown name."""
        check_circle_name(name)
        entry = self.directory.get(self.tree.circle(name), CIRCLE_ATTRIBUTES)
        if entry is None:
            raise NotFoundError(N_("no circle named '{name}'").format(name=name))
        return Circle.from_entry(self.tree, entry)

    def show(self, name: str) -> CircleView:
        circle = self.get(name)
        with self.store.connect() as db:
            (pending,) = db.execute(
                "SELECT COUNT(*) FROM circle_applications WHERE circle = ? AND state = ?",
                (name, PENDING),
            ).fetchone()
        return CircleView(circle, len(circle.members), pending, self.me in circle.members)

    def find(self, *, mine: bool = False, kind: Kind | None = None) -> list[CircleView]:
        """Listed circles and those the actor is in (staff: all); ``mine``: only those the
        actor is in. Read as root and filtered here, so a listing is not cut at slapd's size
        limit for ordinary identities; each entry shown is one the ACLs let the actor read."""
        terms = ["(objectClass=alumailCircle)"]
        if kind is not None:
            terms.append(f"(alumailCircleKind={escape(kind.value)})")
        me = self.me
        if mine:
            if me is None:
                return []
            terms.append(f"(member={escape(self.tree.person(me))})")
        rows = self.writer.search(
            self.tree.circles, f"(&{''.join(terms)})", CIRCLE_ATTRIBUTES, scope="one"
        )
        circles = [Circle.from_entry(self.tree, entry) for _, entry in rows]
        visible = [c for c in circles if self._sees(c)]
        pending = self._pending_counts()
        return [
            CircleView(c, len(c.members), pending.get(c.name, 0), me in c.members)
            for c in sorted(visible, key=lambda c: c.name)
        ]

    def _sees(self, circle: Circle) -> bool:
        """What slapd's ACLs let the actor read (identity/access.py), decided the same here."""
        if self.is_staff:
            return True
        me = self.me
        if circle.proposed:
            return me is not None and me in circle.owners
        return not circle.hidden or (me is not None and me in circle.members)

    def _pending_counts(self) -> dict[str, int]:
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT circle, COUNT(*) FROM circle_applications WHERE state = ? GROUP BY circle",
                (PENDING,),
            ).fetchall()
        return {name: count for name, count in rows}

    def ranked(
        self, by: Sort, *, limit: int = 20, kind: Kind | None = None, mine: bool = False
    ) -> list[RankedView]:
        """The first ``limit`` circles by ``by`` (rankings.py), read from the counters' index:
        listed circles and the hidden ones the actor is in (staff: all); ``mine``: only the
        actor's. Then one directory search for those circles' entries."""
        if not 1 <= limit <= RANKING_MAX:
            raise ValidationError("limit", f"must be between 1 and {RANKING_MAX}")
        me = self.me
        own: list[str] = []
        if me is not None:
            rows = self.writer.search(
                self.tree.circles,
                f"(&(objectClass=alumailCircle)(member={escape(self.tree.person(me))}))",
                ["cn"],
                scope="one",
            )
            own = [entry["cn"][0] for _, entry in rows if entry.get("cn")]
        if mine and me is None:
            return []
        with self.store.connect() as db:
            standings = rankings.top(
                db,
                by,
                time.time(),
                limit=limit,
                also=None if self.is_staff else own,
                kind=kind.value if kind else None,
                only=own if mine else None,
            )
        if not standings:
            return []
        wanted = "".join(f"(cn={escape(s.circle)})" for s in standings)
        found = {
            circle.name: circle
            for circle in (
                Circle.from_entry(self.tree, entry)
                for _, entry in self.writer.search(
                    self.tree.circles,
                    f"(&(objectClass=alumailCircle)(|{wanted}))",
                    CIRCLE_ATTRIBUTES,
                    scope="one",
                )
            )
        }
        return [
            RankedView(found[s.circle], s, me in found[s.circle].members)
            for s in standings
            if s.circle in found and self._sees(found[s.circle])
        ]

    def _recount(
        self,
        db: sqlite3.Connection,
        circle: Circle,
        *,
        joined: str | None = None,
        left: str | None = None,
    ) -> None:
        """The rankings' counters after a join or leave, in the caller's store transaction:
        the member count as the directory now has it, the joiner active, the leaver not."""
        rankings.ensure(db, circle)
        entry = self.writer.get(self.tree.circle(circle.name), ["member"]) or {}
        rankings.set_members(db, circle.name, len(uids_of(self.tree, entry.get("member", []))))
        if joined is not None:
            rankings.touched(db, circle.name, joined, time.time())
        if left is not None:
            rankings.left(db, circle.name, left)

    def applications(self, name: str) -> list[Application]:
        """Pending applications to the circle (its owners, moderators and staff)."""
        circle = self.get(name)
        require(
            self.actor,
            self._may_moderate(circle),
            N_("see the applications to '{name}'").format(name=name),
        )
        return self._applications(name, PENDING)

    def _applications(self, name: str, state: str) -> list[Application]:
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT circle, uid, message, state, reason, created, decided_by "
                "FROM circle_applications WHERE circle = ? AND state = ? ORDER BY created, id",
                (name, state),
            ).fetchall()
        return [Application(*row) for row in rows]

    def my_applications(self) -> list[Application]:
        me = self._require_alumnus_actor(N_("have applications"))
        with self.store.connect() as db:
            rows = db.execute(
                "SELECT circle, uid, message, state, reason, created, decided_by "
                "FROM circle_applications WHERE uid = ? ORDER BY created DESC, id DESC",
                (me,),
            ).fetchall()
        return [Application(*row) for row in rows]

    # -- creating ------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        title: str,
        kind: Kind,
        *,
        policy: Policy = Policy.APPROVAL,
        visibility: Visibility = Visibility.LISTED,
        description: str = "",
        year: int | str | None = None,
        class_code: str | None = None,
        owner: str | None = None,
    ) -> Circle:
        with self.audited("circle-create", name) as outcome:
            check_circle_name(name)
            checked_title = check_title(title)
            checked_description = check_description(description)
            checked_year, code = check_cohort(name, kind, year, class_code)
            if kind is not Kind.INTEREST:
                require(self.actor, self.is_staff, REFUSED_CREATIONS[kind])
            if owner is None and self.me is not None:
                owner = self.me
            if owner is not None:
                if self.me is not None and owner != self.me:
                    require(self.actor, False, N_("make someone else the owner of a new circle"))
                self._alumnus(owner, field="owner")
            # An alumnus's new interest circle waits for staff when the settings say so.
            proposed = self.me is not None and self.settings.circles.interest_approval
            circle = Circle(
                name=name,
                title=checked_title,
                kind=kind,
                policy=policy,
                visibility=visibility,
                description=checked_description,
                year=checked_year,
                class_code=code,
                owners=(owner,) if owner else (),
                proposed=proposed,
            )
            if self.writer.get(self.tree.circle(name), ["cn"]) is not None:
                raise ConflictError(f"name: a circle named '{name}' already exists")
            self.writer.add(self.tree.circle(name), circle.to_entry(self.tree))
            with self.store.connect() as db:
                rankings.ensure(db, circle)
                if owner is not None:  # the owner joins by creating it
                    rankings.touched(db, name, owner, time.time())
            outcome.changes = {
                k: v for k, v in circle.as_dict().items() if v not in (None, "", [], ())
            }
        return circle

    def activate(self, name: str) -> None:
        """Staff let a proposed interest circle go live (settings: circles.interest_approval)."""
        with self.audited("circle-activate", name) as outcome:
            require(self.actor, self.is_staff, N_("activate circles"))
            circle = self.get(name)
            if not circle.proposed:
                outcome.unchanged = True
                return
            self.writer.modify(self.tree.circle(name), [("delete", "alumailCircleState", None)])
            with self.store.connect() as db:
                rankings.ensure(db, replace(circle, proposed=False))
            outcome.changes = {"state": "active"}

    # -- joining -------------------------------------------------------------------------------

    def apply(self, name: str, message: str = "") -> Application:
        """Apply to join. Approved at once when the circle is open, or when it is a grade or
        class circle the applicant's record proves (same graduation year, same class code);
        otherwise pending until an owner or moderator decides. Invitation-only circles take
        no applications."""
        with self.audited("circle-apply", name) as outcome:
            me = self._require_alumnus_actor(N_("apply to join circles"))
            text = check_message(message)
            circle = self.get(name)
            if me in circle.members:
                raise ConflictError(
                    N_("{uid} is a member of '{name}' already").format(uid=me, name=name)
                )
            if circle.proposed:
                raise ConflictError(N_("'{name}' waits for staff to activate it").format(name=name))
            if circle.policy is Policy.INVITE:
                raise AccessDeniedError(
                    N_("'{name}' takes members by invitation only").format(name=name)
                )
            account = self._alumnus(me)
            proven = _record_proves(circle, account)
            now = time.time()
            with self.store.connect() as db:
                if self._pending(db, name, me):
                    raise ConflictError(
                        N_("{uid} has applied to '{name}' already; the application waits").format(
                            uid=me, name=name
                        )
                    )
                recent, oldest = db.execute(
                    "SELECT COUNT(*), MIN(created) FROM circle_applications "
                    "WHERE uid = ? AND created > ?",
                    (me, now - APPLICATION_WINDOW),
                ).fetchone()
                if recent >= APPLICATIONS_PER_WINDOW:
                    wait = int(oldest + APPLICATION_WINDOW - now) + 1
                    raise RateLimitedError(
                        f"{me} has applied {recent} times in the last hour; "
                        f"try again later (in {wait} seconds)",
                        retry_after=wait,
                    )
                immediate = circle.policy is Policy.OPEN or proven
                db.execute(
                    "INSERT INTO circle_applications (circle, uid, message, state, created, "
                    "decided, decided_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        name,
                        me,
                        text,
                        APPROVED if immediate else PENDING,
                        now,
                        now if immediate else None,
                        "policy" if circle.policy is Policy.OPEN else "record" if proven else None,
                    ),
                )
                if immediate:
                    # Inside the store's transaction: a directory refusal rolls the row back.
                    self._add_member(name, me)
                    self._recount(db, circle, joined=me)
            state = APPROVED if immediate else PENDING
            outcome.changes = {"state": state, **({"by": "record"} if proven else {})}
        return Application(name, me, text, state, "", now, None)

    def _pending(self, db: sqlite3.Connection, name: str, uid: str) -> bool:
        row = db.execute(
            "SELECT 1 FROM circle_applications WHERE circle = ? AND uid = ? AND state = ?",
            (name, uid, PENDING),
        ).fetchone()
        return row is not None

    def _add_member(self, name: str, uid: str) -> None:
        self.writer.modify(self.tree.circle(name), [("add", "member", [self.tree.person(uid)])])

    def approve(self, name: str, uid: str) -> None:
        self._decide(name, uid, approve=True, reason="")

    def reject(self, name: str, uid: str, reason: str = "") -> None:
        self._decide(name, uid, approve=False, reason=reason)

    def _decide(self, name: str, uid: str, *, approve: bool, reason: str) -> None:
        action = "circle-approve" if approve else "circle-reject"
        with self.audited(action, f"{name} {uid}") as outcome:
            check_uid(uid)
            text = check_message(reason, field="reason")
            circle = self.get(name)
            require(
                self.actor,
                self._may_moderate(circle),
                N_("decide applications to '{name}' (owners, moderators and staff only)").format(
                    name=name
                ),
            )
            with self.store.connect() as db:
                if not self._pending(db, name, uid):
                    raise NotFoundError(
                        N_("no pending application of '{uid}' to '{name}'").format(
                            uid=uid, name=name
                        )
                    )
                db.execute(
                    "UPDATE circle_applications SET state = ?, reason = ?, decided = ?, "
                    "decided_by = ? WHERE circle = ? AND uid = ? AND state = ?",
                    (
                        APPROVED if approve else REJECTED,
                        text,
                        time.time(),
                        self.actor.name,
                        name,
                        uid,
                        PENDING,
                    ),
                )
                if approve and uid not in circle.members:
                    self._add_member(name, uid)
                    self._recount(db, circle, joined=uid)
            outcome.changes = {"state": APPROVED if approve else REJECTED}
            if text:
                outcome.changes["reason"] = text
        self._tell(circle, uid, approved=approve, reason=text)

    def _tell(self, circle: Circle, uid: str, *, approved: bool, reason: str) -> None:
        """Mail the applicant the decision, in their language (English when none is set)."""
        entry = self.writer.get(self.tree.person(uid), ["mail", "preferredLanguage"]) or {}
        if not entry.get("mail"):
            return
        address = entry["mail"][0]
        language = (entry.get("preferredLanguage") or [ENGLISH])[0]
        with speaking(language):
            if approved:
                subject = _("You have joined the circle {title}").format(title=circle.title)
                body = _(
                    "Your application to join the circle {title} ({name}) was approved.\n\n"
                    "See your circles at {url}\n"
                ).format(title=circle.title, name=circle.name, url=self.settings.public_url)
            else:
                subject = _("Your application to {title} was declined").format(title=circle.title)
                body = _(
                    "Your application to join the circle {title} ({name}) was declined."
                ).format(title=circle.title, name=circle.name)
                if reason:
                    body += "\n\n" + _("The reason given: {reason}").format(reason=reason)
                body += "\n"
        self.mailer.send(address, subject, body)

    def cancel(self, name: str) -> None:
        """The actor withdraws their pending application."""
        with self.audited("circle-cancel", name) as outcome:
            me = self._require_alumnus_actor(N_("cancel applications"))
            check_circle_name(name)
            with self.store.connect() as db:
                if not self._pending(db, name, me):
                    raise NotFoundError(
                        N_("no pending application of '{uid}' to '{name}'").format(
                            uid=me, name=name
                        )
                    )
                db.execute(
                    "UPDATE circle_applications SET state = ?, decided = ?, decided_by = ? "
                    "WHERE circle = ? AND uid = ? AND state = ?",
                    (CANCELLED, time.time(), me, name, me, PENDING),
                )
            outcome.changes = {"state": CANCELLED}

    # -- members, owners, moderators -----------------------------------------------------------

    def add(self, name: str, uid: str) -> None:
        """An owner, moderator or staff member adds an alumnus (how an invite-only circle
        grows); a pending application of theirs is approved by it."""
        with self.audited("circle-add", f"{name} {uid}") as outcome:
            circle = self.get(name)
            require(
                self.actor,
                self._may_moderate(circle),
                N_("add members to '{name}' (owners, moderators and staff only)").format(name=name),
            )
            self._alumnus(uid)
            if uid in circle.members:
                raise ConflictError(
                    N_("'{uid}' is a member of '{name}' already").format(uid=uid, name=name)
                )
            with self.store.connect() as db:
                db.execute(
                    "UPDATE circle_applications SET state = ?, decided = ?, decided_by = ? "
                    "WHERE circle = ? AND uid = ? AND state = ?",
                    (APPROVED, time.time(), self.actor.name, name, uid, PENDING),
                )
                self._add_member(name, uid)
                self._recount(db, circle, joined=uid)
            outcome.changes = {"added": uid}

    def leave(self, name: str) -> None:
        with self.audited("circle-leave", name) as outcome:
            me = self._require_alumnus_actor(N_("leave circles"))
            circle = self.get(name)
            if me not in circle.members:
                raise NotFoundError(
                    N_("{uid} is not a member of '{name}'").format(uid=me, name=name)
                )
            if circle.owners == (me,):
                raise ConflictError(
                    N_("{uid} is the only owner of '{name}': hand ownership over first").format(
                        uid=me, name=name
                    )
                )
            self._drop(circle, me)
            outcome.changes = {"left": me}

    def remove(self, name: str, uid: str) -> None:
        with self.audited("circle-remove", f"{name} {uid}") as outcome:
            check_uid(uid)
            circle = self.get(name)
            require(
                self.actor,
                self._may_moderate(circle),
                N_("remove members of '{name}' (owners, moderators and staff only)").format(
                    name=name
                ),
            )
            if uid not in circle.members:
                raise NotFoundError(
                    N_("'{uid}' is not a member of '{name}'").format(uid=uid, name=name)
                )
            if uid in circle.owners:
                raise ConflictError(
                    N_("'{uid}' owns '{name}': hand ownership over first").format(
                        uid=uid, name=name
                    )
                )
            if uid in circle.moderators and not self._may_own(circle):
                require(self.actor, False, N_("remove moderator '{uid}'").format(uid=uid))
            self._drop(circle, uid)
            outcome.changes = {"removed": uid}

    def _drop(self, circle: Circle, uid: str) -> None:
        """One modify: the member and any role they held go together or not at all."""
        dn = self.tree.person(uid)
        changes: list[tuple[str, str, list[str] | None]] = [("delete", "member", [dn])]
        if uid in circle.moderators:
            changes.append(("delete", "alumailCircleModerator", [dn]))
        if uid in circle.owners:
            changes.append(("delete", "owner", [dn]))
        with self.store.connect() as db:
            self.writer.modify(self.tree.circle(circle.name), changes)
            self._recount(db, circle, left=uid)

    def hand_over(self, name: str, uid: str) -> None:
        """Make ``uid`` the circle's owner in place of its current owners (who stay members);
        ``uid`` joins the circle if they were not in it."""
        with self.audited("circle-hand-over", f"{name} {uid}") as outcome:
            circle = self.get(name)
            require(
                self.actor,
                self._may_own(circle),
                N_("hand over ownership of '{name}'").format(name=name),
            )
            self._alumnus(uid)
            dn = self.tree.person(uid)
            changes: list[tuple[str, str, list[str] | None]] = [("replace", "owner", [dn])]
            if uid not in circle.members:
                changes.append(("add", "member", [dn]))
            if uid in circle.moderators:
                changes.append(("delete", "alumailCircleModerator", [dn]))
            with self.store.connect() as db:
                self.writer.modify(self.tree.circle(name), changes)
                if uid not in circle.members:
                    self._recount(db, circle, joined=uid)
            outcome.changes = {"owners": [list(circle.owners), [uid]]}

    def add_moderator(self, name: str, uid: str) -> None:
        with self.audited("circle-moderator-add", f"{name} {uid}") as outcome:
            circle = self.get(name)
            require(
                self.actor,
                self._may_own(circle),
                N_("choose the moderators of '{name}'").format(name=name),
            )
            check_uid(uid)
            if uid not in circle.members:
                raise ValidationError("uid", f"'{uid}' must be a member of '{name}' first")
            if uid in circle.moderators or uid in circle.owners:
                outcome.unchanged = True
                return
            self.writer.modify(
                self.tree.circle(name),
                [("add", "alumailCircleModerator", [self.tree.person(uid)])],
            )
            outcome.changes = {"moderator": uid}

    def remove_moderator(self, name: str, uid: str) -> None:
        with self.audited("circle-moderator-remove", f"{name} {uid}") as outcome:
            circle = self.get(name)
            require(
                self.actor,
                self._may_own(circle),
                N_("choose the moderators of '{name}'").format(name=name),
            )
            check_uid(uid)
            if uid not in circle.moderators:
                raise NotFoundError(
                    N_("'{uid}' is not a moderator of '{name}'").format(uid=uid, name=name)
                )
            self.writer.modify(
                self.tree.circle(name),
                [("delete", "alumailCircleModerator", [self.tree.person(uid)])],
            )
            outcome.changes = {"moderator removed": uid}


def _record_proves(circle: Circle, account: Account) -> bool:
    """The applicant's own record shows they belong: a grade circle of their graduation year,
    a class circle of their class code (and year, when the circle names one)."""
    if circle.kind is Kind.GRADE:
        return circle.year is not None and account.graduation_year == circle.year
    if circle.kind is Kind.CLASS:
        same_class = circle.class_code is not None and account.class_code == circle.class_code
        same_year = circle.year is None or account.graduation_year == circle.year
        return same_class and same_year
    return False
