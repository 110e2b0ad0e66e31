"""A circle of alumni: its fields, the rules each must meet, and its directory entry.

A circle is a ``groupOfNames`` entry under ``ou=circles`` with the auxiliary class
``alumailCircle`` (configs/slapd/alumail-schema.ldif): members in ``member`` (slapd's memberof
overlay gives each person ``memberOf``: "my circles"), owners in ``owner``, moderators in
``alumailCircleModerator``.

The placeholder (``Tree.circle_placeholder``, a DN no entry has) is always a member:
groupOfNames must have one, and a circle made by ``sync-cohorts`` has no person behind it.
Keeping the placeholder in every member list means no leave, removal or account deletion can
ever empty it halfway through a change. It is also the owner of a circle no person owns (a
grade or class circle until staff hand it over; one whose last owner's entry was deleted, by
slapd's refint): the service owns it, and staff act for it. So a circle always has an owner.
Neither is ever shown or counted.

Name rules (the name is the local part of the circle's list address):
- 3 to 48 characters: lowercase letters a-z, digits, and single separators ``.``, ``-``, ``_``
  between them;
- not a reserved role name (postmaster, abuse, ...), nor a list-manager word (owner, request,
  bounces, ...), nor ``placeholder``;
- ``grade-YEAR`` and ``class-CODE`` are the names of cohort circles: only a grade or class
  circle of that year or class has one, and no interest circle starts with ``grade-`` or
  ``class-``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from enum import StrEnum

from identity import rules
from identity.accounts import RESERVED_UIDS, check_class_code, check_graduation_year
from identity.dit import Tree
from identity.errors import ValidationError
from identity.markers import N_

CIRCLE_CLASSES = ["groupOfNames", "alumailCircle"]
_NAME_SHAPE = re.compile(rules.CIRCLE_NAME)
# Words mailing-list software gives meaning to as addresses (NAME-owner@, NAME-request@) and
# the placeholder's name; with the service's own role names.
RESERVED_NAMES = RESERVED_UIDS | frozenset(
    {
        "placeholder",
        "owner",
        "owners",
        "request",
        "bounces",
        "confirm",
        "join",
        "leave",
        "subscribe",
        "unsubscribe",
        "list",
        "lists",
        "all",
        "everyone",
        "circles",
        # The portal's own paths under /circles/ (provisioning/web/circles.py).
        "mine",
        "new",
    }
)
GRADE_PREFIX = "grade-"
CLASS_PREFIX = "class-"
TITLE_MAX = rules.CIRCLE_TITLE_MAX
DESCRIPTION_MAX = rules.CIRCLE_DESCRIPTION_MAX
MESSAGE_MAX = 500  # an application's message


class Kind(StrEnum):
    GRADE = "grade"  # every graduate of one year
    CLASS = "class"  # one class (a class code) of one year
    INTEREST = "interest"  # anything alumni create: a city, a club, an industry


class Policy(StrEnum):
    OPEN = "open"  # an application is approved at once
    APPROVAL = "approval"  # an owner or moderator decides
    INVITE = "invite"  # no applications: owners and moderators add members


class Visibility(StrEnum):
    LISTED = "listed"
    HIDDEN = "hidden"  # seen by members and staff only


def check_circle_name(name: str, *, field: str = "name") -> str:
    if not rules.CIRCLE_NAME_MIN <= len(name) <= rules.CIRCLE_NAME_MAX:
        raise ValidationError(
            field,
            N_("must be {low} to {high} characters long").format(
                low=rules.CIRCLE_NAME_MIN, high=rules.CIRCLE_NAME_MAX
            ),
        )
    if not (name.isascii() and _NAME_SHAPE.fullmatch(name)):
        raise ValidationError(
            field,
            N_(
                "may contain only lowercase letters a-z and digits, with single separators "
                ". - _ between them"
            ),
        )
    if name in RESERVED_NAMES:
        raise ValidationError(field, N_("'{name}' is reserved for the service").format(name=name))
    return name


def _check_text(value: str, field: str, limit: int, *, lines: bool) -> str:
    text = unicodedata.normalize("NFC", value.strip())
    if lines:
        text = text.replace("\r\n", "\n")
    if len(text) > limit:
        raise ValidationError(field, N_("must be at most {count} characters").format(count=limit))
    allowed = {"\n"} if lines else set()
    if any(unicodedata.category(c).startswith("C") and c not in allowed for c in text):
        raise ValidationError(field, N_("must not contain control or invisible format characters"))
    return text


def check_title(value: str, *, field: str = "title") -> str:
    """Any script, 1 to 80 characters, one line."""
    text = _check_text(value, field, TITLE_MAX, lines=False)
    if not text:
        raise ValidationError(field, N_("must not be empty"))
    return text


def check_description(value: str, *, field: str = "description") -> str:
    """Any script, at most 1000 characters; line breaks allowed."""
    return _check_text(value, field, DESCRIPTION_MAX, lines=True)


def check_message(value: str, *, field: str = "message") -> str:
    """An application's message: any script, at most 500 characters; line breaks allowed."""
    return _check_text(value, field, MESSAGE_MAX, lines=True)


def grade_name(year: int) -> str:
    return f"{GRADE_PREFIX}{year}"


def class_name(code: str) -> str:
    return f"{CLASS_PREFIX}{code.lower()}"


