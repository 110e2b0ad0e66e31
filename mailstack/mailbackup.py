"""One mailbox to a file and back, with Dovecot's dsync.

The file is a gzip'd tar of a Maildir (Maildir++ layout: ``Maildir/cur``, ``Maildir/.Archive``,
``Maildir/.Archive.2015``; folder names in IMAP's modified UTF-7, as Dovecot and Courier write
them). Mutt, Thunderbird's ImportExportTools and any Maildir tool open it; flags are in the file
names (``:2,S`` seen, ``F`` flagged, ``R`` answered), keywords in ``dovecot-keywords``.

Backup is ``doveadm backup`` (the copy becomes exactly the mailbox, consistent while mail keeps
arriving); restore is ``doveadm sync -1 -R`` from the unpacked copy, which adds what is missing
and never deletes, so restoring twice changes nothing.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from identity.errors import ValidationError
from mailstack.context import MAIL_USER, RenderContext
from mailstack.dovecot import Dovecot
from mailstack.files import ensure_dir
from mailstack.privileges import SERVICE_USER

ROOT_NAME = "Maildir"
# Where the unprivileged web service has the doveadm server write a copy it then reads: the
# mail user's folder, group alumail (2770), so no other user reaches what is inside.
TRANSFER = "transfer"


def prepare_transfer(ctx: RenderContext) -> None:
    ensure_dir(ctx.layout.root / TRANSFER, 0o2770, MAIL_USER, SERVICE_USER)


def _workdir(ctx: RenderContext) -> Path:
    """A folder for the copy, ``ROOT_NAME`` inside it. As root: the mail user's, for doveadm
    -u writes as the mail user. Unprivileged: the doveadm server (as the mail user) gives new
    files the modes of the copy's own folder, made here 2777 in the closed transfer folder, so
    this process can read them and remove them."""
    if os.geteuid() != 0:
        work = Path(tempfile.mkdtemp(prefix="mailbox-", dir=ctx.layout.root / TRANSFER))
        work.chmod(0o711)
        (work / ROOT_NAME).mkdir()
        (work / ROOT_NAME).chmod(0o2777)
        return work
    base = ctx.layout.root / "tmp"
    ensure_dir(base, 0o711)
    work = Path(tempfile.mkdtemp(prefix="mailbox-", dir=base))
    shutil.chown(work, MAIL_USER, MAIL_USER)  # doveadm -u writes as the mail user
    return work


def backup(ctx: RenderContext, user: str, target: Path) -> Path:
    """Write ``user``'s mailbox to ``target`` (.tar.gz); returns ``target``."""
    work = _workdir(ctx)
    try:
        copy = work / ROOT_NAME
        Dovecot(ctx).doveadm("backup", "-u", user, f"maildir:{copy}", timeout=3600)
        partial = target.with_name(target.name + ".partial")
        with tarfile.open(partial, "w:gz") as archive:
            archive.add(copy, arcname=ROOT_NAME)
        partial.replace(target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def restore(ctx: RenderContext, user: str, source: Path) -> None:
    """Add the messages and folders of a backup file to ``user``'s mailbox."""
    work = _workdir(ctx)
    try:
        try:
            with tarfile.open(source, "r:gz") as archive:
                members = archive.getmembers()
                if not members or any(
                    m.name != ROOT_NAME and not m.name.startswith(ROOT_NAME + "/") for m in members
                ):
                    raise ValidationError(
                        "file", f"must be a mailbox backup (a tar of {ROOT_NAME}/)"
                    )
                archive.extractall(work, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise ValidationError("file", f"cannot be read as a mailbox backup: {exc}") from exc
        for path in [work, *work.rglob("*")]:
            shutil.chown(path, MAIL_USER, MAIL_USER)
        Dovecot(ctx).doveadm(
            "sync", "-1", "-R", "-u", user, f"maildir:{work / ROOT_NAME}", timeout=3600
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
