"""The account lookups every use case shares, answered on the system connection (root, read
only): whose an address is, which UID a login names, whether a UID is a staff member. Asked as
root because uniqueness and sign-in span every account, whoever asks; nothing read here is shown
to the actor without a use case's own role check."""

from __future__ import annotations

from identity.accounts import check_address, check_uid
from identity.directory import escape
from identity.dit import Tree
from identity.errors import AccessDeniedError, ValidationError
from identity.markers import N_
from identity.roles import Actor, Role, staff_role
from provisioning.collaborators import Connections


class AccountLookups:
    def __init__(self, tree: Tree, connections: Connections) -> None:
        self.tree = tree
        self.connections = connections

    def address_owner(self, address: str) -> str | None:
        """The UID whose primary address or alias ``address`` is."""
        value = escape(address)
        rows = self.connections.system.search(
            self.tree.people,
            f"(|(mail={value})(alumailMailAlias={value}))",
            ["uid"],
            scope="one",
        )
        return rows[0][1]["uid"][0] if rows else None

    def login_uid(self, login: str) -> str | None:
        """The UID a login name stands for: a UID as it is, an address (primary or alias) by
        its owner; None for anything that is neither (no error: callers answer alike either
        way)."""
        login = login.strip()
        try:
            if "@" not in login:
                return check_uid(login.lower(), field="login")
            return self.address_owner(check_address(login, field="login"))
        except ValidationError:
            return None

    def is_staff(self, uid: str) -> bool:
        check_uid(uid)  # before any DN is built from it
        return self.connections.system.get(self.tree.staff_member(uid), ["uid"]) is not None

    def staff_role(self, uid: str) -> Role:
        """A staff member's role (identity.roles.staff_role)."""
        return staff_role(self.connections.system, self.tree, self.tree.staff_member(uid))

    def require_alumnus(self, actor: Actor, uid: str) -> None:
        """Staff accounts live apart; no alumnus use case may reach one."""
        if self.is_staff(uid):
            raise AccessDeniedError(
                N_("{actor} may not act on staff account '{uid}'").format(actor=actor, uid=uid)
            )


def require(actor: Actor, allowed: bool, what: str) -> None:
    """The one wording of a refused role."""
    if not allowed:
        raise AccessDeniedError(N_("{actor} may not {what}").format(actor=actor, what=what))
