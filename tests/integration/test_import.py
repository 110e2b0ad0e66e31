"""Bulk import and export against the real directory: bad rows, idempotence, legacy hashes,
an import killed with SIGKILL and resumed, the offline path, and round trips."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from passlib.hash import ldap_salted_sha1, sha512_crypt

from identity.directory import Directory
from identity.dit import Tree
from identity.errors import ConflictError, ValidationError
from mailstack.errors import DaemonError
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning import stack
from provisioning.audit import AuditLog, audit_path
from provisioning.bulk.importer import COLUMNS, Importer, ImportReport, offline_import
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import alumail, running_stack, stack_status, use_case

pytestmark = pytest.mark.integration
HEADER = [*COLUMNS, "password_hash"]


def write_roster(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(uid: str, n: int = 0, password_hash: str = "", **over: str) -> list[str]:
    values = {
        "uid": uid,
        "given_name": "三",
        "family_name": "张",
        "display_name": f"张三 {n}",
        "student_number": f"R{abs(hash(uid)) % 10**9:09d}",
        "graduation_year": "2014",
        "recovery_email": f"{uid}@outside.example",
        "password_hash": password_hash,
    }
    values.update(over)
    return [values[c] for c in HEADER]


def imported(settings: Settings, roster: Path, **options: Any) -> ImportReport:
    """The online import as root, composed as ``alumail import`` composes it."""
    with use_case(Importer, settings) as importer:
        return importer.run(roster, **options)


def people(settings: Settings, prefix: str) -> dict[str, dict[str, list[str]]]:
    with Directory(Layout(settings.state_dir).ldapi_uri) as directory:
        rows = directory.search(
            Tree(settings.base_dn).people, f"(uid={prefix}*)", None, scope="one"
        )
    return {e["uid"][0]: e for _, e in rows}


def test_bad_rows_are_reported_and_good_rows_go_in(live_stack: Settings, tmp_path: Path) -> None:
    roster = write_roster(
        tmp_path / "roster.csv",
        [
            row("imp.good1", 1),
            row("Imp.Bad", 2),
            row("imp.good2", 3, graduation_year="20x4"),
            row("imp.good3", 4, recovery_email="nope"),
            row("imp.good1", 5),
            row("imp.good4", 6, password_hash="{SSHA}tooshort"),
            row("imp.good5", 7),
        ],
    )
    result = alumail(live_stack, "import", str(roster), "--json")
    assert result.returncode == 10, result.stderr
    report = json.loads(result.stdout)
    assert (report["created"], report["failed"]) == (2, 5)
    with open(roster.with_name("roster.csv.report.csv"), encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [(x["line"], x["column"]) for x in lines] == [
        ("3", "uid"),
        ("4", "graduation_year"),
        ("5", "recovery_email"),
        ("6", "uid"),
        ("7", "password_hash"),
    ]
    assert "more than once" in lines[3]["reason"]
    assert set(people(live_stack, "imp.good")) == {"imp.good1", "imp.good5"}


def test_unknown_or_missing_column_is_refused_before_writing(
    live_stack: Settings, tmp_path: Path
) -> None:
    roster = write_roster(tmp_path / "r.csv", [[*row("imp.col1"), "x"]], [*HEADER, "shoe_size"])
    result = alumail(live_stack, "import", str(roster))
    assert result.returncode == 4
    assert "header: unknown column 'shoe_size'" in result.stderr
    missing = write_roster(tmp_path / "m.csv", [["imp.col2"]], ["uid"])
    result = alumail(live_stack, "import", str(missing))
    assert result.returncode == 4 and "missing column 'given_name'" in result.stderr
    assert people(live_stack, "imp.col") == {}


def test_rerun_is_idempotent_and_updates_only_what_changed(
    live_stack: Settings, tmp_path: Path
) -> None:
    old_hash = ldap_salted_sha1.hash("Legacy-Pass-1")
    rows = [row(f"imp.idem{i}", i, password_hash=old_hash) for i in range(30)]
    roster = write_roster(tmp_path / "r.csv", rows)
    first = imported(live_stack, roster)
    assert (first.created, first.failed) == (30, 0)
    again = imported(live_stack, roster)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 30)
    dry = imported(live_stack, roster, dry_run=True)
    assert dry.unchanged == 30

    rows[7] = row(
        "imp.idem7",
        7,
        password_hash=ldap_salted_sha1.hash("Other-Pass-2"),
        display_name="张三 renamed",
    )
    write_roster(roster, rows)
    changed = imported(live_stack, roster)
    assert (changed.updated, changed.unchanged) == (1, 29)
    with use_case(AccountService, live_stack) as accounts:
        assert accounts.get("imp.idem7").display_name == "张三 renamed"
    # the legacy password was written at creation and is never overwritten
    assert mail.imap_login_ok(live_stack, "imp.idem7", "Legacy-Pass-1")
    assert not mail.imap_login_ok(live_stack, "imp.idem7", "Other-Pass-2")


def test_legacy_hashes_keep_working_and_mailbox_appears(
    live_stack: Settings, tmp_path: Path
) -> None:
    roster = write_roster(
        tmp_path / "r.csv",
        [
            row("imp.ssha", password_hash=ldap_salted_sha1.hash("Old-Ssha-Pass")),
            row(
                "imp.crypt",
                password_hash="{CRYPT}" + sha512_crypt.using(rounds=5000).hash("Old-Crypt-Pass"),
            ),
            row("imp.nopass"),
        ],
    )
    assert imported(live_stack, roster).created == 3
    assert mail.imap_login_ok(live_stack, "imp.ssha", "Old-Ssha-Pass")
    assert mail.pop3_login_ok(live_stack, "imp.crypt", "Old-Crypt-Pass")
    assert not mail.imap_login_ok(live_stack, "imp.nopass", "")
    client = mail.imap(live_stack, "imp.ssha", "Old-Ssha-Pass")
    try:
        _, folders = client.list()
    finally:
        client.logout()
    assert any(b"Sent" in f for f in mail.plain_lines(folders))


def test_dry_run_writes_nothing(live_stack: Settings, tmp_path: Path) -> None:
    roster = write_roster(tmp_path / "r.csv", [row(f"imp.dry{i}", i) for i in range(5)])
    result = alumail(live_stack, "import", str(roster), "--dry-run", "--json", check=True)
    assert json.loads(result.stdout)["created"] == 5
    assert people(live_stack, "imp.dry") == {}


def test_student_number_belongs_to_one_account(live_stack: Settings, tmp_path: Path) -> None:
    roster = write_roster(
        tmp_path / "r.csv",
        [
            row("imp.sn1", student_number="SN-000001"),
            row("imp.sn2", student_number="SN-000001"),
        ],
    )
    report = imported(live_stack, roster)
    assert report.created == 1 and report.errors[0].column == "student_number"
    later = write_roster(tmp_path / "l.csv", [row("imp.sn3", student_number="SN-000001")])
    report = imported(live_stack, later)
    assert report.created == 0 and "already belongs to 'imp.sn1'" in report.errors[0].reason


def test_killed_import_resumes_without_duplicates_or_half_entries(
    live_stack: Settings, tmp_path: Path
) -> None:
    total = 1500
    roster = write_roster(tmp_path / "big.csv", [row(f"imp.kill{i:05d}", i) for i in range(total)])
    config = live_stack.state_dir.parent / "alumail.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "provisioning", "import", str(roster)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not people(live_stack, "imp.kill") and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Operations already sent are still carried out by slapd: wait until the count settles.
    before = people(live_stack, "imp.kill")
    while True:
        time.sleep(0.5)
        settled = people(live_stack, "imp.kill")
        if len(settled) == len(before):
            break
        before = settled
    assert 0 < len(before) < total
    assert stack_status(live_stack)["daemons"]["slapd"]["running"]  # the kill hurt no daemon
    resumed = imported(live_stack, roster)
    assert resumed.failed == 0
    assert resumed.created + resumed.unchanged == total
    assert resumed.unchanged == len(before)
    after = people(live_stack, "imp.kill")
    assert len(after) == total
    for entry in after.values():  # every entry whole: all managed attributes present
        for attribute in (
            "displayName",
            "givenName",
            "sn",
            "mail",
            "alumailStudentNumber",
            "alumailGraduationYear",
            "alumailRecoveryEmail",
            "alumailAccountStatus",
            "alumailMailQuota",
        ):
            assert entry.get(attribute), (entry["uid"], attribute)


def test_export_round_trips(live_stack: Settings, tmp_path: Path) -> None:
    roster = write_roster(
        tmp_path / "r.csv", [row(f"imp.exp{i}", i, graduation_year="1977") for i in range(4)]
    )
    assert imported(live_stack, roster).created == 4
    out = tmp_path / "export.csv"
    alumail(live_stack, "export", "--year", "1977", "-o", str(out), check=True)
    with open(out, encoding="utf-8") as handle:
        exported = sorted(csv.DictReader(handle), key=lambda x: x["uid"])  # directory order
    assert [x["uid"] for x in exported] == [f"imp.exp{i}" for i in range(4)]
    assert exported[0]["display_name"] == "张三 0" and exported[0]["status"] == "active"
    # The export's import columns import again with nothing to change.
    trimmed = write_roster(
        tmp_path / "again.csv", [[x[c] for c in COLUMNS] for x in exported], list(COLUMNS)
    )
    assert imported(live_stack, trimmed).unchanged == 4
    ldif = alumail(live_stack, "export", "--format", "ldif", "--year", "1977", check=True)
    assert ldif.stdout.count("dn: uid=imp.exp") == 4
    lines = alumail(live_stack, "export", "--format", "json", "--year", "1977", check=True)
    assert sorted(json.loads(x)["uid"] for x in lines.stdout.splitlines()) == [
        f"imp.exp{i}" for i in range(4)
    ]


def test_offline_first_load(tmp_path: Path) -> None:
    with running_stack("offline") as settings:
        roster = write_roster(
            tmp_path / "r.csv",
            [
                row(f"off{i:04d}", i, password_hash=ldap_salted_sha1.hash("Offline-Pass-1"))
                for i in range(200)
            ]
            + [row("Off.Bad")],
        )
        with pytest.raises(DaemonError, match="needs the stack stopped"):
            offline_import(settings, roster)
        stack.down(settings)
        report = offline_import(settings, roster)
        assert (report.created, report.failed) == (200, 1)
        stack.up(settings)
        assert len(people(settings, "off")) == 200
        assert mail.imap_login_ok(settings, "off0042", "Offline-Pass-1")
        stack.down(settings)
        with pytest.raises(ConflictError, match="already holds accounts"):
            offline_import(settings, roster)


def test_import_needs_an_admin(live_stack: Settings, tmp_path: Path) -> None:
    from identity.errors import AccessDeniedError
    from identity.roles import Actor, Role

    roster = write_roster(tmp_path / "r.csv", [row("imp.denied")])
    with (
        pytest.raises(AccessDeniedError),
        use_case(Importer, live_stack, Actor("someone", Role.HELPDESK)) as importer,
    ):
        importer.run(roster)
    with pytest.raises(ValidationError):
        imported(live_stack, write_roster(tmp_path / "e.csv", [], ["uid", "nope"]))


def test_helpdesk_sees_past_slapds_default_500_entries(
    live_stack: Settings, tmp_path: Path
) -> None:
    """The web service acts as staff through proxied authorization, so staff need the whole
    of ou=people: without olcLimits for their groups slapd stops them at 500 entries."""
    import secrets

    from identity.roles import Role
    from provisioning.composition import Composition
    from provisioning.people.accounts import AccountService
    from provisioning.people.staff import StaffService

    prefix = f"many{secrets.token_hex(2)}"
    roster = write_roster(tmp_path / "many.csv", [row(f"{prefix}.{i:03d}", i) for i in range(520)])
    assert imported(live_stack, roster).created == 520
    desk = f"bulk.desk.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(desk, "Bulk Desk", Role.HELPDESK, "Staff-Password-55")
    with Composition(live_stack) as root:
        desk_actor = root.signin.actor_for(desk)
    with use_case(AccountService, live_stack, desk_actor) as accounts:
        found = accounts.find(search=prefix)
    assert len(found) == 520


def test_a_bad_byte_after_a_whole_batch_is_reported_and_the_rest_go_in(
    live_stack: Settings, tmp_path: Path
) -> None:
    roster = write_roster(tmp_path / "bytes.csv", [row(f"imp.byte{n:03d}", n) for n in range(510)])
    with open(roster, "ab") as handle:
        handle.write(b"imp.bytebad,,,Bad \xff Byte,,,\n")
        handle.write(b"imp.byteafter,,,After,,,,\n")
    result = alumail(live_stack, "import", str(roster), "--json")
    assert result.returncode == 10, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    assert (report["rows"], report["created"], report["failed"]) == (512, 511, 1)
    with open(roster.with_name("bytes.csv.report.csv"), encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    assert [(x["line"], x["column"], x["reason"]) for x in lines] == [
        ("512", "display_name", "is not valid UTF-8 text")
    ]
    created = people(live_stack, "imp.byte")
    assert len(created) == 511 and "imp.byteafter" in created and "imp.bytebad" not in created
    trail: list[dict[str, Any]] = AuditLog(audit_path(live_stack.state_dir)).query(
        action="import", target="bytes.csv"
    )
    assert [(x["outcome"], x["changes"]["failed"]) for x in trail] == [("partial", 1)]


def test_a_field_over_the_csv_limit_ends_the_reading_with_a_report(
    live_stack: Settings, tmp_path: Path
) -> None:
    roster = write_roster(
        tmp_path / "big.csv",
        [row("imp.big1", 1), row("imp.big2", 2, display_name="x" * 200_000), row("imp.big3", 3)],
    )
    result = alumail(live_stack, "import", str(roster), "--json")
    assert result.returncode == 10, result.stderr
    report = json.loads(result.stdout)
    assert (report["created"], report["failed"]) == (1, 1)
    with open(roster.with_name("big.csv.report.csv"), encoding="utf-8") as handle:
        (line,) = list(csv.DictReader(handle))
    assert line["line"] == "3" and "field larger than field limit" in line["reason"]
    assert "the rows after it were not read" in line["reason"]


def test_a_device_or_a_folder_is_no_roster(live_stack: Settings, tmp_path: Path) -> None:
    device = alumail(live_stack, "import", "/dev/zero")
    assert device.returncode == 4 and "/dev/zero is not a regular file" in device.stderr
    folder = alumail(live_stack, "import", str(tmp_path))
    assert folder.returncode == 2 and "Traceback" not in folder.stderr
