"""Export of the directory's accounts (all, or a filter) as CSV, LDIF or JSON lines, streamed
page by page so a directory of any size leaves memory flat (in directory order, not sorted).
The CSV has the import columns first, so an export can be imported again (cells that a
spreadsheet would take for a formula are guarded, and the import undoes it)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import IO

from identity.accounts import ACCOUNT_ATTRIBUTES, Account, AccountStatus
from identity.directory import DirectoryConnection, escape
from identity.dit import Tree
from identity.ldif import record as to_ldif
from mailstack.settings import Settings
from provisioning import csvcells
from provisioning.bulk.importer import COLUMNS

FORMATS = ("csv", "ldif", "json")
EXTRA_COLUMNS = ("mail", "aliases", "status", "quota")
Writer = Callable[[str, dict[str, list[str]], Settings], None]


def account_filter(status: AccountStatus | None, graduation_year: int | None) -> str:
    terms = ["(objectClass=alumailAccount)"]
    if status is not None:
        terms.append(f"(alumailAccountStatus={escape(status.value)})")
    if graduation_year is not None:
        terms.append(f"(alumailGraduationYear={int(graduation_year)})")
    return f"(&{''.join(terms)})"


def export(
    settings: Settings,
    out: IO[str],
    fmt: str,
    directory: DirectoryConnection,
    *,
    status: AccountStatus | None = None,
    graduation_year: int | None = None,
) -> int:
    """Write the accounts ``directory`` finds (the actor's connection: slapd's ACLs judge the
    read) to ``out``; returns how many."""
    tree = Tree(settings.base_dn)
    count = 0
    rows = directory.iter_search(
        tree.people,
        account_filter(status, graduation_year),
        ["objectClass", *ACCOUNT_ATTRIBUTES],
    )
    writer = _writers[fmt](out)
    for dn, entry in rows:
        writer(dn, entry, settings)
        count += 1
    return count


def _csv(out: IO[str]) -> Writer:
    writer = csvcells.Writer(out)  # names are the alumni's own: no cell becomes a formula
    writer.writerow([*COLUMNS, *EXTRA_COLUMNS])

    def write(dn: str, entry: dict[str, list[str]], settings: Settings) -> None:
        a = Account.from_entry(entry, default_quota=settings.default_quota)
        writer.writerow(
            [
                a.uid,
                a.given_name or "",
                a.family_name or "",
                a.display_name,
                a.student_number or "",
                a.graduation_year or "",
                a.recovery_email or "",
                a.mail,
                " ".join(a.aliases),
                a.status.value,
                a.quota,
            ]
        )

    return write


def _ldif(out: IO[str]) -> Writer:
    def write(dn: str, entry: dict[str, list[str]], settings: Settings) -> None:
        out.write(to_ldif(dn, entry))

    return write


def _json(out: IO[str]) -> Writer:
    def write(dn: str, entry: dict[str, list[str]], settings: Settings) -> None:
        account = Account.from_entry(entry, default_quota=settings.default_quota)
        out.write(json.dumps(account.as_dict(), ensure_ascii=False) + "\n")

    return write


_writers: dict[str, Callable[[IO[str]], Writer]] = {"csv": _csv, "ldif": _ldif, "json": _json}
