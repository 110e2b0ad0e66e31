"""Pulling a mailbox from another IMAP server into ours with Dovecot's own engine: ``doveadm
sync -1 -R`` from an ``imapc:`` location (dsync). dsync copies every folder (hierarchy and
names mapped from the other server's separator and encoding), flags, keywords and internal
dates; it keeps state between runs, so a rerun copies only what is new and an interrupted run
resumes, and it never deletes mail that only exists here.

The legacy credentials go in a temporary 0600 configuration file that includes ours, never on a
command line (where any local user could read them from the process list).
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import os
import re
import ssl
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mailstack.errors import DaemonError
from mailstack.layout import Layout
from mailstack.mailbox import mailstore
from mailstack.mailbox.doveadm import Doveadm
from mailstack.settings import Settings


@dataclass(frozen=True)
class ImapSource:
    host: str
    port: int
    security: str  # "imaps", "starttls" or "no" (loopback and tests only)
    login: str
    password: str
    master_user: str = ""  # log in as ``login`` with an admin's password (Dovecot master user)
    verify_tls: bool = True

    def __repr__(self) -> str:  # keeps the password out of tracebacks and logs
        return f"ImapSource({self.login}@{self.host}:{self.port})"


@dataclass(frozen=True)
class FolderCount:
    name: str
    messages: int
    bytes: int


def counts(doveadm: Doveadm, user: str) -> dict[str, FolderCount]:
    """Messages and bytes in each folder of ``user``'s mailbox here."""
    out = doveadm("-f", "json", "mailbox", "status", "-u", user, "messages vsize", "*", timeout=120)
    result = {}
    for row in json.loads(out or "[]"):
        result[row["mailbox"]] = FolderCount(
            row["mailbox"], int(row["messages"]), int(row["vsize"])
        )
    return result


def _settings_file(doveadm: Doveadm, source: ImapSource) -> Path:
    lines = [
        f"!include {doveadm.config}",
        f"imapc_host = {source.host}",
        f"imapc_port = {source.port}",
        f"imapc_ssl = {source.security}",
        f"imapc_ssl_verify = {'yes' if source.verify_tls else 'no'}",
        f"imapc_user = {source.login}",
        f"imapc_password = {source.password}",
        "imapc_features = rfc822.size fetch-headers",
        "mail_prefetch_count = 20",
    ]
    if source.master_user:
        lines.append(f"imapc_master_user = {source.master_user}")
    for line in lines:
        if "\n" in line or "\r" in line:
            raise DaemonError("a legacy setting holds a line break")
    handle, name = tempfile.mkstemp(prefix="imapc-", suffix=".conf", dir=doveadm.layout.secrets)
    with os.fdopen(handle, "w") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(name, 0o600)
    return Path(name)


def pull(doveadm: Doveadm, user: str, source: ImapSource, *, timeout: float = 3600) -> str:
    """Copy what is new on ``source`` into ``user``'s mailbox. Returns doveadm's output;
    DaemonError with its words when the copy fails."""
    if mailstore.active():  # the unprivileged web service: its root helper runs this
        if source.master_user:
            raise DaemonError("the web service pulls with the alumnus's own password only")
        return mailstore.pull(user, source.login, source.password, verify_tls=source.verify_tls)
    config = _settings_file(doveadm, source)
    try:
        for _ in range(3):
            proc = subprocess.run(
                ["doveadm", "-c", str(config), "sync", "-1", "-R", "-u", user, "imapc:"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if proc.returncode != 2:  # 2: done, but mail changed meanwhile: dsync asks again
                break
    except subprocess.TimeoutExpired as exc:
        raise DaemonError(f"copying from {source.host} did not finish in {timeout:.0f} s") from exc
    finally:
        config.unlink(missing_ok=True)
    output = (proc.stderr + proc.stdout).replace(source.password, "********")
    if proc.returncode != 0:
        raise DaemonError(
            f"copying {source.login}@{source.host} failed (doveadm exit {proc.returncode})",
            detail=output.strip(),
        )
    return output


def survey(source: ImapSource, timeout: float = 30) -> dict[str, int]:
    """Log in to ``source`` and count its messages per folder, copying nothing (a dry run's
    look). DaemonError if the server cannot be reached or refuses the login."""
    context = ssl.create_default_context()
    if not source.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if source.security == "imaps":
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                source.host, source.port, ssl_context=context, timeout=timeout
            )
        else:
            client = imaplib.IMAP4(source.host, source.port, timeout=timeout)
            if source.security == "starttls":
                client.starttls(ssl_context=context)
    except (OSError, imaplib.IMAP4.error) as exc:
        raise DaemonError(f"cannot reach {source.host}:{source.port}: {exc}") from exc
    try:
        try:
            if source.master_user:
                client.authenticate(
                    "PLAIN",
                    lambda _: f"{source.login}\0{source.master_user}\0{source.password}".encode(),
                )
            else:
                client.login(source.login, source.password)
        except imaplib.IMAP4.error as exc:
            raise DaemonError(f"{source.host} refused the login of {source.login}") from exc
        _, listing = client.list()
        folders: dict[str, int] = {}
        for line in listing:
            if not isinstance(line, bytes):
                continue
            match = re.match(rb'\((?P<attrs>[^)]*)\) "[^"]*" (?P<name>.+)$', line)
            if not match or b"\\Noselect" in match.group("attrs"):
                continue
            name = match.group("name").decode().strip('"')
            _, status = client.status(f'"{name}"', "(MESSAGES)")
            found = re.search(rb"MESSAGES (\d+)", status[0] or b"")
            folders[name] = int(found.group(1)) if found else 0
        return folders
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            client.logout()


def pull_as_helper(settings: Settings, user: str, login: str, password: str, verify: bool) -> str:
    """The root helper's pull (:mod:`mailstack.mailbox.mailstore`) from the configured legacy
    server, with the alumnus's own password."""
    source = ImapSource(
        settings.legacy.imap_host,
        settings.legacy.imap_port,
        settings.legacy.security,
        login,
        password,
        verify_tls=verify,
    )
    return pull(Doveadm.of(Layout(settings.state_dir)), user, source)
