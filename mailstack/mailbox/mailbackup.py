"""One mailbox to a file and back, with Dovecot's dsync.

The file is a gzip'd tar of a Maildir (Maildir++ layout: ``Maildir/cur``, ``Maildir/.Archive``,
``Maildir/.Archive.2015``; folder names in IMAP's modified UTF-7, as Dovecot and Courier write
them). Mutt, Thunderbird's ImportExportTools and any Maildir tool open it; flags are in the file
names (``:2,S`` seen, ``F`` flagged, ``R`` answered), keywords in ``dovecot-keywords``.

Backup is ``doveadm backup`` (the copy becomes exactly the mailbox, consistent while mail keeps
arriving); restore is ``doveadm sync -1 -R`` from the unpacked copy, which adds what is missing
and never deletes, so restoring twice changes nothing.

A file to restore comes from outside (alumni download their mailbox as such a file): it is
unpacked by :mod:`mailstack.mailbox.archives` (every member checked first; only files and folders
under ``Maildir/``, at most the account's quota plus room for Dovecot's index files; nothing written
through a link), into a fresh root-only folder handed to the mail user only afterwards.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from identity.errors import ValidationError
from mailstack.context import MAIL_USER, mail_user_ids
from mailstack.files import NotRegularFile, check_replaceable, ensure_dir
from mailstack.layout import Layout
from mailstack.mailbox import archives
from mailstack.mailbox.doveadm import Doveadm
from mailstack.privileges import SERVICE_USER

ROOT_NAME = "Maildir"
# A mailbox of 5 GiB holds some tens of thousands of messages; a quarter of a million members
# is far beyond any genuine one and keeps a tar of empty files from exhausting inodes.
MAX_MEMBERS = 250_000


def prepare_transfer(layout: Layout) -> None:
    """The mail user's folder, group alumail (2770), so no other user reaches what is inside."""
    ensure_dir(layout.transfer, 0o2770, MAIL_USER, SERVICE_USER)


def _workdir(layout: Layout) -> Path:
    """A folder for the copy, ``ROOT_NAME`` inside it. As root: the mail user's, for doveadm
    -u writes as the mail user. Unprivileged: the doveadm server (as the mail user) gives new
    files the modes of the copy's own folder, made here 2777 in the closed transfer folder, so
    this process can read them and remove them."""
    if os.geteuid() != 0:
        work = Path(tempfile.mkdtemp(prefix="mailbox-", dir=layout.transfer))
        work.chmod(0o711)
        (work / ROOT_NAME).mkdir()
        (work / ROOT_NAME).chmod(0o2777)
        return work
    base = layout.tmp
    ensure_dir(base, 0o711)
    return Path(tempfile.mkdtemp(prefix="mailbox-", dir=base))


def restore_policy(quota: int) -> archives.Policy:
    """What a mailbox backup may hold: ``Maildir/`` only, at most ``quota`` plus a quarter
    (Dovecot's index and cache files travel with the messages)."""
    return archives.Policy(
        roots=(ROOT_NAME,),
        max_bytes=quota + quota // 4,
        max_members=MAX_MEMBERS,
        owner=mail_user_ids(),
    )


def backup(doveadm: Doveadm, user: str, target: Path) -> Path:
    """Write ``user``'s mailbox to ``target`` (.tar.gz); returns ``target``."""
    try:
        check_replaceable(target)
    except NotRegularFile as exc:
        raise ValidationError("to", f"{target} exists and is not a regular file") from exc
    work = _workdir(doveadm.layout)
    if os.geteuid() == 0:
        shutil.chown(work, MAIL_USER, MAIL_USER)  # doveadm -u writes as the mail user
    partial = target.with_name(target.name + ".partial")
    try:
        copy = work / ROOT_NAME
        doveadm("backup", "-u", user, f"maildir:{copy}", timeout=3600)
        with tarfile.open(partial, "w:gz") as archive:
            archives.pack(archive, copy, ROOT_NAME)  # the copy is the mail user's: no links
        partial.replace(target)
        return target
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def restore(doveadm: Doveadm, user: str, source: Path, *, quota: int) -> None:
    """Add the messages and folders of a backup file to ``user``'s mailbox. The file is checked
    whole before anything is unpacked; a refused file leaves the mailbox as it was."""
    work = _workdir(doveadm.layout)
    try:
        archives.extract(source, work, restore_policy(quota))
        os.chown(work, *mail_user_ids(), follow_symlinks=False)  # our own mkdtemp folder
        doveadm("sync", "-1", "-R", "-u", user, f"maildir:{work / ROOT_NAME}", timeout=3600)
    finally:
        shutil.rmtree(work, ignore_errors=True)
