"""The alumni roster: the graduates entitled to a jAccount, from the university's records.

Loading it (``alumail roster import``) creates no account: an alumnus registers on the web,
proving who they are against their roster entry, and an entry registers once.

CSV columns: ``student_number,name,birth_date,graduation_year,legacy_address`` and optionally
``latin_name`` and ``class_code``; birth date as YYYY-MM-DD (or 2001年3月9日, 2001/3/9, 2001.3.9);
at least one of birth date and graduation year; ``legacy_address`` is the old lifelong mailbox,
if the graduate has one (their mail moves over later); ``latin_name`` a Latin-script spelling of
a Han name (Zhang Wei beside 张伟), accepted at registration as well as the name itself;
``class_code`` the class (one class of one year) the graduate was in, copied to the account at
registration (the class circle: provisioning/circles).
"""

from __future__ import annotations

import datetime
import hmac
import io
import re
import sqlite3
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from identity.accounts import (
    check_address,
    check_class_code,
    check_display_name,
    check_graduation_year,
    check_student_number,
)
from identity.errors import ValidationError
from identity.markers import N_
from identity.names import folded, pinyin_keys, search_key, sort_key
from identity.roles import Actor
from provisioning.audit import AuditLog
from provisioning.csvrows import open_csv, read_rows
from provisioning.people.lookups import require
from provisioning.store import Store

COLUMNS = ("student_number", "name", "birth_date", "graduation_year", "legacy_address")
OPTIONAL_COLUMNS = ("latin_name", "class_code")
# A roster file handed over the web (the admin console): 100,000 graduates fit in about 8 MiB.
UPLOAD_MAX_BYTES = 8 * 2**20
# What a spreadsheet takes for a formula at the start of a cell (CSV injection): no name does.
FORMULA_STARTS = "=+-@"


@dataclass(frozen=True)
class Graduate:
    student_number: str
    name: str
    birth_date: str | None
    graduation_year: int | None
    legacy_address: str | None
    latin_name: str | None = None
    class_code: str | None = None
    registered_uid: str | None = None

    def row(self) -> tuple[object, ...]:
        return (
            self.student_number,
            self.name,
            self.birth_date,
            self.graduation_year,
            self.legacy_address,
            self.latin_name,
            self.class_code,
        )

    def listed(self) -> dict[str, object]:
        """What staff see of the entry in a list: never the birth date (it is what proves a
        graduate at registration) nor the old address."""
        return {
            "student_number": self.student_number,
            "name": self.name,
            "latin_name": self.latin_name,
            "graduation_year": self.graduation_year,
            "class_code": self.class_code,
            "registered_uid": self.registered_uid,
        }

    def names(self) -> tuple[str, ...]:
        """The names that prove who this is: the roster's name and its Latin spelling if any."""
        return (self.name,) if self.latin_name is None else (self.name, self.latin_name)


# The forms people write a date in: 2001-03-09, 2001年3月9日, 2001/3/9, 2001.3.9 (after NFKC, so
# full-width digits and separators are the same).
_DATE_FORMS = re.compile(
    r"(?P<y>[0-9]{4})"
    r"(?:(?P<s>[-/.])(?P<m>[0-9]{1,2})(?P=s)(?P<d>[0-9]{1,2})"
    r"|年(?P<cm>[0-9]{1,2})月(?P<cd>[0-9]{1,2})日?)"
)
DATE_RULE = N_("must be a date such as 1993-05-17 or 1993年5月17日")


def check_birth_date(value: str, *, field: str = "birth_date") -> str:
    """A birth date in one of the forms people write (see _DATE_FORMS), as YYYY-MM-DD."""
    text = "".join(unicodedata.normalize("NFKC", value).split())
    found = _DATE_FORMS.fullmatch(text)
    if found is None:
        raise ValidationError(field, DATE_RULE)
    month, day = found["m"] or found["cm"], found["d"] or found["cd"]
    try:
        date = datetime.date(int(found["y"]), int(month), int(day))
    except ValueError as exc:
        raise ValidationError(
            field, N_("is not a date of the calendar (check the month and day)")
        ) from exc
    if not datetime.date(1880, 1, 1) <= date <= datetime.date.today():
        raise ValidationError(field, N_("must be a past date after 1880"))
    return date.isoformat()


