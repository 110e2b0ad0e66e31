"""Who is acting: the host's root (over the ldapi socket), an admin, a helpdesk member or an
alumnus. An actor is an LDAP identity proven by a bind, never a name taken on trust.

What each role may do is enforced twice: by slapd's ACLs (identity/access.py), which hold even
for a client that bypasses alumail, and by the use cases, which refuse early with a clear
message and an audit line.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from identity.directory import EXTERNAL, Credentials


class Role(StrEnum):
    SYSTEM = "system"  # root on the host: SASL EXTERNAL over ldapi; the directory's rootDN
    ADMIN = "admin"
    HELPDESK = "helpdesk"
    ALUMNUS = "alumnus"


STAFF_ROLES = (Role.ADMIN, Role.HELPDESK)


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
