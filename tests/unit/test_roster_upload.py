"""A roster file uploaded in the admin console (RosterImport.load_upload): refused whole when it
is too large, empty, binary or not UTF-8, or lacks the roster's columns; a name that starts as a
spreadsheet formula refused on its row; each good row's outcome kept for the page's table; the
same audit lines as ``alumail roster import``."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.errors import AccessDeniedError, ValidationError
from identity.roles import ROOT, Role
from provisioning.people import roster
from provisioning.web.admin_data import report_rows
from tests.unit.fakes import composed

pytestmark = pytest.mark.unit
HEADER = b"student_number,name,birth_date,graduation_year,legacy_address\n"


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"", "is empty"),
        (b"\n \r\n", "is empty"),
        (HEADER + b"S1,A\x00B,,2010,\n", "holds binary data"),
        (HEADER.decode().encode("utf-16"), "holds binary data"),
        (HEADER + "S1,张伟,,2010,\n".encode("gbk"), r"is not UTF-8 text \(line 2\)"),
        (HEADER + b"x" * roster.UPLOAD_MAX_BYTES, "is larger than 8 MiB"),
    ],
)
def test_a_file_that_is_no_roster_text_is_refused_whole(data: bytes, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as refused:
        roster.check_upload(data)
    assert refused.value.field == "file"


def test_an_upload_is_read_as_the_command_line_reads_a_file(tmp_path: Path) -> None:
    world = composed(tmp_path)
    data = (
        HEADER
        + (
            "S20100001,张伟,1990-02-03,,\n"
            "S20100002,=cmd|' /C calc'!A0,,2011,\n"
            "S20100003,Li Lei,,2011,\n"
            "S20100004,Wang Fang,,2011,\n"
            "S20100005,Zhao Min,,2011,\n"
            "S20100006,@SUM(1+1),,2011,\n"
        ).encode()
    )
    loading = world.root.roster()
    checked = loading.load_upload(ROOT, data, "roster.csv", dry_run=True)
    assert (checked.added, len(checked.errors)) == (4, 2)
    assert world.trail() == []  # a dry run changes nothing: no line
    assert roster.lookup(world.root.store, "S20100001") is None
    report = loading.load_upload(ROOT, data, "roster\x00.csv")
    assert report.rows == [(2, "added"), (4, "added"), (5, "added"), (6, "added")]
    assert [(line, field) for line, field, _ in report.errors] == [(3, "name"), (7, "name")]
    assert world.trail()[-1] == ("roster-import", "upload roster.csv", "partial")
    assert [row["outcome"] for row in report_rows(report)] == [
        "added",
        "refused",
        "added",
        "added",
        "added",
        "refused",
    ]
    again = loading.load_upload(ROOT, data, "roster.csv")
    assert {outcome for _, outcome in again.rows} == {"unchanged"}


def test_a_refused_file_changes_nothing_and_is_audited(tmp_path: Path) -> None:
    world = composed(tmp_path)
    with pytest.raises(ValidationError, match="missing column 'birth_date'"):
        world.root.roster().load_upload(ROOT, b"student_number,name\nS1,A\n", "r.csv")
    assert world.trail()[-1] == ("roster-import", "upload r.csv", "failed")
    desk = world.staff("desk", Role.HELPDESK)
    with pytest.raises(AccessDeniedError):
        world.root.roster().load_upload(desk, HEADER + b"S1,A,,2010,\n", "r.csv")
    assert world.trail()[-1] == ("roster-import", "upload r.csv", "denied")
    assert roster.counts(world.root.store) == {"graduates": 0, "registered": 0}
