"""Value formats written once and enforced twice: alumail checks them with ``re.fullmatch``
(identity/accounts.py), slapd with its constraint overlay on every write, including a person's
own writes straight to the directory (configs/slapd/config.ldif.j2).

The patterns use only syntax that Python's re and POSIX extended regexes (slapd's regcomp) read
alike: bracket expressions without backslashes (``[.]`` for a dot), groups, ``?``, ``*``,
``+``, ``{m,n}`` and ``|``. They carry no anchors: Python matches them whole with fullmatch
(``$`` alone would let a trailing newline through), slapd gets them wrapped in ``^(...)$``
(POSIX ``$`` is the end of the value: newlines are ordinary characters there).

slapd counts bytes, Python characters: the lengths given to slapd for text in any script are
four bytes per character (UTF-8's widest), so slapd never refuses what alumail accepts.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.passwords import LEGACY_SCHEMES

_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
LOCAL_PART = f"{_ATOM}([.]{_ATOM})*"
DNS_LABEL = "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = f"{DNS_LABEL}([.]{DNS_LABEL})+"
ADDRESS = f"{LOCAL_PART}@{DOMAIN}"
ADDRESS_MAX = 254
LOCAL_PART_MAX = 64

UID_CHARS = "[a-z0-9._-]+"
# A letter, then letters or digits each optionally after one separator: so it ends with a
# letter or digit and never holds two separators in a row.
UID_SHAPE = "[a-z]([._-]?[a-z0-9])*"
UID_MIN = 3
UID_MAX = 32

STUDENT_NUMBER = "[A-Z0-9-]{4,20}"
# A class code as the university's records write it (F1503101, 2015-CS-2): 2 to 16 uppercase
# letters, digits and inner hyphens.
CLASS_CODE = "[A-Z0-9][A-Z0-9-]{0,14}[A-Z0-9]"
# A circle's name, the local part of its list address: lowercase letters and digits, single
# separators . - _ between them.
CIRCLE_NAME = "[a-z0-9]([._-]?[a-z0-9])*"
CIRCLE_NAME_MIN = 3
CIRCLE_NAME_MAX = 48
CIRCLE_TITLE_MAX = 80
CIRCLE_DESCRIPTION_MAX = 1000
CIRCLE_KINDS = "grade|class|interest"
CIRCLE_POLICIES = "open|approval|invite"
CIRCLE_VISIBILITIES = "listed|hidden"
CIRCLE_STATES = "proposed"
PHONE = "[+]?[0-9(][0-9 ()-]{3,30}[0-9]"
LANGUAGE_TAG = "[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}"
GRADUATION_YEAR = "[0-9]{4}"
QUOTA_BYTES = "[0-9]{1,16}"
ACCOUNT_STATUS = "active|suspended|retired"
# Text in any script: no control characters, no white space at either end.
_TEXT = "[^[:cntrl:][:space:]]([^[:cntrl:]]*[^[:cntrl:][:space:]])?"
_POSTAL_LINE = "[^$[:cntrl:][:space:]]([^$[:cntrl:]]*[^$[:cntrl:][:space:]])?"
NAME_MAX = 128
SHORT_NAME_MAX = 64
POSTAL_LINES = 6
POSTAL_LINE_MAX = 64
# A stored password is always a hash with its scheme: never cleartext, whoever writes it.
PASSWORD_HASH = "[{](" + "|".join(LEGACY_SCHEMES) + ")[}].+"


# Profile attributes the schema lets hold several values, of which alumail keeps one.
SINGLE_VALUED_PROFILE = ("cn", "sn", "givenName", "telephoneNumber", "postalAddress")


@dataclass(frozen=True)
class Constraint:
    """One olcConstraintAttribute value: ``ATTRIBUTE regex|size|count VALUE``."""

    attribute: str
    kind: str
    value: str

    def ldif_value(self) -> str:
        if self.kind == "regex":
            return f'{self.attribute} regex "^({self.value})$"'
        return f"{self.attribute} {self.kind} {self.value}"


def _max_bytes(characters: int) -> str:
    return str(4 * characters)


def directory_constraints() -> list[Constraint]:
    """What slapd checks on every add and modify of these attributes (root's included)."""
    regex = [
        ("uid", UID_SHAPE),
        ("uid", f".{{{UID_MIN},{UID_MAX}}}"),
        ("mail", ADDRESS),
        ("alumailMailAlias", ADDRESS),
        ("alumailRecoveryEmail", ADDRESS),
        ("alumailRecoveryEmail", f"[^@]{{1,{LOCAL_PART_MAX}}}@.*"),
        ("alumailStudentNumber", STUDENT_NUMBER),
        ("alumailGraduationYear", GRADUATION_YEAR),
        ("alumailClassCode", CLASS_CODE),
        ("alumailCircleKind", CIRCLE_KINDS),
        ("alumailCirclePolicy", CIRCLE_POLICIES),
        ("alumailCircleVisibility", CIRCLE_VISIBILITIES),
        ("alumailCircleState", CIRCLE_STATES),
        ("alumailCircleTitle", _TEXT),
        ("alumailMailQuota", QUOTA_BYTES),
        ("alumailAccountStatus", ACCOUNT_STATUS),
        ("telephoneNumber", PHONE),
        ("preferredLanguage", LANGUAGE_TAG),
        ("displayName", _TEXT),
        ("cn", _TEXT),
        ("givenName", _TEXT),
        ("sn", _TEXT),
        ("postalAddress", f"{_POSTAL_LINE}([$]{_POSTAL_LINE}){{0,{POSTAL_LINES - 1}}}"),
        ("userPassword", PASSWORD_HASH),
    ]
    sizes = [
        ("mail", str(ADDRESS_MAX)),
        ("alumailMailAlias", str(ADDRESS_MAX)),
        ("alumailRecoveryEmail", str(ADDRESS_MAX)),
        ("displayName", _max_bytes(NAME_MAX)),
        ("cn", _max_bytes(NAME_MAX)),
        ("givenName", _max_bytes(SHORT_NAME_MAX)),
        ("sn", _max_bytes(NAME_MAX)),
        ("postalAddress", _max_bytes(POSTAL_LINES * (POSTAL_LINE_MAX + 1))),
        ("alumailCircleTitle", _max_bytes(CIRCLE_TITLE_MAX)),
    ]
    return [
        *(Constraint(a, "regex", v) for a, v in regex),
        *(Constraint(a, "size", v) for a, v in sizes),
        # One password per entry: a second value would be a second working password.
        Constraint("userPassword", "count", "1"),
        Constraint("alumailRecoveryEmail", "count", "1"),
        # Profile fields hold one value each (alumail reads only the first): without a count a
        # person writing straight to slapd could store thousands of values, or hide a second
        # name that backups and exports carry but no page shows.
        *(Constraint(a, "count", "1") for a in SINGLE_VALUED_PROFILE),
    ]


def unique_uris(people: str, base_dn: str) -> list[str]:
    """olcUniqueURI values: slapd refuses a write that would give a value of one of these
    attributes to two entries. Each attribute is unique on its own (the overlay searches the
    attribute being written, never another one): an alias equal to another account's primary
    address is refused by alumail's check (provisioning/people/accounts.py), not by slapd.
    ``serialize`` runs each checked write to completion before the next one is checked, so two
    admins adding the same address at the same moment cannot both succeed."""
    return [
        # Staff and alumni share one UID space: a login name is one person.
        f"serialize ldap:///{base_dn}?uid?sub",
        f"serialize ldap:///{people}?mail,alumailMailAlias,alumailStudentNumber?one",
    ]


# What alumail calls the attributes slapd names when it refuses a value.
FIELD_OF_ATTRIBUTE = {
    "uid": "uid",
    "mail": "uid",
    "alumailMailAlias": "alias",
    "alumailRecoveryEmail": "recovery_email",
    "alumailStudentNumber": "student_number",
    "alumailGraduationYear": "graduation_year",
    "alumailClassCode": "class_code",
    "alumailCircleTitle": "title",
    "alumailMailQuota": "quota",
    "alumailAccountStatus": "status",
    "telephoneNumber": "phone",
    "displayName": "display_name",
    "cn": "display_name",
    "givenName": "given_name",
    "sn": "family_name",
    "postalAddress": "postal_address",
    "preferredLanguage": "preferred_language",
    "userPassword": "password",
}


def field_of(attribute: str) -> str:
    return FIELD_OF_ATTRIBUTE.get(attribute, attribute)
