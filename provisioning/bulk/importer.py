"""Bulk import of the alumni roster from CSV, online (pipelined adds into the running slapd) or
offline (an LDIF stream into ``slapadd`` with the stack stopped, for a new directory).

The CSV has a header row with exactly the columns ``uid, given_name, family_name,
display_name, student_number, graduation_year, recovery_email`` and optionally
``password_hash`` and ``class_code`` (the class, for the class circles; an import without the
column leaves class codes as they are); an unknown or missing column is an error before
anything is written.
``uid`` must have a value, and ``display_name`` unless the given and family names make one
(family name first with no space for a Han name: 张 + 伟 -> 张伟); the others may be empty.

- Idempotent: an existing account is compared field by field; only changed fields are
  written, and a second run of the same file reports every row unchanged.
- Resumable: every entry is written by one atomic LDAP operation (pipelined, up to 64 in
  flight), so a run killed at any point (even ``kill -9``) leaves whole entries only; a rerun
  creates the rest and reports the others unchanged.
- Not in LDAP transactions (RFC 5805), although slapd 2.5 commits a transaction's adds with one
  fsync (measured 3,400-3,700 adds/s against ~200/s singly): slapd 2.5.13 segfaults in
  back-mdb when a client dies with a transaction open (reproduced with ``kill -9`` of the
  importer), and no import may be able to take the directory down.
- Bad rows are reported (line, column, reason) in a CSV report; good rows still go in.
- ``password_hash`` (a legacy hash slapd verifies) is written when an account is created and
  never overwritten, so a rerun cannot undo a password the alumnus has since changed. Rows
  without one get no usable password (they register or are reset).
- Mailboxes of imported accounts are created by Dovecot on first login or first delivery
  (with the standard folders); ``account create`` makes them at once.
- Memory does not grow with the file: rows are read, checked and written in batches; only the
  UIDs and student numbers seen so far are kept, to catch duplicates within the file.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from identity.accounts import (
    Account,
    check_display_name,
    check_uid,
)
from identity.directory import (
    DirectoryConnection,
    escape,
)
from identity.dit import Tree
from identity.errors import (
    AlumailError,
    ConflictError,
    ValidationError,
)
from identity.ldif import record as to_ldif
from identity.markers import N_
from identity.names import compose_display_name
from identity.passwords import check_stored_hash
from identity.roles import ROOT, Actor
from mailstack.daemons import slapd_offline
from mailstack.errors import DaemonError
from mailstack.files import NotRegularFile, check_replaceable
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning import csvcells, csvrows
from provisioning.audit import AuditLog, audit_path
from provisioning.collaborators import Connections
from provisioning.people.accounts import plan_account
from provisioning.people.lookups import require

COLUMNS = (
    "uid",
    "given_name",
    "family_name",
    "display_name",
    "student_number",
    "graduation_year",
    "recovery_email",
)
OPTIONAL_COLUMNS = ("password_hash", "class_code")
# The columns that are profile fields (PROFILE_RULES), in the order a row's errors are reported.
PROFILE = ("recovery_email", "given_name", "family_name", "student_number", "graduation_year")
# What an import manages on an existing account; status, quota, aliases are left alone.
MANAGED = (
    "cn",
    "displayName",
    "sn",
    "givenName",
    "alumailStudentNumber",
    "alumailGraduationYear",
    "alumailRecoveryEmail",
)
BATCH = 500


@dataclass(frozen=True)
class RowError:
    line: int
    column: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    report_file: str | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds, 1) if self.seconds else None,
            "report_file": self.report_file,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class Row:
    line: int
    account: Account
    password_hash: str | None


def read_rows(
    handle: IO[str], on_problem: csvrows.RowProblem | None = None
) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """The roster's rows, each cell as it was before an export guarded it against spreadsheet
    formulas (:mod:`provisioning.csvcells`), so an export imports again unchanged."""
    header, rows = csvrows.read_rows(handle, COLUMNS, OPTIONAL_COLUMNS, on_problem=on_problem)
    unquoted = (
        (line, {k: csvcells.unquote(v) if isinstance(v, str) else v for k, v in record.items()})
        for line, record in rows
    )
    return header, unquoted


def parse_row(line: int, record: Mapping[str, str | None], settings: Settings) -> Row:
    """One CSV record as an Account (by the rules of every new account, plan_account), or a
    ValidationError naming the column."""
    if None in record:  # more cells than columns
        raise ValidationError("row", "has more cells than the header has columns")

    def cell(name: str) -> str:
        return (record.get(name) or "").strip()

    uid = check_uid(cell("uid"))
    # Checked here first only to name the column in the report (the rule calls it "name").
    # An empty display name is composed from the parts (张 + 伟 -> 张伟, Wei + Zhang -> Wei Zhang).
    display = cell("display_name")
    if not display and cell("given_name") and cell("family_name"):
        display = compose_display_name(cell("given_name"), cell("family_name"))
    display = check_display_name(display, field="display_name")
    profile = {name: cell(name) for name in PROFILE}
    if "class_code" in record:  # an optional column: a file without it leaves class codes be
        profile["class_code"] = cell("class_code")
    account = plan_account(settings, uid, display, **profile)
    hashed = cell("password_hash")
    return Row(line, account, check_stored_hash(hashed) if hashed else None)


def check_unique(row: Row, uids: set[str], numbers: dict[str, str]) -> None:
    """Refuse a UID or student number already given to another row of the same file."""
    uid = row.account.uid
    if uid in uids:
        raise ValidationError("uid", f"'{uid}' appears more than once in the file")
    uids.add(uid)
    number = row.account.student_number
    if number:
        if number in numbers and numbers[number] != uid:
            raise ValidationError(
                "student_number", f"{number} is also given to '{numbers[number]}' in the file"
            )
        numbers[number] = uid


def count_rows(path: Path) -> int:
    """Rows in the file (for a progress bar), counted in bounded chunks."""
    with csvrows.open_csv(path) as text:
        handle = text.buffer
        lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    return max(0, lines - 1)


class Importer:
    """The online import for ``actor``, on the connections and audit log it is handed
    (provisioning.composition.Composition.importer): the actor's own connection, so slapd's
    ACLs judge every read and write too."""

    def __init__(
        self, settings: Settings, actor: Actor = ROOT, *, connections: Connections, audit: AuditLog
    ) -> None:
        self.settings = settings
        self.actor = actor
        self.tree = Tree(settings.base_dn)
        self.connections = connections
        self.audit = audit
        self._managed: tuple[str, ...] = MANAGED  # what the file being imported manages

    def run(
        self,
        path: Path,
        *,
        dry_run: bool = False,
        report_path: Path | None = None,
        progress: Callable[[int], None] | None = None,
        window: int = 64,
    ) -> ImportReport:
        target = report_path or path.with_name(path.name + ".report.csv")
        check_writable(target, "report")  # before any row goes in: bad rows must be reportable
        if dry_run:  # a read: never audited
            if not self.actor.can_administer():
                require(self.actor, False, N_("import accounts"))
            return self._run(ImportReport(dry_run=True), path, report_path, progress, window)
        with self.audit.action(self.actor, "import", path.name) as outcome:
            if not self.actor.can_administer():
                require(self.actor, False, N_("import accounts"))
            report = ImportReport()
            try:
                self._run(report, path, report_path, progress, window)
            except AlumailError as error:  # slapd gone, say: what went in is whole (rerun)
                done = f"{report.created} accounts created, {report.updated} updated before this"
                error.detail = "\n".join(filter(None, [error.detail, done]))
                raise
            outcome.result = "partial" if report.failed else None
            outcome.changes = {
                k: v
                for k, v in report.as_dict().items()
                if k in ("rows", "created", "updated", "unchanged", "failed")
            }
        return report

    def _run(
        self,
        report: ImportReport,
        path: Path,
        report_path: Path | None,
        progress: Callable[[int], None] | None,
        window: int,
    ) -> ImportReport:
        dry_run = report.dry_run
        start = time.perf_counter()
        seen_uids: set[str] = set()
        seen_numbers: dict[str, str] = {}

        def unreadable(line: int, column: str, reason: str) -> None:
            report.rows += 1
            report.errors.append(RowError(line, column, reason))

        directory = self.connections.as_actor(self.actor)
        with csvrows.open_csv(path) as handle:
            header, records = read_rows(handle, unreadable)
            # Class codes are managed only by a file that has the column.
            self._managed = (*MANAGED, "alumailClassCode") if "class_code" in header else MANAGED
            for batch in _batched(records, BATCH):
                rows: list[Row] = []
                for line, record in batch:
                    report.rows += 1
                    try:
                        row = parse_row(line, record, self.settings)
                        check_unique(row, seen_uids, seen_numbers)
                        rows.append(row)
                    except ValidationError as error:
                        report.errors.append(RowError(line, error.field, error.rule))
                writes = self._plan(directory, rows, report)
                if dry_run:
                    for write in writes:
                        setattr(report, write.kind, getattr(report, write.kind) + 1)
                else:
                    self._write(directory, writes, report, window)
                if progress:
                    progress(len(batch))
        report.failed = len(report.errors)
        report.errors.sort(key=lambda e: e.line)
        report.seconds = time.perf_counter() - start
        if report.errors:
            target = report_path or path.with_name(path.name + ".report.csv")
            write_report(target, report.errors)
            report.report_file = str(target)
        return report

    def _existing(
        self, directory: DirectoryConnection, rows: list[Row]
    ) -> dict[str, dict[str, list[str]]]:
        if not rows:
            return {}
        terms = "".join(f"(uid={escape(r.account.uid)})" for r in rows)
        found = directory.search(
            self.tree.people, f"(|{terms})", ["uid", *self._managed], scope="one"
        )
        return {entry["uid"][0]: entry for _, entry in found}

    def _numbers_taken(self, directory: DirectoryConnection, rows: list[Row]) -> dict[str, str]:
        numbers = [r.account.student_number for r in rows if r.account.student_number]
        if not numbers:
            return {}
        terms = "".join(f"(alumailStudentNumber={escape(n)})" for n in numbers)
        found = directory.search(
            self.tree.people, f"(|{terms})", ["uid", "alumailStudentNumber"], scope="one"
        )
        return {e["alumailStudentNumber"][0]: e["uid"][0] for _, e in found}

    def _plan(
        self, directory: DirectoryConnection, rows: list[Row], report: ImportReport
    ) -> list[Write]:
        """The writes one batch needs; unchanged rows and conflicts are counted here."""
        existing = self._existing(directory, rows)
        taken = self._numbers_taken(directory, rows)
        writes = []
        for row in rows:
            account = row.account
            owner = taken.get(account.student_number or "")
            if owner and owner != account.uid:
                reason = f"{account.student_number} already belongs to '{owner}'"
                report.errors.append(RowError(row.line, "student_number", reason))
                continue
            dn = self.tree.person(account.uid)
            current = existing.get(account.uid)
            if current is None:
                writes.append(Write(row.line, "created", dn, account.to_entry(row.password_hash)))
                continue
            wanted = account.attributes()
            changes = {
                a: wanted[a]
                for a in self._managed
                if sorted(wanted[a]) != sorted(current.get(a, []))
            }
            if changes:
                writes.append(Write(row.line, "updated", dn, changes))
            else:
                report.unchanged += 1
        return writes

    @staticmethod
    def _write(
        directory: DirectoryConnection, writes: list[Write], report: ImportReport, window: int
    ) -> None:
        """The batch's writes, pipelined: up to ``window`` in flight, so slapd works on the next
        entries while it waits for the disk on the current one. Each entry is one atomic
        operation; a failing one is named in the report and the others still go in."""
        pipeline = directory.pipeline(window)
        by_line = {write.line: write for write in writes}
        for write in writes:
            if write.kind == "created":
                pipeline.add(write.dn, write.values, write.line)
            else:
                pipeline.replace(write.dn, write.values, write.line)
        for tag, error in pipeline.drain():
            write = by_line[int(str(tag))]
            if error is None:
                setattr(report, write.kind, getattr(report, write.kind) + 1)
            else:
                report.errors.append(RowError(write.line, "uid", error.message))


@dataclass(frozen=True)
class Write:
    line: int
    kind: str  # "created" | "updated"
    dn: str
    values: dict[str, list[str]]


def check_writable(path: Path, field: str) -> None:
    """A file can be written at ``path`` (tried with its ``.partial`` name, then removed). The
    finished file replaces what ``path`` names: never a device, a FIFO or a folder (``-o
    /dev/null`` would replace the host's /dev/null)."""
    partial = path.with_name(path.name + ".partial")
    try:
        check_replaceable(path)
    except NotRegularFile as exc:
        raise ValidationError(field, f"{path} exists and is not a regular file") from exc
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(field, f"{path} cannot be written: {why}") from exc
    try:
        with open(partial, "w", encoding="utf-8"):
            pass
        partial.unlink()
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValidationError(field, f"{path} cannot be written: {why}") from exc


def write_report(path: Path, errors: Iterable[RowError]) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as handle:
        writer = csvcells.Writer(handle)  # reasons quote what the roster held
        writer.writerow(["line", "column", "reason"])
        for error in errors:
            writer.writerow([error.line, error.column, error.reason])
    partial.replace(path)


def _batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


# -- offline ------------------------------------------------------------------------------------


def offline_import(settings: Settings, path: Path) -> ImportReport:
    """First load of a roster into a new directory: an LDIF stream piped into ``slapadd -q``
    while the stack is stopped. Refuses a directory that already holds accounts. Bad rows are
    reported and skipped, as online."""
    audit = AuditLog(audit_path(settings.state_dir))
    with audit.action(ROOT, "import-offline", path.name) as outcome:
        report = _offline_load(settings, path)
        outcome.result = "partial" if report.failed else None
        outcome.changes = {"rows": report.rows, "created": report.created, "failed": report.failed}
    return report


def _offline_load(settings: Settings, path: Path) -> ImportReport:
    # A roster that cannot be read or a report that cannot be written stops us before slapadd.
    csvrows.open_csv(path).close()
    check_writable(path.with_name(path.name + ".report.csv"), "report")
    layout = Layout(settings.state_dir)
    tree = Tree(settings.base_dn)
    if slapd_offline.running(layout):
        raise DaemonError("offline import needs the stack stopped: run `alumail down` first")
    if slapd_offline.holds(layout, f"ldap:///{tree.people}??one?(objectClass=alumailAccount)"):
        raise ConflictError("the directory already holds accounts: use the online import")
    report = ImportReport()
    start = time.perf_counter()

    def unreadable(line: int, column: str, reason: str) -> None:
        report.rows += 1
        report.errors.append(RowError(line, column, reason))

    def entries() -> Iterator[str]:
        """The roster's good rows as LDIF, the bad ones reported and skipped."""
        seen_uids: set[str] = set()
        seen_numbers: dict[str, str] = {}
        with csvrows.open_csv(path) as handle:
            _, records = read_rows(handle, unreadable)
            for line, record in records:
                report.rows += 1
                try:
                    row = parse_row(line, record, settings)
                    check_unique(row, seen_uids, seen_numbers)
                except ValidationError as error:
                    report.errors.append(RowError(line, error.field, error.rule))
                    continue
                report.created += 1
                yield to_ldif(tree.person(row.account.uid), row.account.to_entry(row.password_hash))

    slapd_offline.load(layout, entries(), what="the roster")
    report.failed = len(report.errors)
    report.seconds = time.perf_counter() - start
    if report.errors:
        target = path.with_name(path.name + ".report.csv")
        write_report(target, report.errors)
        report.report_file = str(target)
    return report
