"""The audit trail: one JSON line per action (time, actor, action, target, outcome, what
changed), appended to ``state/audit/audit.jsonl``. Never a password or a hash: a password change
is recorded as ``"password": "changed"``.

Tamper evidence: each line carries the SHA-256 of the line before it, so an edited, removed or
reordered line breaks the chain (``alumail audit --verify``). Refused attempts (a role that may
not act, a rule broken) are recorded too.

Why not slapd's accesslog overlay as the source: it records LDAP operations with their values
(password hashes included unless filtered), knows nothing of refusals alumail makes before
writing, and nothing of actions outside LDAP (mail archives, quota reports). This trail
records intent and outcome; shipping it to a remote log host is the way to make it
tamper-proof rather than tamper-evident.
"""

from __future__ import annotations

import datetime
import fcntl
import grp
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from identity.roles import Actor
from mailstack.files import ensure_dir
from mailstack.privileges import SERVICE_USER

# Root's commands and the unprivileged web service both append: the folder is root's, group
# ``alumail`` (setgid, so the log keeps that group), the log 0660; nobody else reads it.
AUDIT_DIR_MODE = 0o2770
AUDIT_FILE_MODE = 0o660

GENESIS = "0" * 64
SECRET_FIELDS = frozenset({"password", "userPassword", "password_hash"})


def audit_path(state_dir: Path) -> Path:
    return state_dir / "audit" / "audit.jsonl"


def scrub(changes: dict[str, object]) -> dict[str, object]:
    return {k: ("changed" if k in SECRET_FIELDS else v) for k, v in changes.items()}


@dataclass
class AuditLog:
    path: Path

    def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        outcome: str,
        *,
        changes: dict[str, object] | None = None,
        detail: str | None = None,
    ) -> dict[str, object]:
        ensure_dir(self.path.parent, AUDIT_DIR_MODE, "root", SERVICE_USER)
        line: dict[str, object] = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "actor": actor.name,
            "role": actor.role.value,
            "action": action,
            "target": target,
            "outcome": outcome,
        }
        if changes:
            line["changes"] = scrub(changes)
        if detail:
            line["detail"] = detail
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, AUDIT_FILE_MODE)
        if os.geteuid() == 0:  # a log made before the web service ran unprivileged
            os.fchown(fd, 0, grp.getgrnam(SERVICE_USER).gr_gid)
            os.fchmod(fd, AUDIT_FILE_MODE)
        with os.fdopen(fd, "r+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # one writer at a time keeps the chain linear
            handle.seek(0, os.SEEK_END)
            line["prev"] = _last_digest(handle.fileno())
            handle.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return line

    def lines(self) -> Iterator[dict[str, object]]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                for text in handle:
                    if text.strip():
                        yield json.loads(text)
        except FileNotFoundError:
            return

    def query(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime.datetime | None = None,
    ) -> list[dict[str, object]]:
        out = []
        for line in self.lines():
            if target and line.get("target") != target:
                continue
            if actor and line.get("actor") != actor:
                continue
            if action and line.get("action") != action:
                continue
            if since and datetime.datetime.fromisoformat(str(line["time"])) < since:
                continue
            out.append(line)
        return out

    def verify(self) -> int | None:
        """The number of the first line whose chain link is broken, or None if intact."""
        previous = GENESIS
        try:
            with open(self.path, encoding="utf-8") as handle:
                for number, text in enumerate(handle, 1):
                    if json.loads(text).get("prev") != previous:
                        return number
                    previous = hashlib.sha256(text.rstrip("\n").encode()).hexdigest()
        except FileNotFoundError:
            return None
        except json.JSONDecodeError:
            return number
        return None


def _last_digest(fd: int) -> str:
    """SHA-256 of the last line of the (locked) file, read backwards from its end."""
    size = os.lseek(fd, 0, os.SEEK_END)
    if size == 0:
        return GENESIS
    chunk = 4096
    data = b""
    position = size
    while position > 0:
        step = min(chunk, position)
        position -= step
        data = os.pread(fd, step, position) + data
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            last = stripped.rsplit(b"\n", 1)[1]
            return hashlib.sha256(last).hexdigest()
    return hashlib.sha256(data.rstrip(b"\n")).hexdigest()
