"""Untrusted tar archives (a mailbox backup an alumnus may have edited, a backup-all folder):
every member is checked before anything is written, and writing never follows a link."""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import pytest

from identity.errors import AlumailError, ValidationError
from mailstack.mailbox import archives
from provisioning.stackbackup import check_directory_ldif
from tests.support import member_bytes, symlink_chain, tar_member, write_tar

pytestmark = pytest.mark.unit

POLICY = archives.Policy(
    roots=("Maildir",), max_bytes=10_000, max_members=20, owner=(os.getuid(), os.getgid())
)
LONG = "1700000000.M123456P7890.mail.alumni.example.edu,S=1234,W=1260" + "x" * 60 + ":2,S"


GENUINE = (
    tar_member("Maildir", tarfile.DIRTYPE),
    tar_member("Maildir/cur", tarfile.DIRTYPE),
    tar_member(f"Maildir/cur/{LONG}", data=b"Subject: hello\n\nhi\n", mode=0o4777),
)


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, Path]:
    """A destination folder and, beside it, an 'outside' folder holding one file."""
    (tmp_path / "dest").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "passwd").write_text("root:x:0:0\n")
    return tmp_path / "dest", tmp_path / "outside"


def untouched(dest: Path, outside: Path) -> bool:
    return not any(dest.iterdir()) and [p.name for p in outside.iterdir()] == ["passwd"]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT])
def test_a_genuine_backup_is_written_with_its_dates_and_private_modes(
    tmp_path: Path, place: tuple[Path, Path], fmt: int
) -> None:
    dest, _ = place
    source = write_tar(tmp_path / "ok.tar.gz", *GENUINE, fmt=fmt)
    summary = archives.extract(source, dest, POLICY)
    assert summary == archives.Summary(members=3, bytes=19)
    message = dest / "Maildir" / "cur" / LONG
    assert message.read_bytes() == b"Subject: hello\n\nhi\n"
    assert message.stat().st_mtime == 1_500_000_000  # Dovecot's INTERNALDATE
    assert stat.S_IMODE(message.stat().st_mode) == 0o600  # never set-uid or world-writable
    assert stat.S_IMODE((dest / "Maildir").stat().st_mode) == 0o700


