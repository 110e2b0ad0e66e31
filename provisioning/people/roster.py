"""The alumni roster: the graduates entitled to a jAccount, from the university's records.

Loading it (``alumail roster import``) creates no account: an alumnus registers on the web,
proving who they are against their roster entry, and an entry registers once.

CSV columns: ``student_number,name,birth_date,graduation_year,legacy_address``; birth date as
YYYY-MM-DD; at least one of birth date and graduation year; ``legacy_address`` is the old
lifelong mailbox, if the graduate has one (their mail moves over later).
"""

from __future__ import annotations

import datetime
import hmac
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from identity.accounts import (
    check_address,
    check_display_name,
    check_graduation_year,
    check_student_number,
)
from identity.errors import ValidationError
from identity.markers import N_
from identity.roles import Actor
from provisioning.audit import AuditLog
from provisioning.csvrows import open_csv, read_rows
from provisioning.people.lookups import require
from provisioning.store import Store

COLUMNS = ("student_number", "name", "birth_date", "graduation_year", "legacy_address")


@dataclass(frozen=True)
class Graduate:
    student_number: str
    name: str
    birth_date: str | None
    graduation_year: int | None
    legacy_address: str | None
    registered_uid: str | None = None

    def row(self) -> tuple[object, ...]:
        return (
            self.student_number,
            self.name,
            self.birth_date,
            self.graduation_year,
            self.legacy_address,
        )


def check_birth_date(value: str, *, field: str = "birth_date") -> str:
    try:
        day = datetime.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise ValidationError(field, N_("must be a date as YYYY-MM-DD")) from exc
    if not datetime.date(1880, 1, 1) <= day <= datetime.date.today():
        raise ValidationError(field, N_("must be a past date after 1880"))
    return day.isoformat()


def graduate_from(values: dict[str, str]) -> Graduate:
    birth = (values.get("birth_date") or "").strip()
    year = (values.get("graduation_year") or "").strip()
    legacy = (values.get("legacy_address") or "").strip()
    if not birth and not year:
        raise ValidationError("birth_date", N_("give a birth date or a graduation year (or both)"))
    return Graduate(
        student_number=check_student_number(values.get("student_number") or ""),
        name=check_display_name(values.get("name") or ""),
        birth_date=check_birth_date(birth) if birth else None,
        graduation_year=check_graduation_year(year, field="graduation_year") if year else None,
        legacy_address=check_address(legacy, field="legacy_address") if legacy else None,
    )


@dataclass
class RosterReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[tuple[int, str, str]] = field(default_factory=list)  # line, column, reason

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
        if dry_run:
            require(actor, actor.can_administer(), "import the roster")
            return load_csv(self.store, path, dry_run=True)
        with self.audit.action(actor, "roster-import", str(path)) as outcome:
            require(actor, actor.can_administer(), "import the roster")
            report = load_csv(self.store, path)
            outcome.changes = {
                "added": report.added,
                "updated": report.updated,
                "failed": len(report.errors),
            }
            outcome.unchanged = not (report.added or report.updated or report.errors)
            if report.errors:
                outcome.result = "partial"
        return report


def load_csv(store: Store, path: Path, *, dry_run: bool = False) -> RosterReport:
    """Add or update roster entries from ``path``. A bad row is reported and skipped; a
    header that is not exactly the roster's columns stops everything before any change."""
    report = RosterReport()

    def unreadable(line: int, column: str, reason: str) -> None:
        report.errors.append((line, column, reason))

    with open_csv(path) as handle:
        _, rows = read_rows(handle, COLUMNS, on_problem=unreadable)
        graduates: list[Graduate] = []
        seen: dict[str, int] = {}
        for line, values in rows:
            try:
                graduate = graduate_from(values)
            except ValidationError as error:
                report.errors.append((line, error.field, error.rule))
                continue
            if graduate.student_number in seen:
                report.errors.append(
                    (line, "student_number", f"repeats line {seen[graduate.student_number]}")
                )
                continue
            seen[graduate.student_number] = line
            graduates.append(graduate)
    _upsert(store, graduates, report, dry_run=dry_run)
    return report


def _upsert(
    store: Store, graduates: Iterable[Graduate], report: RosterReport, *, dry_run: bool
) -> None:
    with store.connect() as db:
        for graduate in graduates:
            row = db.execute(
                "SELECT student_number, name, birth_date, graduation_year, legacy_address "
                "FROM roster WHERE student_number = ?",
                (graduate.student_number,),
            ).fetchone()
            if row == graduate.row():
                report.unchanged += 1
                continue
            if row is None:
                report.added += 1
            else:
                report.updated += 1
            if not dry_run:
                db.execute(
                    "INSERT INTO roster (student_number, name, birth_date, graduation_year, "
                    "legacy_address) VALUES (?, ?, ?, ?, ?) ON CONFLICT (student_number) DO "
                    "UPDATE SET name = excluded.name, birth_date = excluded.birth_date, "
                    "graduation_year = excluded.graduation_year, "
                    "legacy_address = excluded.legacy_address",
                    graduate.row(),
                )


def lookup(store: Store, student_number: str) -> Graduate | None:
    with store.connect() as db:
        row = db.execute(
            "SELECT student_number, name, birth_date, graduation_year, legacy_address, "
            "registered_uid FROM roster WHERE student_number = ?",
            (student_number,),
        ).fetchone()
    return Graduate(*row) if row else None


def _folded(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def proves(graduate: Graduate, name: str, birth_date: str | None, year: int | None) -> bool:
    """The person's answers match the entry: the name (case and spacing aside) and the birth
    date, or the graduation year where the roster has no birth date."""
    ok = hmac.compare_digest(_folded(graduate.name).encode(), _folded(name).encode())
    if graduate.birth_date is not None:
        ok &= birth_date == graduate.birth_date
    else:
        ok &= year is not None and year == graduate.graduation_year
    return ok


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
