"""A jAccount: its fields, the rules each must meet, and its directory entry.

UID rules (the login name and the local part of the lifelong address):
- 3 to 32 characters; lowercase ASCII letters, digits, and the separators ``.``, ``-``, ``_``;
- starts with a letter, ends with a letter or digit, no two separators in a row;
- not a reserved role name (postmaster, abuse, root, ...), which belong to the service.
A UID never changes once created: it is the address people were given for life.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from identity.errors import ValidationError

UID_MIN = 3
UID_MAX = 32
_UID_CHARS = re.compile(r"^[a-z0-9._-]+$")
_UID_SHAPE = re.compile(r"^[a-z](?:[a-z0-9]|[._-](?=[a-z0-9]))*$")
RESERVED_UIDS = frozenset(
    {
        "abuse",
        "admin",
        "administrator",
        "hostmaster",
        "mailer-daemon",
        "noc",
        "no-reply",
        "noreply",
        "nobody",
        "postmaster",
        "root",
        "security",
        "support",
        "webmaster",
    }
)
NAME_MAX = 128

ACCOUNT_CLASSES = ["inetOrgPerson", "alumailAccount"]


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


def check_uid(uid: str, *, field: str = "uid") -> str:
    """``uid`` if it meets the UID rules; a ValidationError naming the rule if not."""
    if not UID_MIN <= len(uid) <= UID_MAX:
        raise ValidationError(field, f"must be {UID_MIN} to {UID_MAX} characters long")
    if uid.isascii() and uid != uid.lower():
        raise ValidationError(field, "must be lowercase")
    if not _UID_CHARS.match(uid):
        raise ValidationError(
            field, "may contain only lowercase letters a-z, digits and the separators . - _"
        )
    if not uid[0].isalpha():
        raise ValidationError(field, "must start with a letter")
    if not _UID_SHAPE.match(uid):
        raise ValidationError(
            field, "must end with a letter or digit and not have two separators in a row"
        )
    if uid in RESERVED_UIDS:
        raise ValidationError(field, f"'{uid}' is reserved for the service")
    return uid


def check_display_name(name: str, *, field: str = "name") -> str:
    """A display name: any script (names are often Chinese), 1-128 characters, printable."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise ValidationError(field, "must not be empty")
    if len(name) > NAME_MAX:
        raise ValidationError(field, f"must be at most {NAME_MAX} characters")
    if any(unicodedata.category(c).startswith("C") for c in name):
        raise ValidationError(field, "must not contain control or invisible format characters")
    return name


@dataclass(frozen=True)
class Account:
    uid: str
    display_name: str
    mail: str
    quota: int
    status: AccountStatus = AccountStatus.ACTIVE
    mail_enabled: bool = True
    mail_host: str | None = None
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def to_entry(self, password_hash: str | None) -> dict[str, list[str]]:
        entry: dict[str, list[str]] = {
            "objectClass": list(ACCOUNT_CLASSES),
            "uid": [self.uid],
            "cn": [self.display_name],
            "sn": [self.display_name],
            "displayName": [self.display_name],
            "mail": [self.mail],
            "alumailAccountStatus": [self.status.value],
            "alumailMailEnabled": ["TRUE" if self.mail_enabled else "FALSE"],
            "alumailMailQuota": [str(self.quota)],
        }
        if self.mail_host:
            entry["alumailMailHost"] = [self.mail_host]
        if self.aliases:
            entry["alumailMailAlias"] = list(self.aliases)
        if password_hash:
            entry["userPassword"] = [password_hash]
        return entry

    @classmethod
    def from_entry(cls, entry: dict[str, list[str]], *, default_quota: int) -> Account:
        def one(name: str, default: str | None = None) -> str | None:
            values = entry.get(name) or []
            return values[0] if values else default

        quota = one("alumailMailQuota")
        return cls(
            uid=one("uid") or "",
            display_name=one("displayName") or one("cn") or "",
            mail=one("mail") or "",
            quota=int(quota) if quota else default_quota,
            status=AccountStatus(one("alumailAccountStatus") or "active"),
            mail_enabled=(one("alumailMailEnabled", "TRUE") or "TRUE").upper() == "TRUE",
            mail_host=one("alumailMailHost"),
            aliases=tuple(entry.get("alumailMailAlias", [])),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "uid": self.uid,
            "display_name": self.display_name,
            "mail": self.mail,
            "quota": self.quota,
            "status": self.status.value,
            "mail_enabled": self.mail_enabled,
            "mail_host": self.mail_host,
            "aliases": list(self.aliases),
        }


ACCOUNT_ATTRIBUTES = [
    "uid",
    "cn",
    "displayName",
    "mail",
    "alumailAccountStatus",
    "alumailMailEnabled",
    "alumailMailQuota",
    "alumailMailHost",
    "alumailMailAlias",
]
