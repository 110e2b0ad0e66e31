"""A jAccount: its fields, the rules each must meet, and its directory entry.

UID rules (the login name and the local part of the lifelong address):
- 3 to 32 characters; lowercase ASCII letters, digits, and the separators ``.``, ``-``, ``_``;
- starts with a letter, ends with a letter or digit, no two separators in a row;
- not a reserved role name (postmaster, abuse, root, ...), which belong to the service.
A UID never changes once created: it is the address people were given for life.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from identity import rules
from identity.errors import ValidationError
from identity.markers import N_

UID_MIN = rules.UID_MIN
UID_MAX = rules.UID_MAX
# Whole-value rules (fullmatch): the same patterns slapd's constraint overlay enforces.
_UID_CHARS = re.compile(rules.UID_CHARS)
_UID_SHAPE = re.compile(rules.UID_SHAPE)
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
NAME_MAX = rules.NAME_MAX

ACCOUNT_CLASSES = ["inetOrgPerson", "alumailAccount"]


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    RETIRED = "retired"


def check_uid(uid: str, *, field: str = "uid") -> str:
    """``uid`` if it meets the UID rules; a ValidationError naming the rule if not."""
    if not UID_MIN <= len(uid) <= UID_MAX:
        raise ValidationError(
            field, N_("must be {low} to {high} characters long").format(low=UID_MIN, high=UID_MAX)
        )
    if uid.isascii() and uid != uid.lower():
        raise ValidationError(field, N_("must be lowercase"))
    if not _UID_CHARS.fullmatch(uid):
        raise ValidationError(
            field, N_("may contain only lowercase letters a-z, digits and the separators . - _")
        )
    if not uid[0].isalpha():
        raise ValidationError(field, N_("must start with a letter"))
    if not _UID_SHAPE.fullmatch(uid):
        raise ValidationError(
            field, N_("must end with a letter or digit and not have two separators in a row")
        )
    if uid in RESERVED_UIDS:
        raise ValidationError(field, N_("'{uid}' is reserved for the service").format(uid=uid))
    return uid


def check_display_name(name: str, *, field: str = "name", max_length: int = NAME_MAX) -> str:
    """A person's name: any script (names are often Chinese), printable, not empty."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise ValidationError(field, N_("must not be empty"))
    if len(name) > max_length:
        raise ValidationError(
            field, N_("must be at most {count} characters").format(count=max_length)
        )
    # isprintable() is the fast path; it also refuses non-ASCII spaces, which names may hold.
    if not name.isprintable() and any(unicodedata.category(c).startswith("C") for c in name):
        raise ValidationError(field, N_("must not contain control or invisible format characters"))
    return name


_LOCAL_PART = re.compile(rules.LOCAL_PART)
_DNS_LABEL = re.compile(rules.DNS_LABEL)


def check_address(address: str, *, field: str = "address") -> str:
    """An e-mail address (ASCII; local part as RFC 5322 dot-atoms; a DNS domain). The domain
    is lowercased; the local part is kept as given."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    domain = domain.lower()
    labels = domain.split(".")
    if not at or not local or len(address) > rules.ADDRESS_MAX:
        raise ValidationError(field, N_("must be an address such as name@example.org"))
    if len(local) > rules.LOCAL_PART_MAX or not _LOCAL_PART.fullmatch(local):
        raise ValidationError(
            field, N_("'{local}' is not a valid local part before the @").format(local=local)
        )
    if len(labels) < 2 or not all(_DNS_LABEL.fullmatch(x) for x in labels):
        raise ValidationError(
            field, N_("'{domain}' is not a valid domain after the @").format(domain=domain)
        )
    return f"{local}@{domain}"


def check_recovery_address(address: str, domain: str, *, field: str = "recovery_email") -> str:
    """A recovery address: well-formed and outside this service's ``domain`` (a reset link mailed
    into the mailbox whose password was lost reaches no one)."""
    address = check_address(address, field=field)
    if address.lower().endswith("@" + domain):
        raise ValidationError(field, N_("must be an address outside this service"))
    return address


def check_student_number(value: str, *, field: str = "student_number") -> str:
    value = value.strip()
    if not re.fullmatch(rules.STUDENT_NUMBER, value.upper()):
        raise ValidationError(field, N_("must be 4 to 20 letters, digits or hyphens"))
    return value.upper()


_PHONE = re.compile(rules.PHONE)


def check_phone(value: str, *, field: str = "phone") -> str:
    """A telephone number as people write it: digits, an optional leading +, spaces, hyphens
    and parentheses; 5 to 32 characters."""
    value = " ".join(value.split())
    if not _PHONE.fullmatch(value):
        raise ValidationError(
            field, N_("must be a telephone number: digits, optional leading +, spaces, - ( )")
        )
    return value


_LANGUAGE_TAG = re.compile(rules.LANGUAGE_TAG)


def check_language_tag(value: str, *, field: str = "preferred_language") -> str:
    """A language as HTTP and LDAP's preferredLanguage name it (RFC 5646): zh-CN, en, en-GB."""
    if not _LANGUAGE_TAG.fullmatch(value):
        raise ValidationError(field, N_("must be a language tag such as zh-CN or en"))
    return value


