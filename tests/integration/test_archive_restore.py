"""`alumail restore` of a file that comes from outside: a crafted archive is refused with the
member and the rule, exit 4, nothing written outside, the mailbox unchanged, and an audit line.
`restore-all` checks both archives of a backup folder the same way. The portal's refused
download leaves no file behind."""

from __future__ import annotations

import json
import secrets
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from identity.accounts import Account
from identity.roles import Role
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from provisioning.people.staff import StaffService
from tests.support import (
    NewAccount,
    TarMember,
    alumail,
    new_stack,
    symlink_chain,
    tar_member,
    use_case,
    write_tar,
)
from tests.web import client, form_token

pytestmark = pytest.mark.integration


# name -> (the members of a crafted archive, the refusal it gets)
CASES: dict[str, tuple[Callable[[], list[TarMember]], str]] = {
    "symlink chain": (symlink_chain, "member 'Maildir/a' is a symbolic link"),
    "fifo": (
        lambda: [
            tar_member("Maildir", tarfile.DIRTYPE),
            tar_member("Maildir/cur", tarfile.FIFOTYPE),
        ],
        "member 'Maildir/cur' is a FIFO",
    ),
    "over the quota": (
        lambda: [
            tar_member("Maildir", tarfile.DIRTYPE),
            tar_member("Maildir/cur/huge", data=b"\0" * (2 << 20)),
        ],
        "member 'Maildir/cur/huge' brings the content over the limit of 1310720 bytes",
    ),
}


def mailbox_files(settings: Settings, account: Account) -> list[str]:
    home = Layout(settings.state_dir).mail / settings.domain / account.uid
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_a_crafted_backup_is_refused_and_changes_nothing(
    live_stack: Settings, new_account: NewAccount, tmp_path: Path, case: str
) -> None:
    members, message = CASES[case]
    account, _ = new_account(quota="1M")
    archive = write_tar(tmp_path / "crafted.tar.gz", *members())
    before = mailbox_files(live_stack, account)
    refused = alumail(live_stack, "restore", account.uid, "--from", str(archive))
    assert refused.returncode == 4, refused.stderr
    assert f"file: {message}" in refused.stderr and "Traceback" not in refused.stderr
    state = Layout(live_stack.state_dir).root
    assert not list(state.rglob("planted"))
    assert not list((state / "tmp").glob("mailbox-*"))  # the unpacking folder is gone
    assert mailbox_files(live_stack, account) == before
    lines = (state / "audit" / "audit.jsonl").read_text().splitlines()
    last = [json.loads(line) for line in lines if account.uid in line][-1]
    assert (last["action"], last["outcome"]) == ("mailbox-restore", "failed")
    assert message in last["detail"]


def test_a_refused_download_leaves_no_file(live_stack: Settings) -> None:
    desk = f"dl.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(desk, "Download Desk", Role.HELPDESK, "Staff-Password-55")
    web = Layout(live_stack.state_dir).root / "web"
    with client(live_stack) as http:
        token = form_token(http, "/login")
        http.post(
            "/login", data={"csrf_token": token, "login": desk, "password": "Staff-Password-55"}
        )
        for _ in range(3):
            assert http.get("/account/mailbox.tar.gz").status_code == 403
    assert not list(web.glob("download-*"))


def mail_chain() -> list[TarMember]:
    members = symlink_chain()
    for info, _ in members:
        info.name = "mail/" + info.name
    return members


RESTORE_ALL_CASES = {
    "link chain in the mail": (b"", mail_chain, "from: member 'mail/Maildir/a' is a symbolic link"),
    "ldif reading a root-only file": (
        b"dn: dc=alumni,dc=test\ndescription:< file:///etc/shadow\n",
        lambda: [tar_member("mail", tarfile.DIRTYPE)],
        "from: directory.ldif line 2: a value read from a URL is not allowed",
    ),
}


@pytest.mark.parametrize("case", RESTORE_ALL_CASES, ids=list(RESTORE_ALL_CASES))
def test_restore_all_checks_a_backup_folder_before_writing_anything(case: str) -> None:
    """A backup folder from elsewhere, with a good state archive: nothing of it is written,
    nothing escapes, slapadd never runs, and the refusal is audited."""
    ldif, mail_members, message = RESTORE_ALL_CASES[case]
    with new_stack("crafted") as fresh:
        root = fresh.state_dir.parent
        backup = root / "alumail-backup-20260101T000000Z"
        backup.mkdir()
        manifest = {"format": 1, "created": "x", "domain": fresh.domain, "accounts": 0}
        (backup / "manifest.json").write_text(json.dumps(manifest))
        (backup / "directory.ldif").write_bytes(ldif)
        write_tar(
            backup / "state.tar.gz",
            tar_member("etc", tarfile.DIRTYPE),
            tar_member("etc/note", data=b"hi"),
        )
        write_tar(backup / "mail.tar.gz", *mail_members())
        refused = alumail(fresh, "restore-all", "--from", str(backup))
        assert refused.returncode == 4, refused.stderr
        assert message in refused.stderr
        state = Layout(fresh.state_dir).root
        assert not (state / "etc").exists() and not list(root.rglob("planted"))
        assert not (state / "ldap").exists()
        (line,) = (state / "audit" / "audit.jsonl").read_text().splitlines()
        assert json.loads(line)["outcome"] == "failed"


def test_a_deleted_accounts_archive_holds_files_and_folders_only(
    live_stack: Settings, new_account: NewAccount, accounts: AccountService, tmp_path: Path
) -> None:
    """The home is the mail user's to write: a link planted there stays out of the archive
    root writes, whatever it points to."""
    account, _ = new_account()
    home = Layout(live_stack.state_dir).mail / live_stack.domain / account.uid
    assert home.is_dir()
    secret = tmp_path / "root-only"
    secret.write_text("not for vmail\n")
    (home / "Maildir" / "planted").symlink_to(secret)
    archive = accounts.delete(account.uid)
    assert archive is not None
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert members and all(m.isreg() or m.isdir() for m in members)
    assert f"{account.uid}/Maildir/planted" not in [m.name for m in members]
