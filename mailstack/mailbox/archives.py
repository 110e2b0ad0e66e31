"""Unpacking tar archives that come from outside: a mailbox backup an alumnus downloaded (and may
have changed), a ``backup-all`` folder from another machine.

The interpreter's ``filter="data"`` is not trusted: CPython 3.11.7 predates the June 2025
tarfile fixes (CVE-2025-4517, its realpath check gives up past PATH_MAX), so a chain of long
symlinks escapes it. Instead every member is checked here, all of them before anything is
written, against rules a genuine backup always meets:

- only regular files and directories (no symlink, hardlink, device, FIFO, sparse or contiguous
  file), under one of the expected top folders, named without ``..``, ``.``, empty parts, an
  absolute path or a control character;
- no member twice, and no member below a name that is a file;
- a pax or GNU long-name header may only complete the name written in the member's own header
  (what writers do for names over 100 bytes), never replace it; no global pax header naming
  paths, and no header record over 64 KiB (tarfile would read it whole into memory);
- at most ``max_members`` members and ``max_bytes`` bytes in all (a tar bomb is refused before
  a byte is written).

Writing never follows a link: each folder is opened relative to its parent's descriptor with
``O_NOFOLLOW``, files are created with ``O_EXCL | O_NOFOLLOW``, and ownership and modes are set
on the open descriptors (``fchown``/``fchmod``), never by path.

Packing (:func:`pack`) is held to the same rules from the other side: root reads folders the
mail user can write to (a ``doveadm backup`` copy), so it opens every entry without following
links and leaves out anything that is not a file or a folder; a backup it writes is one that
:func:`extract` accepts.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from identity.errors import AlumailError, ValidationError
from mailstack.files import open_regular

MAX_HEADER_RECORD = 64 * 1024
MAX_NAME_BYTES = 1024
MAX_PART_BYTES = 255
MAX_DEPTH = 16
_LONG_HEADERS = (
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
)
_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)
_TYPE_NAMES = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a FIFO",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}
# pax keys that change what a member is or where it goes, beyond completing its name
_PAX_REFUSED = ("linkpath", "GNU.sparse.")
_GLOBAL_PAX_ALLOWED = {"comment", "mtime", "atime", "ctime", "uid", "gid", "uname", "gname"}
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Policy:
    """What an archive may hold and how its content is written.

    ``roots``: the top folders every member lies in (or is); ``owner``: (uid, gid) given to
    everything written; ``keep_modes``: keep the members' permission bits (without set-id,
    sticky and group/other write) instead of 0600/0700; ``field``: the input named in errors.
    """

    roots: tuple[str, ...]
    max_bytes: int
    max_members: int
    owner: tuple[int, int]
    field: str = "file"
    keep_modes: bool = False


@dataclass(frozen=True)
class Summary:
    members: int
    bytes: int


class _HeaderRefused(Exception):
    """Raised from inside tarfile's header parsing; turned into a ValidationError outside."""


class _CheckedInfo(tarfile.TarInfo):
    """A TarInfo that remembers the name written in the member's own header, before a pax or
    GNU long-name record changed it, and refuses oversized header records before tarfile
    reads them into memory."""

    header_name: str = ""

    @classmethod
    def frombuf(cls, buf: bytes | bytearray, encoding: str, errors: str) -> Any:
        info = super().frombuf(buf, encoding, errors)
        info.header_name = info.name
        if info.type in _LONG_HEADERS and info.size > MAX_HEADER_RECORD:
            raise _HeaderRefused(
                f"a header record of {info.size} bytes (over {MAX_HEADER_RECORD}) is not allowed"
            )
        return info


def check(source: Path, policy: Policy) -> Summary:
    """Read every member of ``source`` and apply the rules; writes nothing."""
    with _open(source, policy) as archive:
        count, total = 0, 0
        for member in _checked(archive, policy):
            count += 1
            total += member.size if member.isreg() else 0
        return Summary(count, total)


def extract(source: Path, dest: Path, policy: Policy) -> Summary:
    """Check every member of ``source``, then (only if all pass) write them below the existing
    folder ``dest``. Existing folders are entered (never through a link); an existing file of
    the same name is replaced."""
    summary = check(source, policy)
    base = os.open(dest, _O_DIR)
    folders = _Folders(base, policy.owner)
    try:
        with _open(source, policy) as archive:
            for member in _checked(archive, policy):
                try:
                    _write(archive, member, folders, policy)
                except OSError as exc:
                    raise AlumailError(
                        f"{policy.field}: writing member {member.name!r} under {dest} failed: {exc}"
                    ) from exc
    finally:
        folders.close()
        os.close(base)
    return summary