REFUSED = {
    "symlink": (
        tar_member("Maildir/cur/x", tarfile.SYMTYPE, linkname="../../outside"),
        "symbolic link",
    ),
    "hardlink": (
        tar_member("Maildir/cur/x", tarfile.LNKTYPE, linkname="../outside/passwd"),
        "hard link",
    ),
    "absolute": (tar_member("/Maildir/cur/x", data=b"a"), "absolute path"),
    "dotdot": (tar_member("Maildir/../outside/x", data=b"a"), "contains '..'"),
    "dot": (tar_member("Maildir/./cur/x", data=b"a"), "'.' part"),
    "control": (tar_member("Maildir/cur/a\x1bb", data=b"a"), "control character"),
    "nul in a pax path": (
        tar_member(f"Maildir/cur/{LONG}\x00evil", data=b"a"),
        "control character",
    ),
    "newline": (tar_member("Maildir/cur/a\nb", data=b"a"), "control character"),
    "char device": (tar_member("Maildir/cur/tty", tarfile.CHRTYPE, devmajor=5), "character device"),
    "block device": (tar_member("Maildir/cur/sda", tarfile.BLKTYPE, devmajor=8), "block device"),
    "fifo": (tar_member("Maildir/cur/pipe", tarfile.FIFOTYPE), "FIFO"),
    "contiguous": (tar_member("Maildir/cur/c", tarfile.CONTTYPE), "contiguous file"),
    "gnu sparse": (tar_member("Maildir/cur/s", tarfile.GNUTYPE_SPARSE), "sparse file"),
    "pax sparse": (
        tar_member("Maildir/cur/s", data=b"a", pax_headers={"GNU.sparse.map": "0,1"}),
        "sparse",
    ),
    "outside the top folder": (tar_member("etc/passwd", data=b"a"), "is not under Maildir/"),
    "file as the top folder": (tar_member("Maildir", data=b"a"), "top folder"),
    "pax rename": (
        tar_member("Maildir/cur/innocent", data=b"a", pax_headers={"path": "Maildir/new/other"}),
        "renamed by a pax or long-name record",
    ),
    "over the size cap": (
        tar_member("Maildir/cur/big", data=b"x" * 10_001),
        "limit of 10000 bytes",
    ),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_crafted_member_is_refused_by_name_and_rule_and_nothing_is_written(
    tmp_path: Path, place: tuple[Path, Path], case: str
) -> None:
    (info, data), rule = REFUSED[case]
    dest, outside = place
    source = write_tar(tmp_path / "bad.tar.gz", *GENUINE, (info, data))
    with pytest.raises(ValidationError) as refused:
        archives.extract(source, dest, POLICY)
    assert refused.value.field == "file"
    assert rule in refused.value.rule
    assert f"member {info.name.rstrip('/')!r}" in refused.value.rule or case == "pax rename"
    assert untouched(dest, outside)


def test_the_long_symlink_chain_of_cve_2025_4517_is_refused(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    """The chain that gets past ``filter="data"`` on CPython 3.11.7 and plants a file two
    levels above the destination."""
    dest, outside = place
    source = write_tar(tmp_path / "chain.tar.gz", *symlink_chain("outside"))
    with pytest.raises(ValidationError, match=r"member 'Maildir/a' is a symbolic link"):
        archives.extract(source, dest, POLICY)
    assert untouched(dest, outside)


def test_members_past_the_count_cap_are_refused(tmp_path: Path, place: tuple[Path, Path]) -> None:
    dest, outside = place
    many = [tar_member(f"Maildir/cur/{n}", data=b"m") for n in range(POLICY.max_members)]
    source = write_tar(tmp_path / "many.tar.gz", tar_member("Maildir", tarfile.DIRTYPE), *many)
    with pytest.raises(ValidationError, match="more than 20 members"):
        archives.extract(source, dest, POLICY)
    assert untouched(dest, outside)


def test_a_duplicate_or_a_file_and_folder_of_one_name_are_refused(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    dest, outside = place
    twice = write_tar(tmp_path / "twice.tar.gz", *GENUINE, GENUINE[2])
    with pytest.raises(ValidationError, match="appears twice"):
        archives.extract(twice, dest, POLICY)
    below = write_tar(
        tmp_path / "below.tar.gz",
        tar_member("Maildir/tmp", data=b"a"),
        tar_member("Maildir/tmp/x", data=b"a"),
    )
    with pytest.raises(ValidationError, match="below a member that is a file"):
        archives.extract(below, dest, POLICY)
    above = write_tar(
        tmp_path / "above.tar.gz",
        tar_member("Maildir/tmp/x", data=b"a"),
        tar_member("Maildir/tmp", data=b"a"),
    )
    with pytest.raises(ValidationError, match="'Maildir/tmp' is a file where earlier members"):
        archives.extract(above, dest, POLICY)
    assert untouched(dest, outside)


def test_a_global_pax_header_naming_paths_is_refused(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    dest, outside = place
    source = write_tar(tmp_path / "global.tar.gz", *GENUINE, pax_headers={"path": "Maildir/cur/x"})
    with pytest.raises(ValidationError, match="global pax header setting 'path'"):
        archives.extract(source, dest, POLICY)
    assert untouched(dest, outside)


def test_an_oversized_header_record_is_refused_before_it_is_read(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    dest, outside = place
    huge = tarfile.TarInfo("././@PaxHeader")
    huge.type = tarfile.XHDTYPE
    huge.size = archives.MAX_HEADER_RECORD + 1
    source = write_tar(
        tmp_path / "huge.tar.gz",
        *GENUINE,
        (huge, b"\n" * huge.size),
        tar_member("Maildir/cur/after", data=b"a"),
    )
    with pytest.raises(ValidationError, match="header record of 65537 bytes"):
        archives.extract(source, dest, POLICY)
    assert untouched(dest, outside)


def test_writing_never_follows_a_link_already_in_the_destination(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    dest, outside = place
    (dest / "Maildir").symlink_to(outside)
    source = write_tar(tmp_path / "ok.tar.gz", *GENUINE)
    with pytest.raises(AlumailError, match="writing member 'Maildir'"):
        archives.extract(source, dest, POLICY)
    assert [p.name for p in outside.iterdir()] == ["passwd"]


@pytest.mark.parametrize(
    "content", [b"", b"not a tar at all", b"\x1f\x8b\x08\x00garbage"], ids=["empty", "text", "gz"]
)
def test_a_file_that_is_not_a_tar_archive_gets_a_clear_error(
    tmp_path: Path, place: tuple[Path, Path], content: bytes
) -> None:
    dest, outside = place
    source = tmp_path / "junk.tar.gz"
    source.write_bytes(content)
    with pytest.raises(ValidationError, match="cannot be read as a tar archive"):
        archives.extract(source, dest, POLICY)
    assert untouched(dest, outside)


def test_a_truncated_archive_gets_a_clear_error(tmp_path: Path, place: tuple[Path, Path]) -> None:
    dest, outside = place
    whole = write_tar(tmp_path / "whole.tar.gz", *GENUINE).read_bytes()
    source = tmp_path / "cut.tar.gz"
    source.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValidationError, match="cannot be read as a tar archive"):
        archives.extract(source, dest, POLICY)
    assert untouched(dest, outside)


GOOD_LDIF = (
    b"dn: dc=alumni,dc=test\nobjectClass: dcObject\ndc: alumni\n"
    b"description:: PCBmaWxlOi8vL2V0Yy9zaGFkb3c=\n"  # base64 of '< file:///etc/shadow': a value
    b"postalAddress: Room 1 :< not a URL past the first colon\n"
    b"# include: file:///etc/shadow is a comment\n"
    b"cn: a long value folded\n  across lines\n\n"
)
SLAPADD_READS = {
    "url value": (b"description:< file:///etc/shadow\n", "a value read from a URL"),
    "folded url value": (b"descr\n iption:< file:///etc/shadow\n", "a value read from a URL"),
    "include": (b"\nInclude: file:///etc/shadow.ldif\n", "an include statement"),
}


@pytest.mark.parametrize("case", SLAPADD_READS, ids=list(SLAPADD_READS))
def test_a_backup_ldif_that_would_make_slapadd_read_files_is_refused(
    tmp_path: Path, case: str
) -> None:
    extra, rule = SLAPADD_READS[case]
    ldif = tmp_path / "directory.ldif"
    ldif.write_bytes(GOOD_LDIF)
    check_directory_ldif(ldif)  # slapcat's own output passes
    ldif.write_bytes(GOOD_LDIF + extra)
    with pytest.raises(ValidationError, match=f"directory.ldif line 1[0-9]: {rule}"):
        check_directory_ldif(ldif)


def test_a_backup_holds_files_and_folders_only_and_restores(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    """The copy root packs is writable by the mail user: a link planted there must not carry
    another file into the archive, and the archive must pass the restore's own checks."""
    dest, outside = place
    maildir = tmp_path / "copy" / "Maildir"
    (maildir / "cur").mkdir(parents=True)
    (maildir / "cur" / LONG).write_bytes(b"Subject: kept\n\n")
    os.utime(maildir / "cur" / LONG, (1_500_000_000, 1_500_000_000))
    (maildir / "cur" / "shadow").symlink_to(outside / "passwd")
    (maildir / "new").symlink_to(outside)
    os.mkfifo(maildir / "pipe")
    target = tmp_path / "backup.tar.gz"
    with tarfile.open(target, "w:gz") as tar:
        archives.pack(tar, maildir, "Maildir")
    with tarfile.open(target) as tar:
        assert tar.getnames() == ["Maildir", "Maildir/cur", f"Maildir/cur/{LONG}"]
        assert b"root:x" not in b"".join(
            member_bytes(tar, m) for m in tar.getmembers() if m.isreg()
        )
    archives.extract(target, dest, POLICY)
    assert (dest / "Maildir" / "cur" / LONG).stat().st_mtime == 1_500_000_000


def test_a_file_already_in_the_destination_is_replaced_never_written_through(
    tmp_path: Path, place: tuple[Path, Path]
) -> None:
    """A hard link to a file outside, already where a member goes: the member gets a new file,
    and the file outside keeps its content."""
    dest, outside = place
    (dest / "Maildir" / "cur").mkdir(parents=True)
    os.link(outside / "passwd", dest / "Maildir" / "cur" / LONG)
    archives.extract(write_tar(tmp_path / "ok.tar.gz", *GENUINE), dest, POLICY)
    assert (outside / "passwd").read_text() == "root:x:0:0\n"
    assert (dest / "Maildir" / "cur" / LONG).read_bytes() == b"Subject: hello\n\nhi\n"


_READ_IN_A_PROCESS = """
import sys
from pathlib import Path
from identity.errors import ValidationError
from identity.roles import ROOT
from mailstack.mailbox import archives
from mailstack.settings import build
from provisioning import stackbackup

kind, path = sys.argv[1], Path(sys.argv[2])
try:
    if kind == "ldif":
        stackbackup.check_directory_ldif(path)
    elif kind == "manifest":
        settings = build({"domain": "alumni.example.edu"}, base=path)
        stackbackup.restore_all(settings, path, actor=ROOT)
    else:
        (path.parent / "out").mkdir()
        policy = archives.Policy(("Maildir",), 1 << 20, 10, (0, 0))
        archives.extract(path, path.parent / "out", policy)
except ValidationError as exc:
    print(exc.field, exc)
"""


@pytest.mark.parametrize("kind", ["ldif", "manifest", "archive"])
@pytest.mark.parametrize("special", ["fifo", "zero"])
def test_a_fifo_or_a_device_in_a_backup_is_refused_not_read(
    tmp_path: Path, kind: str, special: str
) -> None:
    """A backup folder or file handed to restore or restore-all may hold a FIFO (a read that
    never ends) or a link to /dev/zero (one that never stops): each is refused by name, in a
    child process given 20 s (before: restore hung, holding the state lock)."""
    import subprocess
    import sys

    name = {"ldif": "directory.ldif", "manifest": "manifest.json", "archive": "mail.tar.gz"}
    path = tmp_path / name[kind]
    if special == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    target = tmp_path if kind == "manifest" else path
    try:
        done = subprocess.run(
            [sys.executable, "-c", _READ_IN_A_PROCESS, kind, str(target)],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{special} as {path.name} was waited on") from exc
    assert "not a regular file" in done.stdout, done.stdout + done.stderr
