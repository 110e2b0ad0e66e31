"""Holders of a legacy lifelong mailbox: alumni whose old address on the closed alumni mail
service is kept on their account entry, with where the move of its mail stands.

The one home for how a holder is kept in the directory: the attribute names, the states, the
entry mapping, and the LDAP filters that find holders (the migration's list and Postfix's tables,
which deliver, retire or refuse old addresses by the same attributes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

# A holder is an account: the legacy attributes are optional ones of the account's class.
OBJECT_CLASS = "alumailAccount"
ADDRESS = "alumailLegacyAddress"
STATE = "alumailLegacyState"
ATTRIBUTES = (ADDRESS, STATE)


class LegacyState(StrEnum):
    NOT_MIGRATED = "not-migrated"
    MIGRATING = "migrating"
    MIGRATED = "migrated"
    FAILED = "failed"
    BACKED_UP = "backed-up"


# A holder whose state was never written has not moved yet.
DEFAULT_STATE = LegacyState.NOT_MIGRATED

HOLDERS_FILTER = f"({ADDRESS}=*)"
# What a reader asks the directory for to build a LegacyHolder.
HOLDER_ATTRIBUTES = ["uid", "mail", ADDRESS, STATE, "alumailRecoveryEmail", "preferredLanguage"]
_MOVED = f"({STATE}={LegacyState.MIGRATED})"


def holder_filter(address: str, *, moved: bool, also: str = "") -> str:
    """The entries holding the legacy ``address`` (an LDAP filter value or Postfix's ``%s``)
    whose mail has ``moved`` here or not; ``also`` adds conditions on the account."""
    state = _MOVED if moved else f"(!{_MOVED})"
    return f"(&(objectClass={OBJECT_CLASS}){also}({ADDRESS}={address}){state})"


def new_holder(address: str) -> dict[str, list[str]]:
    """The attributes that make an account the holder of ``address`` (a checked address),
    not migrated yet."""
    return {ADDRESS: [address.lower()], STATE: [DEFAULT_STATE]}


def state_change(state: LegacyState) -> dict[str, list[str]]:
    return {STATE: [state]}


@dataclass(frozen=True)
class LegacyHolder:
    uid: str
    mail: str
    legacy_address: str
    state: str = DEFAULT_STATE
    recovery_email: str = ""
    preferred_language: str = ""  # the language their reminders are written in

    @classmethod
    def from_entry(cls, entry: Mapping[str, Sequence[str]]) -> LegacyHolder:
        def one(name: str, default: str = "") -> str:
            values = entry.get(name) or [default]
            return values[0]

        return cls(
            uid=one("uid"),
            mail=one("mail"),
            legacy_address=one(ADDRESS),
            state=one(STATE, DEFAULT_STATE),
            recovery_email=one("alumailRecoveryEmail"),
            preferred_language=one("preferredLanguage"),
        )

    def as_dict(self) -> dict[str, str]:
        return {
            "uid": self.uid,
            "mail": self.mail,
            "legacy_address": self.legacy_address,
            "state": self.state,
            "recovery_email": self.recovery_email,
        }
