"""An entry's standing as a web session or an API token sees it on every request: which entry
it is (entryUUID), when its password last changed, whether a change is forced, whether it is
suspended, and a staff member's role. Read on the ``system`` connection (the host's root), so no
actor's ACLs hide it.

Sessions and tokens are bound to what they were granted against; this is what they are
compared with, so a change made by any face (the web service, the CLI, a plain LDAP write)
counts at the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.accounts import check_uid
from identity.directory import DirectoryConnection
from identity.dit import Tree
from identity.errors import AccessDeniedError, NotFoundError, ValidationError
from identity.markers import N_
from identity.roles import STAFF_ROLES, identify
from provisioning.people.api_tokens import Binding
from provisioning.store import Session, Standing

STATE_ATTRIBUTES = [
    "entryUUID",
    "pwdChangedTime",
    "pwdReset",
    "pwdAccountLockedTime",
    "alumailAccountStatus",
]
# ppolicy's value for an account locked by an administrator (not by failed logins, which a
# stranger can cause and which must not end the owner's sessions).
ADMINISTRATIVE_LOCK = "000001010000Z"


@dataclass(frozen=True)
class AccountState:
    """An entry as a session sees it now."""

    standing: Standing
    must_change: bool
    active: bool

    def admits(self, session: Session) -> bool:
        """Whether ``session`` may go on: same entry, same password, still active, and no
        forced change it was not opened for."""
        return (
            self.active
            and self.standing == session.standing
            and (session.must_change or not self.must_change)
        )


def _entry(system: DirectoryConnection, dn: str) -> dict[str, list[str]] | None:
    return system.get(dn, STATE_ATTRIBUTES)


def _first(entry: dict[str, list[str]], name: str, default: str = "") -> str:
    return (entry.get(name) or [default])[0]


def _active(entry: dict[str, list[str]]) -> bool:
    return (
        _first(entry, "alumailAccountStatus", "active") == "active"
        and _first(entry, "pwdAccountLockedTime") != ADMINISTRATIVE_LOCK
    )


def account_state(system: DirectoryConnection, tree: Tree, uid: str) -> AccountState | None:
    """The state of ``uid``'s entry (staff first, then alumni, as identify looks), None when
    there is none, or when ``uid`` breaks the UID rule (no DN is built from it then)."""
    try:
        check_uid(uid)
    except ValidationError:
        return None
    alumnus = False
    entry = _entry(system, tree.staff_member(uid))
    if entry is None:
        alumnus, entry = True, _entry(system, tree.person(uid))
    if entry is None:
        return None
    return AccountState(
        standing=Standing(_first(entry, "entryUUID"), _first(entry, "pwdChangedTime")),
        # The portal's forced change is the alumni's (staff change passwords with the CLI).
        must_change=alumnus and _first(entry, "pwdReset", "FALSE").upper() == "TRUE",
        active=_active(entry),
    )


def staff_binding(system: DirectoryConnection, tree: Tree, uid: str) -> Binding | None:
    """Staff member ``uid`` as the directory has them now, to bind a token to or to compare a
    token's binding with; None when there is no such staff member, or it is suspended."""
    try:
        dn, role = identify(system, tree, uid)
    except (ValidationError, NotFoundError, AccessDeniedError):
        return None
    if role not in STAFF_ROLES:
        return None
    entry = _entry(system, dn)
    if entry is None or not _active(entry):
        return None
    return Binding(uid, _first(entry, "entryUUID"), role.value)


def token_binding(system: DirectoryConnection, tree: Tree, uid: str) -> Binding:
    """What a new API token for ``uid`` is bound to: a staff member who is not suspended.
    NotFoundError for an unknown UID, ValidationError for an alumnus or a suspended member."""
    _, role = identify(system, tree, uid)
    if role not in STAFF_ROLES:
        raise ValidationError(
            "uid", N_("'{uid}' is not a staff member (admin or helpdesk)").format(uid=uid)
        )
    binding = staff_binding(system, tree, uid)
    if binding is None:
        raise ValidationError(
            "uid", N_("'{uid}' is suspended: no token is issued to it").format(uid=uid)
        )
    return binding
