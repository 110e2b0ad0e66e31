"""CSV the stack writes: no cell reaches a spreadsheet as a formula, and an export imports again
with every value as it was."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.accounts import Account
from mailstack.settings import build
from provisioning import csvcells
from provisioning.bulk import exporter
from provisioning.bulk.importer import COLUMNS, RowError, parse_row, read_rows, write_report

pytestmark = pytest.mark.unit

STARTS = ["=", "+", "-", "@", "\t", "\r"]


@given(st.text())
def test_quote_then_unquote_gives_back_any_value(value: str) -> None:
    cell = csvcells.quote(value)
    assert cell[:1] not in csvcells.FORMULA_STARTS or cell == ""
    assert csvcells.unquote(cell) == value


@pytest.mark.parametrize("start", STARTS, ids=repr)
def test_a_formula_start_gets_an_apostrophe_and_other_values_stay(start: str) -> None:
    assert csvcells.quote(start + 'HYPERLINK("http://x")') == "'" + start + 'HYPERLINK("http://x")'
    assert csvcells.quote("'" + start + "1") == "''" + start + "1"  # already quoted-looking
    assert csvcells.quote("O'Brien") == "O'Brien"
    assert csvcells.unquote("'Brien") == "'Brien"


def export_csv(tmp_path: Path, **names: str) -> str:
    settings = build({}, base=tmp_path)
    account = Account(
        uid="zhang.san",
        mail=f"zhang.san@{settings.domain}",
        quota=settings.default_quota,
        **names,  # type: ignore[arg-type]
    )
    out = io.StringIO()
    exporter._csv(out)("uid=zhang.san", account.to_entry(None), settings)
    return out.getvalue()


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "'="], ids=repr)
def test_an_export_with_formula_names_imports_back_unchanged(tmp_path: Path, start: str) -> None:
    names = {
        "display_name": start + "SUM(A1:A9)",
        "given_name": start + "cmd|' /C calc'!A0",
        "family_name": start + "1+1",
    }
    text = export_csv(tmp_path, **names)
    (exported,) = list(csv.DictReader(io.StringIO(text)))
    for column in names:
        assert exported[column].startswith("'" + start), exported[column]  # inert in a sheet
    # The export's import columns, cells untouched, are a roster the import takes.
    roster = io.StringIO()
    writer = csv.writer(roster)
    writer.writerow(COLUMNS)
    writer.writerow([exported[c] for c in COLUMNS])
    _, rows = read_rows(io.StringIO(roster.getvalue()))
    ((line, record),) = list(rows)
    account = parse_row(line, record, build({}, base=tmp_path)).account
    assert (account.display_name, account.given_name, account.family_name) == (
        names["display_name"],
        names["given_name"],
        names["family_name"],
    )


@pytest.mark.parametrize("start", ["\t", "\r"], ids=repr)
def test_tab_and_carriage_return_starts_survive_the_csv_round_trip(start: str) -> None:
    """Names refuse control characters, but any cell the writer guards reads back the same."""
    out = io.StringIO()
    csvcells.Writer(out).writerow(["uid", "display_name"])
    csvcells.Writer(out).writerow(["zhang.san", start + "=1+1"])
    assert "'" + start + "=1+1" in out.getvalue()
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert csvcells.unquote(rows[0]["display_name"]) == start + "=1+1"


def test_the_import_report_guards_its_cells(tmp_path: Path) -> None:
    report = tmp_path / "roster.report.csv"
    write_report(report, [RowError(2, "display_name", '=HYPERLINK("http://evil") is refused')])
    with open(report, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[1][2].startswith("'=")
