"""The whole stack to a folder and back.

``backup_all`` (while everything runs) writes ``alumail-backup-<time>/`` holding:
- ``directory.ldif``: ``slapcat`` of the directory (one read transaction of LMDB: consistent);
- ``mail.tar.gz``: every mailbox, each copied first by ``doveadm backup`` (consistent per
  mailbox while mail keeps arriving), as ``<domain>/<local part>/Maildir``;
- ``state.tar.gz``: rendered configuration, TLS material, service secrets, DKIM keys, the web
  service's store (copied with SQLite's backup API) and key, the audit trail;
- ``manifest.json``: when, which domain, how many accounts and mailboxes.

``restore_all`` puts it onto a fresh state directory: the state files first, then one ``up`` to
build cn=config and stop again, the directory loaded with ``slapadd``, the mailboxes put back,
and the stack brought up. A backup folder may come from another machine: both archives are
checked whole by :mod:`mailstack.mailbox.archives` before anything is written (files and folders
only, under the expected top folders, their content fitting on the disk), and unpacked without ever
following a link.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path

from identity.directory import DirectoryConnection
from identity.dit import Tree
from identity.errors import AlumailError, ConflictError, ValidationError
from identity.roles import Actor
from mailstack.context import MAIL_USER, mail_user_ids
from mailstack.errors import DaemonError
from mailstack.files import ensure_dir, open_regular
from mailstack.layout import Layout
from mailstack.mailbox import archives
from mailstack.mailbox.doveadm import Doveadm
from mailstack.process import run
from mailstack.settings import Settings
from provisioning import stack
from provisioning.audit import AuditLog, audit_path

STATE_PARTS = ("etc", "tls", "secrets", "dkim", "web", "audit")
FORMAT = 1
MAX_MANIFEST_BYTES = 64 * 1024
MAIL_ROOT = "mail"


def backup_all(
    settings: Settings,
    target_dir: Path,
    *,
    system: DirectoryConnection,
    audit: AuditLog,
    actor: Actor,
) -> Path:
    """Copy the running stack into a new folder under ``target_dir`` (its path is returned),
    the accounts' addresses read on the ``system`` connection. Audited. A use case of a
    running stack, handed the composition root's connection and audit log; restore_all is not
    (there is no slapd to connect to yet, and the audit trail is the backup's once restored)."""
    with audit.action(actor, "backup-all", str(target_dir)) as done:
        out = _backup(settings, system, target_dir)
        done.changes = {"folder": str(out)}
    return out


def _backup(settings: Settings, system: DirectoryConnection, target_dir: Path) -> Path:
    layout = Layout(settings.state_dir)
    doveadm = Doveadm.of(layout)
    if not doveadm.dovecot_running():
        raise DaemonError("backup-all copies a running stack: run `alumail up` first")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = target_dir / f"alumail-backup-{stamp}"
    out.mkdir(parents=True, mode=0o700)
    run(
        ["slapcat", "-F", str(layout.slapd_d), "-n", "1", "-l", str(out / "directory.ldif")],
        what="slapcat",
    )
    tree = Tree(settings.base_dn)
    addresses = [
        e["mail"][0]
        for _, e in system.search(tree.people, "(objectClass=alumailAccount)", ["mail"])
    ]
    base = layout.tmp
    ensure_dir(base, 0o711)
    staging = Path(tempfile.mkdtemp(prefix="backup-all-", dir=base))
    shutil.chown(staging, MAIL_USER, MAIL_USER)
    mailboxes = 0
    try:
        for address in addresses:
            local, _, domain = address.partition("@")
            home = layout.mail / domain / local
            if not home.exists():
                continue  # never logged in nor received mail: nothing to copy
            copy = staging / domain / local / "Maildir"
            for folder in (staging / domain, staging / domain / local):
                folder.mkdir(exist_ok=True)
                shutil.chown(folder, MAIL_USER, MAIL_USER)
            doveadm("backup", "-u", address, f"maildir:{copy}", timeout=3600)
            mailboxes += 1
        with tarfile.open(out / "mail.tar.gz", "w:gz") as archive:
            archives.pack(archive, staging, MAIL_ROOT)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _state_archive(layout, out / "state.tar.gz")
    manifest = {
        "format": FORMAT,
        "created": stamp,
        "domain": settings.domain,
        "accounts": len(addresses),
        "mailboxes": mailboxes,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _state_archive(layout: Layout, target: Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        db = layout.web_db
        copy = Path(scratch) / "service.db"
        if db.exists():
            source = sqlite3.connect(db)
            dest = sqlite3.connect(copy)
            with dest:
                source.backup(dest)  # consistent even while the service writes
            source.close()
            dest.close()
        with tarfile.open(target, "w:gz") as archive:
            for part in STATE_PARTS:
                path = layout.root / part
                if not path.exists():
                    continue
                if part == "web":
                    for item in path.iterdir():
                        if item.name.startswith("service.db") or item.name.startswith("download-"):
                            continue
                        archives.pack(archive, item, f"web/{item.name}")
                    if copy.exists():
                        archives.pack(archive, copy, "web/service.db")
                else:
                    archives.pack(archive, path, part)


def restore_all(settings: Settings, source: Path, *, actor: Actor) -> dict[str, object]:
    """Restore the backup folder ``source`` onto a fresh state directory and bring the stack
    up. Audited, a refused or broken backup too. The restore replaces the audit trail with the
    backup's, so the line is written after it, onto that chain: the log is opened here, after
    the restore, not handed in before it."""
    try:
        result = _restore(settings, source)
    except AlumailError as error:
        audit = AuditLog(audit_path(settings.state_dir))
        audit.record(actor, "restore-all", str(source), "failed", detail=error.message)
        raise
    AuditLog(audit_path(settings.state_dir)).record(actor, "restore-all", str(source), "ok")
    return result


def _restore(settings: Settings, source: Path) -> dict[str, object]:
    manifest_file = source / "manifest.json"
    try:
        # A regular file of a few hundred bytes: a FIFO or a link to /dev/zero in a backup
        # folder neither hangs the restore nor fills memory.
        with open_regular(manifest_file) as handle:
            text = handle.read(MAX_MANIFEST_BYTES + 1)
        if len(text) > MAX_MANIFEST_BYTES:
            raise ValueError(f"manifest.json is larger than {MAX_MANIFEST_BYTES} bytes")
        manifest = json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValidationError("from", f"{source} is not an alumail backup: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise ValidationError("from", f"backup format {manifest.get('format')} is not {FORMAT}")
    if manifest.get("domain") != settings.domain:
        raise ValidationError(
            "from",
            f"the backup is of {manifest.get('domain')}, not of {settings.domain}",
        )
    layout = Layout(settings.state_dir)
    if (layout.ldap_data.exists() and any(layout.ldap_data.iterdir())) or (
        layout.mail.exists() and any(layout.mail.iterdir())
    ):
        raise ConflictError(
            f"state_dir: {layout.root} holds a directory or mail already; restore onto a fresh one"
        )
    check_directory_ldif(source / "directory.ldif")
    ensure_dir(layout.root, 0o755)
    state_policy, mail_policy = _restore_policies(layout.root)
    state = archives.check(source / "state.tar.gz", state_policy)
    mail = archives.check(
        source / "mail.tar.gz",
        dataclasses.replace(
            mail_policy,
            max_bytes=mail_policy.max_bytes - state.bytes,
            max_members=mail_policy.max_members - state.members,
        ),
    )
    archives.extract(source / "state.tar.gz", layout.root, state_policy)
    stack.up(settings)  # builds cn=config from the restored files; base entries in an empty db
    stack.down(settings)
    for item in layout.ldap_data.iterdir():
        item.unlink()
    run(
        [
            "slapadd",
            "-q",
            "-n",
            "1",
            "-F",
            str(layout.slapd_d),
            "-l",
            str(source / "directory.ldif"),
        ],
        what="slapadd (restoring the directory)",
    )
    for item in [layout.ldap_data, *layout.ldap_data.iterdir()]:
        shutil.chown(item, "openldap", "openldap")
    archives.extract(
        source / "mail.tar.gz",
        layout.root,
        dataclasses.replace(mail_policy, max_bytes=mail.bytes, max_members=mail.members),
    )
    report = stack.up(settings)
    return {"manifest": manifest, "actions": report.actions}


# slapadd, run as root, reads the value of ``attr:< file:///...`` and the whole of
# ``include: file:///...`` from anywhere on the machine (ldif(5)); slapcat never writes either.
_URL_VALUE = re.compile(rb"[^:#\s][^:]*:<")
_INCLUDE = re.compile(rb"include:", re.IGNORECASE)


def check_directory_ldif(path: Path) -> None:
    """Refuse a backup's LDIF that would make slapadd read other files: a value given by URL
    or an include statement (checked on unfolded lines, so folding cannot hide one)."""

    def check(line: bytearray, number: int) -> None:
        if _URL_VALUE.match(line) or _INCLUDE.match(line):
            what = "an include statement" if _INCLUDE.match(line) else "a value read from a URL"
            raise ValidationError(
                "from", f"directory.ldif line {number}: {what} is not allowed in a backup"
            )

    try:
        with open_regular(path) as handle:
            logical, start = bytearray(), 0
            for number, raw in enumerate(handle, 1):
                line = raw.rstrip(b"\r\n")
                if line.startswith(b" "):
                    logical += line[1:]  # a bytearray grows in place: long values stay linear
                    continue
                check(logical, start)
                logical, start = bytearray(line), number
            check(logical, start)
    except OSError as exc:
        raise ValidationError("from", f"directory.ldif cannot be read: {exc}") from exc


def _restore_policies(root: Path) -> tuple[archives.Policy, archives.Policy]:
    """The rules for the state and the mail archive of a backup folder. No quota tells how
    large a whole stack may be, so the limit is what the state directory's file system can
    hold: free space and free inodes, less a tenth kept free."""
    disk = os.statvfs(root)
    free_bytes = disk.f_bavail * disk.f_frsize * 9 // 10
    free_inodes = disk.f_favail * 9 // 10 if disk.f_files else 10_000_000  # 0: no inode limit
    state = archives.Policy(
        roots=STATE_PARTS,
        max_bytes=free_bytes,
        max_members=free_inodes,
        owner=(0, 0),
        field="from",
        keep_modes=True,  # secrets and keys stay 0600
    )
    mail = archives.Policy(
        roots=(MAIL_ROOT,),
        max_bytes=free_bytes,
        max_members=free_inodes,
        owner=mail_user_ids(),
        field="from",
    )
    return state, mail