POSTAL_LINES = rules.POSTAL_LINES
POSTAL_LINE_MAX = rules.POSTAL_LINE_MAX


def check_postal_address(value: str, *, field: str = "postal_address") -> str:
    """Up to six lines of up to 64 characters each, any script. ``$`` and ``\\`` are refused:
    LDAP's postal address syntax uses them as the line separator and its escape."""
    lines = [line.strip() for line in value.replace("\r\n", "\n").split("\n") if line.strip()]
    if not lines:
        raise ValidationError(field, N_("must not be empty"))
    if len(lines) > POSTAL_LINES:
        raise ValidationError(field, N_("must be at most {count} lines").format(count=POSTAL_LINES))
    for line in lines:
        check_display_name(line, field=field, max_length=POSTAL_LINE_MAX)
        if "$" in line or "\\" in line:
            raise ValidationError(field, N_("must not contain $ or \\"))
    return "\n".join(lines)


def _to_postal(value: str | None) -> str | None:
    return value.replace("\n", "$") if value else None


def _from_postal(value: str | None) -> str | None:
    return value.replace("$", "\n") if value else None


FIRST_GRADUATION_YEAR = 1896  # the university's founding


def check_graduation_year(value: int | str, *, field: str = "graduation_year") -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise ValidationError(field, N_("must be a year such as 2015"))
    year = int(text)
    last = time.localtime().tm_year + 10
    if not FIRST_GRADUATION_YEAR <= year <= last:
        raise ValidationError(
            field,
            N_("must be between {first} and {last}").format(first=FIRST_GRADUATION_YEAR, last=last),
        )
    return year


_CLASS_CODE = re.compile(rules.CLASS_CODE)