def _write(
    archive: tarfile.TarFile, member: tarfile.TarInfo, folders: _Folders, policy: Policy
) -> None:
    *parents, leaf = member.name.split("/")
    if member.isdir():
        folders.open([*parents, leaf], mode=_mode(member, policy, directory=True))
        return
    reader = archive.extractfile(member)
    if reader is None:  # not reached: only regular files get here
        raise _refused(policy, member.name, "cannot be read")
    _write_file(folders.open(parents), leaf, reader, member, policy)


def _open(source: Path, policy: Policy) -> _Archive:
    return _Archive(source, policy)


class _Archive:
    """tarfile.open with every way it can fail turned into a ValidationError."""

    def __init__(self, source: Path, policy: Policy) -> None:
        self.source = source
        self.policy = policy
        self.archive: tarfile.TarFile | None = None
        self.raw: BinaryIO | None = None

    def __enter__(self) -> tarfile.TarFile:
        try:
            self.raw = open_regular(self.source)
            self.archive = tarfile.open(fileobj=self.raw, mode="r:*", tarinfo=_CheckedInfo)
        except _HeaderRefused as exc:
            raise ValidationError(self.policy.field, str(exc)) from exc
        except (OSError, EOFError, tarfile.TarError) as exc:
            if self.raw is not None:
                self.raw.close()
            raise ValidationError(
                self.policy.field, f"cannot be read as a tar archive: {exc}"
            ) from exc
        return self.archive

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if self.archive is not None:
            self.archive.close()
        if self.raw is not None:
            self.raw.close()
        if isinstance(error, _HeaderRefused):
            raise ValidationError(self.policy.field, str(error)) from error
        if isinstance(error, (EOFError, tarfile.TarError, OSError)):
            raise ValidationError(
                self.policy.field, f"cannot be read as a tar archive: {error}"
            ) from error


def _checked(archive: tarfile.TarFile, policy: Policy) -> Iterator[tarfile.TarInfo]:
    """The members, each checked; the first that breaks a rule stops the walk with an error
    naming it. Members are not kept (``archive.members`` is emptied), so memory stays flat."""
    seen_files: set[str] = set()
    seen_dirs: set[str] = set()
    parents: set[str] = set()  # folders implied by the members' names
    count, total = 0, 0
    while (member := archive.next()) is not None:
        # tarfile keeps each member it reads; forgetting them keeps memory flat
        archive.members.clear()  # type: ignore[attr-defined]
        count += 1
        global_pax = set(archive.pax_headers) - _GLOBAL_PAX_ALLOWED
        if global_pax:
            raise _refused(
                policy, member.name, f"follows a global pax header setting {min(global_pax)!r}"
            )
        if count > policy.max_members:
            raise _refused(policy, member.name, f"more than {policy.max_members} members")
        _check_member(member, policy)
        name = member.name
        if name in seen_files or name in seen_dirs:
            raise _refused(policy, name, "appears twice")
        parts = name.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in seen_files:
                raise _refused(policy, name, "lies below a member that is a file")
            parents.add(parent)
        if not member.isdir() and name in parents:
            raise _refused(policy, name, "is a file where earlier members made a folder")
        if member.isdir():
            seen_dirs.add(name)
        else:
            seen_files.add(name)
            total += member.size
            if total > policy.max_bytes:
                raise _refused(
                    policy,
                    name,
                    f"brings the content over the limit of {policy.max_bytes} bytes",
                )
        yield member