def check_cohort(
    name: str, kind: Kind, year: int | str | None, class_code: str | None
) -> tuple[int | None, str | None]:
    """The year and class code a circle of ``kind`` named ``name`` must carry: a grade circle
    is ``grade-YEAR`` with its year; a class circle ``class-CODE`` with its code (and the year,
    if given); an interest circle neither, nor a cohort circle's name."""
    checked_year = check_graduation_year(year, field="year") if year not in (None, "") else None
    code = check_class_code(class_code) if class_code not in (None, "") else None
    if kind is Kind.GRADE:
        if checked_year is None:
            raise ValidationError("year", N_("a grade circle needs its graduation year"))
        if code is not None:
            raise ValidationError("class_code", N_("a grade circle has no class code"))
        if name != grade_name(checked_year):
            raise ValidationError(
                "name",
                N_("a grade circle of {year} is named {expected}").format(
                    year=checked_year, expected=grade_name(checked_year)
                ),
            )
    elif kind is Kind.CLASS:
        if code is None:
            raise ValidationError("class_code", N_("a class circle needs its class code"))
        if name != class_name(code):
            raise ValidationError(
                "name",
                N_("a class circle of {code} is named {expected}").format(
                    code=code, expected=class_name(code)
                ),
            )
    else:
        if checked_year is not None or code is not None:
            raise ValidationError(
                "kind", N_("an interest circle has no graduation year or class code")
            )
        if name.startswith((GRADE_PREFIX, CLASS_PREFIX)):
            raise ValidationError(
                "name", N_("names starting with grade- or class- are for cohort circles")
            )
    return checked_year, code


@dataclass(frozen=True)
class Circle:
    name: str
    title: str
    kind: Kind
    policy: Policy = Policy.APPROVAL
    visibility: Visibility = Visibility.LISTED
    description: str = ""
    year: int | None = None
    class_code: str | None = None
    # UIDs of alumni (the placeholder never appears here: an empty owners tuple means the
    # service owns the circle).
    owners: tuple[str, ...] = field(default_factory=tuple)
    moderators: tuple[str, ...] = field(default_factory=tuple)
    members: tuple[str, ...] = field(default_factory=tuple)
    # Waits for staff to activate it (settings: circles.interest_approval): seen by its owner
    # and staff only, takes no applications.
    proposed: bool = False

    @property
    def hidden(self) -> bool:
        return self.visibility is Visibility.HIDDEN

    def to_entry(self, tree: Tree) -> dict[str, list[str]]:
        """A new circle's entry: its owners are members, and so is the placeholder."""
        people = sorted(set(self.owners) | set(self.members))
        entry: dict[str, list[str]] = {
            "objectClass": list(CIRCLE_CLASSES),
            "cn": [self.name],
            "alumailCircleTitle": [self.title],
            "alumailCircleKind": [self.kind.value],
            "alumailCirclePolicy": [self.policy.value],
            "alumailCircleVisibility": [self.visibility.value],
            "member": [tree.circle_placeholder, *(tree.person(uid) for uid in people)],
            "owner": [tree.person(uid) for uid in self.owners] or [tree.circle_placeholder],
        }
        if self.description:
            entry["description"] = [self.description]
        if self.year is not None:
            entry["alumailGraduationYear"] = [str(self.year)]
        if self.class_code:
            entry["alumailClassCode"] = [self.class_code]
        if self.proposed:
            entry["alumailCircleState"] = ["proposed"]
        if self.moderators:
            entry["alumailCircleModerator"] = [tree.person(uid) for uid in self.moderators]
        return entry

    @classmethod
    def from_entry(cls, tree: Tree, entry: dict[str, list[str]]) -> Circle:
        def one(attr: str) -> str | None:
            values = entry.get(attr) or []
            return values[0] if values else None

        year = one("alumailGraduationYear")
        return cls(
            name=one("cn") or "",
            title=one("alumailCircleTitle") or "",
            kind=Kind(one("alumailCircleKind") or "interest"),
            policy=Policy(one("alumailCirclePolicy") or "approval"),
            visibility=Visibility(one("alumailCircleVisibility") or "listed"),
            description=one("description") or "",
            year=int(year) if year else None,
            class_code=one("alumailClassCode"),
            owners=uids_of(tree, entry.get("owner", [])),
            moderators=uids_of(tree, entry.get("alumailCircleModerator", [])),
            members=uids_of(tree, entry.get("member", [])),
            proposed=(one("alumailCircleState") or "").lower() == "proposed",
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "title": self.title,
            "kind": self.kind.value,
            "policy": self.policy.value,
            "visibility": self.visibility.value,
            "description": self.description,
            "year": self.year,
            "class_code": self.class_code,
            "owners": list(self.owners),
            "moderators": list(self.moderators),
            "state": "proposed" if self.proposed else "active",
        }


def uids_of(tree: Tree, dns: list[str]) -> tuple[str, ...]:
    """The alumni UIDs among ``dns`` (the placeholder and anything outside ou=people left out)."""
    suffix = "," + tree.people.lower()
    found = []
    for dn in dns:
        rdn, _, parent = dn.partition(",")
        attr, _, value = rdn.partition("=")
        if attr.lower() == "uid" and "," + parent.lower() == suffix:
            found.append(value.lower())
    return tuple(sorted(found))


CIRCLE_ATTRIBUTES = [
    "cn",
    "alumailCircleTitle",
    "alumailCircleKind",
    "alumailCirclePolicy",
    "alumailCircleVisibility",
    "description",
    "alumailGraduationYear",
    "alumailClassCode",
    "owner",
    "alumailCircleModerator",
    "member",
    "alumailCircleState",
]