def check_roster_name(value: str, *, field: str) -> str:
    """A name on the roster: a display name that does not start as a spreadsheet formula (the
    university's export may carry one; no name does, and the console shows what it holds)."""
    name = check_display_name(value, field=field)
    if name[0] in FORMULA_STARTS:
        raise ValidationError(field, N_("must not start with = + - or @ (a spreadsheet formula)"))
    return name


def graduate_from(values: dict[str, str]) -> Graduate:
    birth = (values.get("birth_date") or "").strip()
    year = (values.get("graduation_year") or "").strip()
    legacy = (values.get("legacy_address") or "").strip()
    latin = (values.get("latin_name") or "").strip()
    code = (values.get("class_code") or "").strip()
    if not birth and not year:
        raise ValidationError("birth_date", N_("give a birth date or a graduation year (or both)"))
    return Graduate(
        student_number=check_student_number(values.get("student_number") or ""),
        name=check_roster_name(values.get("name") or "", field="name"),
        birth_date=check_birth_date(birth) if birth else None,
        graduation_year=check_graduation_year(year, field="graduation_year") if year else None,
        legacy_address=check_address(legacy, field="legacy_address") if legacy else None,
        latin_name=check_roster_name(latin, field="latin_name") if latin else None,
        class_code=check_class_code(code) if code else None,
    )


class RowOutcome:
    ADDED = "added"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass
class RosterReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # line, column, reason
    # Each good row's line and outcome (RowOutcome), in the file's order: the console's table.
    rows: list[tuple[int, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": len(self.errors),
            "errors": [{"line": n, "column": c, "reason": r} for n, c, r in self.errors],
        }


class RosterImport:
    """Importing the roster: an admin's change, audited (a dry run changes nothing and is not
    recorded, like any read)."""

    def __init__(self, store: Store, audit: AuditLog) -> None:
        self.store = store
        self.audit = audit

    def load_csv(self, actor: Actor, path: Path, *, dry_run: bool = False) -> RosterReport:
        return self._load(actor, lambda: open_csv(path), str(path), dry_run)

    def load_upload(
        self, actor: Actor, data: bytes, name: str, *, dry_run: bool = False
    ) -> RosterReport:
        """A roster file handed over the web (``name`` as the browser gave it, for the audit
        line). Refused whole, before any row is read, when it is larger than UPLOAD_MAX_BYTES,
        empty, binary (a NUL byte: a spreadsheet's own format, UTF-16) or not UTF-8 (a GBK
        export would otherwise have its Han rows refused one by one and the rest go in)."""
        shown = "".join(c for c in name[:80] if c.isprintable()) or "-"

        def opened() -> TextIO:
            check_upload(data)
            return io.TextIOWrapper(
                io.BytesIO(data), encoding="utf-8-sig", errors="strict", newline=""
            )

        return self._load(actor, opened, f"upload {shown}", dry_run)

    def _load(
        self, actor: Actor, opened: Callable[[], TextIO], target: str, dry_run: bool
    ) -> RosterReport:
        if dry_run:
            require(actor, actor.can_administer(), N_("import the roster"))
            with opened() as handle:
                return load_rows(self.store, handle, dry_run=True)
        with self.audit.action(actor, "roster-import", target) as outcome:
            require(actor, actor.can_administer(), N_("import the roster"))
            with opened() as handle:
                report = load_rows(self.store, handle)
            outcome.changes = {
                "added": report.added,
                "updated": report.updated,
                "failed": len(report.errors),
            }
            outcome.unchanged = not (report.added or report.updated or report.errors)
            if report.errors:
                outcome.result = "partial"
        return report


def check_upload(data: bytes) -> None:
    """A roster file as bytes: at most UPLOAD_MAX_BYTES of UTF-8 text (see load_upload)."""
    if len(data) > UPLOAD_MAX_BYTES:
        raise ValidationError(
            "file",
            N_("is larger than {size} MiB: split the roster into smaller files").format(
                size=UPLOAD_MAX_BYTES // 2**20
            ),
        )
    if not data.strip():
        raise ValidationError("file", N_("is empty"))
    if b"\0" in data:
        raise ValidationError(
            "file", N_("is not a CSV text file (it holds binary data): save it as CSV UTF-8")
        )
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            "file",
            N_("is not UTF-8 text (line {line}): save it as CSV UTF-8").format(line=line),
        ) from exc


def load_csv(store: Store, path: Path, *, dry_run: bool = False) -> RosterReport:
    """Add or update roster entries from ``path`` (see load_rows)."""
    with open_csv(path) as handle:
        return load_rows(store, handle, dry_run=dry_run)


