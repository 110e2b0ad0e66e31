"""Values read back from the directory, checked once before any face shows or uses them.

slapd holds every write to the formats of identity/rules.py (its constraint overlay), but an
entry can still carry what alumail would never write: a value stored before a rule existed, by
``slapadd`` or a tool writing as the directory manager around the overlay, or text that passes
slapd's byte-wise check and alumail's would refuse (a right-to-left override, a C1 control, a
name of 512 ASCII characters where alumail allows 128). Every value the directory client reads
passes through :func:`entry` (identity/directory.py), so no page, mail, CLI table, API answer or
OpenID claim meets one unchecked:

- a formatted value (an address, a student number, a year, a quota, a status, a telephone
  number, a language tag) that does not match its rule is dropped, as if absent;
- text in any script (names, postal lines) loses control and invisible format characters
  (check_display_name refuses them on write) and is cut to its length with an ellipsis.

Each such repair is logged with the entry's DN and the attribute, never the value.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence

from identity import rules

log = logging.getLogger(__name__)
ELLIPSIS = "\u2026"
_FORMATS: dict[str, tuple[re.Pattern[str], int]] = {
    name: (re.compile(pattern), longest)
    for name, pattern, longest in (
        ("mail", rules.ADDRESS, rules.ADDRESS_MAX),
        ("alumailMailAlias", rules.ADDRESS, rules.ADDRESS_MAX),
        ("alumailRecoveryEmail", rules.ADDRESS, rules.ADDRESS_MAX),
        ("alumailStudentNumber", rules.STUDENT_NUMBER, 20),
        ("alumailGraduationYear", rules.GRADUATION_YEAR, 4),
        ("alumailMailQuota", rules.QUOTA_BYTES, 16),
        ("alumailAccountStatus", rules.ACCOUNT_STATUS, 16),
        ("telephoneNumber", rules.PHONE, 32),
        ("preferredLanguage", rules.LANGUAGE_TAG, 35),
    )
}
# Text in any script, and the most characters alumail writes of it.
_TEXTS = {
    "displayName": rules.NAME_MAX,
    "cn": rules.NAME_MAX,
    "givenName": rules.SHORT_NAME_MAX,
    "sn": rules.NAME_MAX,
}
_POSTAL = "postalAddress"
# Attribute names as slapd hands them back (as asked) and in lower case (as LDAP compares them).
_ATTRIBUTES = {key: name for name in (*_FORMATS, *_TEXTS, _POSTAL) for key in (name, name.lower())}


def text(value: str, limit: int) -> str:
    """``value`` without control or invisible format characters (Unicode category C*: what
    check_display_name refuses), white space trimmed, cut to ``limit`` characters (the last an
    ellipsis); "" when nothing is left."""
    if len(value) <= limit and value.isprintable() and value == value.strip():
        return value  # the common case, at the cost of two C loops
    kept = "".join(c for c in value if not unicodedata.category(c).startswith("C")).strip()
    if len(kept) > limit:
        kept = kept[: limit - 1].rstrip() + ELLIPSIS
    return kept


def _postal(value: str) -> str:
    lines = [text(line, rules.POSTAL_LINE_MAX) for line in value.split("$")]
    return "$".join([line for line in lines if line][: rules.POSTAL_LINES])


def _checked(name: str, found: Sequence[str]) -> Sequence[str]:
    """``found`` itself when every value meets its rule (the common case, kept cheap: every
    entry read passes here), else the values as they may be shown."""
    if name in _FORMATS:
        pattern, longest = _FORMATS[name]
        for value in found:
            if len(value) > longest or not pattern.fullmatch(value):
                return [v for v in found if len(v) <= longest and pattern.fullmatch(v)]
        return found
    if name == _POSTAL:
        repaired = [p for p in map(_postal, found) if p]
    else:
        repaired = [t for t in (text(v, _TEXTS[name]) for v in found) if t]
    return found if repaired == list(found) else repaired


def values(dn: str, name: str, found: Sequence[str]) -> list[str]:
    """The values of attribute ``name`` of entry ``dn`` as alumail may show and use them."""
    canonical = _ATTRIBUTES.get(name) or _ATTRIBUTES.get(name.lower())
    if canonical is None:
        return list(found)
    kept = _checked(canonical, found)
    if kept is not found:
        log.warning("%s of %s breaks its rule in the directory: repaired as read", name, dn)
    return list(kept)


def entry(dn: str, checked: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every attribute of a decoded entry, through :func:`values`, changed in place (every entry
    read passes here: no copy); one left with no value is absent, as if never written."""
    for name, found in list(checked.items()):
        canonical = _ATTRIBUTES.get(name) or _ATTRIBUTES.get(name.lower())
        if canonical is None or not found:
            continue
        kept = _checked(canonical, found)
        if kept is found:
            continue
        log.warning("%s of %s breaks its rule in the directory: repaired as read", name, dn)
        if kept:
            checked[name] = list(kept)
        else:
            del checked[name]
    return checked