def check_class_code(value: str, *, field: str = "class_code") -> str:
    """A class code (one class of one year): 2 to 16 letters, digits and inner hyphens, kept
    uppercase (the records write F1503101; a form may not)."""
    code = value.strip().upper()
    if not (code.isascii() and _CLASS_CODE.fullmatch(code)):
        raise ValidationError(
            field,
            N_(
                "must be 2 to 16 letters, digits or hyphens, "
                "starting and ending with a letter or digit"
            ),
        )
    return code


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
    given_name: str | None = None
    family_name: str | None = None
    recovery_email: str | None = None
    student_number: str | None = None
    graduation_year: int | None = None
    class_code: str | None = None
    phone: str | None = None
    postal_address: str | None = None
    # The language the person reads pages and mail in (a BCP 47 tag such as zh-CN or en).
    preferred_language: str | None = None

    def to_entry(self, password_hash: str | None) -> dict[str, list[str]]:
        entry: dict[str, list[str]] = {"objectClass": list(ACCOUNT_CLASSES)}
        for name, values in self.attributes().items():
            if values:
                entry[name] = values
        if password_hash:
            entry["userPassword"] = [password_hash]
        return entry

    def attributes(self) -> dict[str, list[str]]:
        """Every attribute alumail manages, [] for an absent one (so a diff can remove it)."""

        def opt(value: object) -> list[str]:
            return [str(value)] if value not in (None, "") else []

        return {
            "uid": [self.uid],
            "cn": [self.display_name],
            "displayName": [self.display_name],
            # inetOrgPerson requires sn; without a family name it carries the display name.
            "sn": [self.family_name or self.display_name],
            "givenName": opt(self.given_name),
            "mail": [self.mail],
            "alumailMailAlias": sorted(self.aliases),
            "alumailAccountStatus": [self.status.value],
            "alumailMailEnabled": ["TRUE" if self.mail_enabled else "FALSE"],
            "alumailMailQuota": [str(self.quota)],
            "alumailMailHost": opt(self.mail_host),
            "alumailRecoveryEmail": opt(self.recovery_email),
            "alumailStudentNumber": opt(self.student_number),
            "alumailGraduationYear": opt(self.graduation_year),
            "alumailClassCode": opt(self.class_code),
            "telephoneNumber": opt(self.phone),
            "postalAddress": opt(_to_postal(self.postal_address)),
            "preferredLanguage": opt(self.preferred_language),
        }

    @classmethod
    def from_entry(cls, entry: dict[str, list[str]], *, default_quota: int) -> Account:
        def one(name: str) -> str | None:
            values = entry.get(name) or []
            return values[0] if values else None

        quota = one("alumailMailQuota")
        year = one("alumailGraduationYear")
        display = one("displayName") or one("cn") or ""
        sn = one("sn")
        return cls(
            uid=one("uid") or "",
            display_name=display,
            mail=one("mail") or "",
            quota=int(quota) if quota else default_quota,
            status=AccountStatus(one("alumailAccountStatus") or "active"),
            mail_enabled=(one("alumailMailEnabled") or "TRUE").upper() == "TRUE",
            mail_host=one("alumailMailHost"),
            aliases=tuple(sorted(entry.get("alumailMailAlias", []))),
            given_name=one("givenName"),
            family_name=sn if sn and (sn != display or one("givenName")) else None,
            recovery_email=one("alumailRecoveryEmail"),
            student_number=one("alumailStudentNumber"),
            graduation_year=int(year) if year else None,
            class_code=one("alumailClassCode"),
            phone=one("telephoneNumber"),
            postal_address=_from_postal(one("postalAddress")),
            preferred_language=one("preferredLanguage"),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "uid": self.uid,
            "display_name": self.display_name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "mail": self.mail,
            "aliases": list(self.aliases),
            "recovery_email": self.recovery_email,
            "student_number": self.student_number,
            "graduation_year": self.graduation_year,
            "class_code": self.class_code,
            "phone": self.phone,
            "postal_address": self.postal_address,
            "preferred_language": self.preferred_language,
            "status": self.status.value,
            "quota": self.quota,
            "mail_enabled": self.mail_enabled,
            "mail_host": self.mail_host,
        }


# Fields a person may change with `account modify`, with the rule each must meet. The UID and
# the primary address never change: they are the lifelong address (aliases are the way to add
# another); status and quota have their own commands.
def _optional(rule: Callable[..., object]) -> Callable[..., object]:
    def check(value: object, *, field: str) -> object:
        if value in (None, ""):
            return None
        return rule(value, field=field)

    return check


def _short_name(value: str, *, field: str) -> str:
    return check_display_name(value, field=field, max_length=64)


PROFILE_RULES: dict[str, Callable[..., object]] = {
    "display_name": check_display_name,
    "given_name": _optional(_short_name),
    "family_name": _optional(_short_name),
    "recovery_email": _optional(check_address),
    "student_number": _optional(check_student_number),
    "graduation_year": _optional(check_graduation_year),
    "class_code": _optional(check_class_code),
    "phone": _optional(check_phone),
    "postal_address": _optional(check_postal_address),
    "preferred_language": _optional(check_language_tag),
}


ACCOUNT_ATTRIBUTES = [
    "uid",
    "cn",
    "sn",
    "givenName",
    "displayName",
    "mail",
    "alumailAccountStatus",
    "alumailMailEnabled",
    "alumailMailQuota",
    "alumailMailHost",
    "alumailMailAlias",
    "alumailRecoveryEmail",
    "alumailStudentNumber",
    "alumailGraduationYear",
    "alumailClassCode",
    "telephoneNumber",
    "postalAddress",
    "preferredLanguage",
]