def load_rows(store: Store, handle: TextIO, *, dry_run: bool = False) -> RosterReport:
    """Add or update roster entries from the CSV text ``handle`` reads. A bad row is reported
    and skipped; a header that is not exactly the roster's columns stops everything before any
    change."""
    report = RosterReport()

    def unreadable(line: int, column: str, reason: str) -> None:
        report.errors.append((line, column, reason))

    _, rows = read_rows(handle, COLUMNS, OPTIONAL_COLUMNS, on_problem=unreadable)
    graduates: list[tuple[int, Graduate]] = []
    seen: dict[str, int] = {}
    for line, values in rows:
        try:
            graduate = graduate_from(values)
        except ValidationError as error:
            report.errors.append((line, error.field, error.rule))
            continue
        if graduate.student_number in seen:
            first = seen[graduate.student_number]
            report.errors.append(
                (line, "student_number", N_("repeats line {line}").format(line=first))
            )
            continue
        seen[graduate.student_number] = line
        graduates.append((line, graduate))
    _upsert(store, graduates, report, dry_run=dry_run)
    return report


def _upsert(
    store: Store, graduates: Iterable[tuple[int, Graduate]], report: RosterReport, *, dry_run: bool
) -> None:
    with store.connect() as db:
        for line, graduate in graduates:
            row = db.execute(
                "SELECT student_number, name, birth_date, graduation_year, legacy_address, "
                "latin_name, class_code FROM roster WHERE student_number = ?",
                (graduate.student_number,),
            ).fetchone()
            if row == graduate.row():
                report.unchanged += 1
                report.rows.append((line, RowOutcome.UNCHANGED))
                continue
            if row is None:
                report.added += 1
            else:
                report.updated += 1
            report.rows.append((line, RowOutcome.ADDED if row is None else RowOutcome.UPDATED))
            if not dry_run:
                db.execute(
                    "INSERT INTO roster (student_number, name, birth_date, graduation_year, "
                    "legacy_address, latin_name, class_code, search_keys) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (student_number) DO "
                    "UPDATE SET name = excluded.name, birth_date = excluded.birth_date, "
                    "graduation_year = excluded.graduation_year, "
                    "legacy_address = excluded.legacy_address, latin_name = excluded.latin_name, "
                    "class_code = excluded.class_code, search_keys = excluded.search_keys",
                    (*graduate.row(), search_keys(graduate)),
                )


def lookup(store: Store, student_number: str) -> Graduate | None:
    with store.connect() as db:
        row = db.execute(
            "SELECT student_number, name, birth_date, graduation_year, legacy_address, "
            "latin_name, class_code, registered_uid FROM roster WHERE student_number = ?",
            (student_number,),
        ).fetchone()
    return Graduate(*row) if row else None


def search_keys(graduate: Graduate) -> str:
    """What a search of the roster compares with, kept on each row as it is written (pinyin
    takes about 100 µs a name: a roster of 100,000 is not converted at every search): the
    student number, the names as written and the Han name's pinyin spellings, folded
    (identity.names.search_key), one a line."""
    keys = [search_key(graduate.student_number), *map(search_key, graduate.names())]
    return "\n".join([*keys, *pinyin_keys(graduate.name)])


def unregistered_matching(store: Store, query: str, limit: int) -> list[Graduate]:
    """Graduates on the roster who have not registered, found by a part of their name (as
    identity.names.name_matches: Han, pinyin, the Latin spelling) or of their student number;
    by student number, at most ``limit``."""
    key = search_key(query)
    if not key:
        return []
    pattern = _like(key)
    with store.connect() as db:
        _add_missing_keys(db)
        rows = db.execute(
            "SELECT student_number, name, birth_date, graduation_year, legacy_address, "
            "latin_name, class_code, registered_uid FROM roster WHERE registered_uid IS NULL "
            "AND search_keys LIKE ? ESCAPE '\\' ORDER BY student_number LIMIT ?",
            (pattern, limit),
        ).fetchall()
    return [Graduate(*row) for row in rows]


def _like(key: str) -> str:
    """A LIKE pattern (ESCAPE '\\') finding ``key`` anywhere, its wildcards taken literally."""
    return "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


ROSTER_ORDERS = ("student_number", "name")
_GRADUATE_COLUMNS = (
    "student_number, name, birth_date, graduation_year, legacy_address, latin_name, class_code, "
    "registered_uid"
)


