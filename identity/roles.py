"""Who is acting: the host's root (over the ldapi socket), an admin, a helpdesk member or an
alumnus. An actor is an LDAP identity proven by a bind, never a name taken on trust.

What each role may do is enforced twice: by slapd's ACLs (identity/access.py), which hold even
for a client that bypasses alumail, and by the use cases, which refuse early with a clear
message and an audit line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from identity.accounts import check_uid
from identity.directory import EXTERNAL, Credentials, DirectoryConnection
from identity.dit import Tree
from identity.errors import AccessDeniedError, NotFoundError
from identity.markers import N_


class Role(StrEnum):
    SYSTEM = "system"  # root on the host: SASL EXTERNAL over ldapi; the directory's rootDN
    ADMIN = "admin"
    HELPDESK = "helpdesk"
    ALUMNUS = "alumnus"


STAFF_ROLES = (Role.ADMIN, Role.HELPDESK)
# Each role as a refusal names it after the actor ("zhang.wei (alumnus) may not ..."), marked so
# a page can say it in the reader's language (provisioning/i18n.py).
ROLE_WORDS = {
    Role.SYSTEM.value: N_("system"),
    Role.ADMIN.value: N_("admin"),
    Role.HELPDESK.value: N_("helpdesk"),
    Role.ALUMNUS.value: N_("alumnus"),
}


@dataclass(frozen=True)
class Actor:
    name: str  # "root", or the staff member's or alumnus's UID
    role: Role
    credentials: Credentials = EXTERNAL

    @property
    def dn(self) -> str | None:
        return self.credentials.identity

    def can_administer(self) -> bool:
        return self.role in (Role.SYSTEM, Role.ADMIN)

    def can_support(self) -> bool:
        """Reset, unlock, suspend and resume ordinary alumni."""
        return self.role in (Role.SYSTEM, Role.ADMIN, Role.HELPDESK)

    def __str__(self) -> str:
        return self.name if self.role is Role.SYSTEM else f"{self.name} ({self.role.value})"


ROOT = Actor("root", Role.SYSTEM)
PORTAL = Actor("portal", Role.SYSTEM)  # the web service itself, over ldapi


def identify(system: DirectoryConnection, tree: Tree, uid: str) -> tuple[str, Role]:
    """The entry ``uid`` signs in as and its role: a staff member (admin or helpdesk by
    membership of the group) before an alumnus. NotFoundError when there is neither."""
    check_uid(uid)  # before any DN is built from it
    staff = tree.staff_member(uid)
    if system.get(staff, ["uid"]) is not None:
        return staff, staff_role(system, tree, staff)
    if system.get(tree.person(uid), ["uid"]) is None:
        raise NotFoundError(f"no account with uid '{uid}'")
    return tree.person(uid), Role.ALUMNUS


def staff_role(system: DirectoryConnection, tree: Tree, dn: str) -> Role:
    """A staff member's role: membership of cn=admins or cn=helpdesk."""
    for role, group in ((Role.ADMIN, tree.admins_group), (Role.HELPDESK, tree.helpdesk_group)):
        entry = system.get(group, ["member"]) or {}
        if dn.lower() in (m.lower() for m in entry.get("member", [])):
            return role
    raise AccessDeniedError(f"actor: staff account {dn} has no role")