def _check_member(member: tarfile.TarInfo, policy: Policy) -> None:
    name = member.name
    kind = member.type
    if kind in _TYPE_NAMES:
        raise _refused(policy, name, f"is {_TYPE_NAMES[kind]}; only files and folders are allowed")
    if kind not in _REGULAR and kind != tarfile.DIRTYPE:
        raise _refused(policy, name, f"has the unknown type {kind!r}; only files and folders")
    if member.sparse is not None or any(key.startswith(_PAX_REFUSED) for key in member.pax_headers):
        raise _refused(policy, name, "carries a pax record for links or sparse data")
    header_name = getattr(member, "header_name", name)
    if not name.startswith(header_name) or not header_name:
        raise _refused(
            policy,
            name,
            f"is renamed by a pax or long-name record (its own header says {header_name!r})",
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise _refused(policy, name, "contains a control character")
    if name.startswith("/"):
        raise _refused(policy, name, "is an absolute path")
    parts = name.split("/")
    if ".." in parts:
        raise _refused(policy, name, "contains '..'")
    if "." in parts or "" in parts:
        raise _refused(policy, name, "contains an empty or '.' part")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES or len(parts) > MAX_DEPTH:
        raise _refused(policy, name, f"is longer than {MAX_NAME_BYTES} bytes or {MAX_DEPTH} levels")
    if any(len(p.encode("utf-8", "surrogateescape")) > MAX_PART_BYTES for p in parts):
        raise _refused(policy, name, f"has a part longer than {MAX_PART_BYTES} bytes")
    if parts[0] not in policy.roots:
        raise _refused(policy, name, f"is not under {' or '.join(r + '/' for r in policy.roots)}")
    if not member.isdir() and len(parts) < 2:
        raise _refused(policy, name, "is a file where the top folder belongs")


def _refused(policy: Policy, name: str, rule: str) -> ValidationError:
    return ValidationError(policy.field, f"member {name!r} {rule}")


def _mode(member: tarfile.TarInfo, policy: Policy, *, directory: bool) -> int:
    floor = 0o700 if directory else 0o600
    return (member.mode & 0o755 | floor) if policy.keep_modes else floor


class _Folders:
    """Descriptors of the folders written so far, each opened from its parent's descriptor
    without following links; created where missing, and given the owner."""

    LIMIT = 256

    def __init__(self, base: int, owner: tuple[int, int]) -> None:
        self.base = base
        self.owner = owner
        self.fds: dict[tuple[str, ...], int] = {}

    def open(self, parts: list[str], mode: int | None = None) -> int:
        if len(self.fds) > self.LIMIT:
            self.close()
        fd = self.base
        for depth in range(1, len(parts) + 1):
            key = tuple(parts[:depth])
            if key not in self.fds:
                self.fds[key] = self._enter(fd, parts[depth - 1])
            fd = self.fds[key]
        if mode is not None:
            os.fchmod(fd, mode)
        return fd

    def _enter(self, parent: int, name: str) -> int:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, _O_DIR, dir_fd=parent)  # fails on a link or a file
        os.fchown(fd, *self.owner)
        return fd

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


def _write_file(
    parent: int, leaf: str, reader: IO[bytes], member: tarfile.TarInfo, policy: Policy
) -> None:
    try:
        existing = os.stat(leaf, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        if stat.S_ISDIR(existing.st_mode):
            raise _refused(policy, member.name, "is a file where a folder exists")
        os.unlink(leaf, dir_fd=parent)  # unlinking never follows a link
    fd = os.open(leaf, _O_NEW_FILE, 0o600, dir_fd=parent)
    with open(fd, "wb", closefd=True) as out:
        os.fchown(fd, *policy.owner)
        os.fchmod(fd, _mode(member, policy, directory=False))
        shutil.copyfileobj(reader, out, 1024 * 1024)
        out.flush()
        os.utime(fd, (member.mtime, member.mtime))  # Dovecot reads a message's date from it


def pack(archive: tarfile.TarFile, path: Path, arcname: str) -> None:
    """Add the folder or file ``path`` to ``archive`` as ``arcname``: folders and regular files
    only, each opened relative to its parent's descriptor without following a link (and
    without blocking on a FIFO), its metadata read from the open descriptor, so nothing
    swapped in meanwhile is read."""
    _pack(archive, None, str(path), arcname)


_O_PACK = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _pack(archive: tarfile.TarFile, parent: int | None, name: str, arcname: str) -> None:
    kind = os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode
    if not (stat.S_ISDIR(kind) or stat.S_ISREG(kind)):
        return  # links, sockets, FIFOs and devices are no part of a mailbox or the state
    fd = os.open(name, _O_PACK, dir_fd=parent)  # a link swapped in meanwhile: ELOOP
    try:
        status = os.fstat(fd)
        if stat.S_ISDIR(status.st_mode):
            archive.addfile(_info(arcname, status, tarfile.DIRTYPE))
            for child in sorted(os.listdir(fd)):
                _pack(archive, fd, child, f"{arcname}/{child}")
        elif stat.S_ISREG(status.st_mode):
            with open(fd, "rb", closefd=False) as reader:
                archive.addfile(_info(arcname, status, tarfile.REGTYPE), reader)
    finally:
        os.close(fd)


def _info(name: str, status: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(status.st_mode)
    info.uid, info.gid = status.st_uid, status.st_gid
    info.mtime = int(status.st_mtime)  # whole seconds, as Dovecot keeps a message's date
    info.size = status.st_size if kind == tarfile.REGTYPE else 0
    return info