def listing(
    store: Store,
    *,
    query: str | None = None,
    unregistered: bool = False,
    limit: int | None = None,
    offset: int = 0,
    sort: str = "student_number",
) -> list[Graduate]:
    """The roster's graduates (only those not registered yet with ``unregistered``), found by
    a part of their name or student number as unregistered_matching finds them, by student
    number or by name (a Han name by its pinyin; the student number, unique, breaks ties, so
    an offset pages one order)."""
    if sort not in ROSTER_ORDERS:
        raise ValidationError("sort", N_("must be student_number or name"))
    terms, values = ["1 = 1"], []
    if unregistered:
        terms.append("registered_uid IS NULL")
    if query is not None:
        key = search_key(query)
        if not key:
            raise ValidationError("search", N_("must not be empty or only spaces"))
        terms.append("search_keys LIKE ? ESCAPE '\\'")
        values.append(_like(key))
    where = " AND ".join(terms)
    with store.connect() as db:
        _add_missing_keys(db)
        if sort == "student_number":
            rows = db.execute(
                f"SELECT {_GRADUATE_COLUMNS} FROM roster WHERE {where} "  # noqa: S608 -- fixed terms
                "ORDER BY student_number LIMIT ? OFFSET ?",
                (*values, -1 if limit is None else limit, offset),
            ).fetchall()
            return [Graduate(*row) for row in rows]
        rows = db.execute(
            f"SELECT {_GRADUATE_COLUMNS} FROM roster WHERE {where}",  # noqa: S608 -- fixed terms
            values,
        ).fetchall()
    graduates = sorted(
        (Graduate(*row) for row in rows), key=lambda g: (sort_key(g.name), g.student_number)
    )
    end = offset + limit if limit is not None else None
    return graduates[offset:end]


def _add_missing_keys(db: sqlite3.Connection) -> None:
    """Rows loaded before search keys were kept get theirs (once)."""
    missing = db.execute(
        "SELECT student_number, name, birth_date, graduation_year, legacy_address, latin_name, "
        "class_code FROM roster WHERE search_keys IS NULL"
    ).fetchall()
    db.executemany(
        "UPDATE roster SET search_keys = ? WHERE student_number = ?",
        [(search_keys(Graduate(*row)), row[0]) for row in missing],
    )


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(folded(a).encode(), folded(b).encode())


def mismatch(
    graduate: Graduate, name: str, birth_date: str | None, year: int | None
) -> tuple[str, str] | None:
    """The first answer that does not match the entry, as (field, reason); None when they prove
    who this is: the name (NFKC, case and spaces of any width aside; the roster's Latin-script
    spelling counts too) and every date answer given, of which at least one the roster can check
    (the birth date, or the graduation year: either is enough where the roster holds it)."""
    if not any(_same(known, name) for known in graduate.names()):
        return "name", N_("does not match the name on the alumni roster for this student number")
    checked = False
    if birth_date is not None and graduate.birth_date is not None:
        if birth_date != graduate.birth_date:
            return "birth_date", N_("does not match the alumni roster")
        checked = True
    if year is not None and graduate.graduation_year is not None:
        if year != graduate.graduation_year:
            return "graduation_year", N_("does not match the alumni roster")
        checked = True
    if checked:
        return None
    if graduate.birth_date is not None:
        return (
            "birth_date",
            N_("the alumni roster holds your date of birth, not your graduation year: give it"),
        )
    return (
        "graduation_year",
        N_("the alumni roster holds your graduation year, not your date of birth: give it"),
    )


def proves(graduate: Graduate, name: str, birth_date: str | None, year: int | None) -> bool:
    return mismatch(graduate, name, birth_date, year) is None


def mark_registered(store: Store, student_number: str, uid: str) -> bool:
    """Record the registration; False if the entry had registered already (a race lost)."""
    with store.connect() as db:
        cursor = db.execute(
            "UPDATE roster SET registered_uid = ?, registered_at = ? "
            "WHERE student_number = ? AND registered_uid IS NULL",
            (uid, time.time(), student_number),
        )
        return cursor.rowcount == 1


def counts(store: Store) -> dict[str, int]:
    with store.connect() as db:
        total, registered = db.execute(
            "SELECT COUNT(*), COUNT(registered_uid) FROM roster"
        ).fetchone()
    return {"graduates": total, "registered": registered}
