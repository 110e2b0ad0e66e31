"""Staff accounts (admins and helpdesk members). Proving who an actor is: people/signin.py.

Staff live under ou=staff with no mailbox; their role is membership of cn=admins or
cn=helpdesk. Only the host's root or an admin may add, remove or change staff.
"""

from __future__ import annotations

from identity.accounts import check_display_name, check_language_tag, check_uid
from identity.directory import DirectoryConnection
from identity.dit import group_entry, staff_entry
from identity.errors import (
    AccessDeniedError,
    ConflictError,
    NotFoundError,
    ValidationError,
)
from identity.markers import N_
from identity.passwords import DEFAULT_POLICY, hash_password
from identity.roles import STAFF_ROLES, Role, staff_role
from provisioning.people.accounts import AccountService


class StaffService:
    """Adding, removing and listing staff, for the actor of ``accounts`` (whose connection,
    roles and audit it shares)."""

    def __init__(self, accounts: AccountService) -> None:
        self.accounts = accounts
        self.actor = accounts.actor
        self.tree = accounts.tree

    @property
    def directory(self) -> DirectoryConnection:
        return self.accounts.directory

    def _group(self, role: Role) -> str:
        return self.tree.admins_group if role is Role.ADMIN else self.tree.helpdesk_group

    def add(self, uid: str, name: str, role: Role, password: str | None) -> None:
        with self.accounts.audited("staff-add", uid) as outcome:
            self.accounts.require(self.actor.can_administer(), N_("add staff"))
            if role not in STAFF_ROLES:
                raise ValidationError("role", "must be admin or helpdesk")
            check_uid(uid)
            display = check_display_name(name)
            if password is not None:
                DEFAULT_POLICY.check(password, uid=uid)
            if self.directory.get(self.tree.person(uid), ["uid"]) is not None:
                raise ConflictError(f"uid: '{uid}' is an alumnus account")
            dn = self.tree.staff_member(uid)
            if self.directory.get(dn, ["uid"]) is not None:
                raise ConflictError(f"uid: a staff account '{uid}' already exists")
            self.directory.add(
                dn, staff_entry(uid, display, hash_password(password) if password else None)
            )
            self._join(dn, role)
            outcome.changes = {"name": display, "role": role.value}

    def _join(self, dn: str, role: Role) -> None:
        group = self._group(role)
        if self.directory.get(group, ["cn"]) is None:
            # groupOfNames needs a member: the group appears with its first one.
            name = group.split(",", 1)[0].split("=", 1)[1]
            self.directory.add(group, group_entry(name, [dn], f"alumail {role.value} staff"))
        else:
            self.directory.modify(group, [("add", "member", [dn])])

    def _leave(self, dn: str, roles: tuple[Role, ...] = STAFF_ROLES) -> None:
        for role in roles:
            group = self._group(role)
            members = (self.directory.get(group, ["member"]) or {}).get("member", [])
            if dn.lower() not in (m.lower() for m in members):
                continue
            if len(members) == 1:
                self.directory.delete(group)
            else:
                self.directory.modify(group, [("delete", "member", [dn])])

    def remove(self, uid: str) -> None:
        with self.accounts.audited("staff-remove", uid) as outcome:
            self.accounts.require(self.actor.can_administer(), N_("remove staff"))
            check_uid(uid)
            dn = self.tree.staff_member(uid)
            if self.directory.get(dn, ["uid"]) is None:
                raise NotFoundError(f"no staff account '{uid}'")
            if self.actor.dn and self.actor.dn.lower() == dn.lower():
                raise AccessDeniedError(f"{self.actor} may not remove their own staff account")
            self._leave(dn)
            self.directory.delete(dn)
            outcome.changes = {"removed": uid}

    def set_role(self, uid: str, role: Role) -> bool:
        """Make a staff member an admin or a helpdesk member; False when they were already.
        Their sessions take the new role at the next request (each reads it again); their API
        tokens stop (bound to the role they were issued under)."""
        with self.accounts.audited("staff-role", uid) as outcome:
            self.accounts.require(self.actor.can_administer(), N_("change staff roles"))
            if role not in STAFF_ROLES:
                raise ValidationError("role", "must be admin or helpdesk")
            check_uid(uid)
            dn = self.tree.staff_member(uid)
            if self.directory.get(dn, ["uid"]) is None:
                raise NotFoundError(f"no staff account '{uid}'")
            if self.actor.dn and self.actor.dn.lower() == dn.lower():
                # An admin demoting themselves could leave no admin to undo it.
                raise AccessDeniedError(f"{self.actor} may not change their own role")
            current = staff_role(self.directory, self.tree, dn)
            if current is role:
                outcome.unchanged = True
                return False
            self._join(dn, role)  # the new group first: never a moment without a role
            self._leave(dn, (current,))
            outcome.changes = {"role": [current.value, role.value]}
        return True

    def language(self, uid: str) -> str | None:
        """A staff member's stored language (their entry's preferredLanguage), None when unset.
        A staff member reads their own; an admin anyone's."""
        self.accounts.require(
            self.actor.name == uid or self.actor.can_administer(), N_("read a staff language")
        )
        entry = self.directory.get(self.tree.staff_member(uid), ["preferredLanguage"])
        if entry is None:
            raise NotFoundError(f"no staff account '{uid}'")
        values = entry.get("preferredLanguage", [])
        return values[0] if values else None

    def set_language(self, uid: str, language: str) -> None:
        """Store a staff member's language, as the portal's switch does an alumnus's. Their
        own only (slapd's ACL allows the staff member this one attribute of their entry)."""
        self.accounts.require(
            self.actor.name == uid or self.actor.can_administer(), N_("set a staff language")
        )
        tag = check_language_tag(language)
        dn = self.tree.staff_member(uid)
        with self.accounts.audited("staff-language", uid) as outcome:
            if self.directory.get(dn, ["uid"]) is None:
                raise NotFoundError(f"no staff account '{uid}'")
            self.directory.replace(dn, {"preferredLanguage": [tag]})
            outcome.changes = {"preferred_language": tag}

    def members(self) -> list[dict[str, str]]:
        self.accounts.require(self.actor.can_administer(), N_("list staff"))
        rows = []
        for role in STAFF_ROLES:
            entry = self.directory.get(self._group(role), ["member"]) or {}
            for dn in entry.get("member", []):
                rows.append({"uid": dn.split(",", 1)[0].split("=", 1)[1], "role": role.value})
        return sorted(rows, key=lambda r: r["uid"])
