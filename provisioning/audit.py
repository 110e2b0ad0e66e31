"""The audit trail: JSON lines (time, actor, action, target, outcome, what changed), appended to
``state/audit/audit.jsonl``. Never a password or a hash: a password change is recorded as
``"password": "changed"``.

Intent before action: a change first appends a line with outcome ``begun``, then acts, then
appends its outcome (``ok``, ``unchanged``, ``denied``, ``failed``, ``partial``) under the same
``id``. When the intent cannot be written (a full disk, a read-only file system) nothing is
changed; a line is written whole or not at all; a change whose outcome could not be written
stays visible as ``begun`` (``alumail audit --verify`` names it). Reads are never recorded, so
they keep working on a full disk.

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
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from identity.errors import AccessDeniedError, AlumailError
from identity.roles import Actor
from mailstack.files import ensure_dir
from mailstack.layout import Layout
from mailstack.privileges import SERVICE_USER
from provisioning.errors import AuditError

# Root's commands and the unprivileged web service both append: the folder is root's, group
# ``alumail`` (setgid, so the log keeps that group), the log 0660; nobody else reads it.
AUDIT_DIR_MODE = 0o2770
AUDIT_FILE_MODE = 0o660

GENESIS = "0" * 64
BEGUN = "begun"
SECRET_FIELDS = frozenset({"password", "userPassword", "password_hash"})


def audit_path(state_dir: Path) -> Path:
    return Layout(state_dir).audit_log


def scrub(changes: dict[str, object]) -> dict[str, object]:
    return {k: ("changed" if k in SECRET_FIELDS else v) for k, v in changes.items()}


class Outcome:
    """What an audited block reports: ``changes`` made, or ``unchanged``; ``result`` overrides
    the outcome word (an import with failed rows is ``partial``)."""

    def __init__(self) -> None:
        self.changes: dict[str, object] = {}
        self.unchanged = False
        self.result: str | None = None

    def word(self) -> str:
        return self.result or ("unchanged" if self.unchanged else "ok")


@dataclass
class AuditLog:
    path: Path

    @contextmanager
    def action(self, actor: Actor, action: str, target: str) -> Iterator[Outcome]:
        """Record the intent, run the block, record its outcome. If the intent cannot be
        written the block never runs (AuditError): no change goes unrecorded."""
        entry = secrets.token_hex(8)
        self.record(actor, action, target, BEGUN, entry=entry)
        outcome = Outcome()
        try:
            yield outcome
        except BaseException as error:
            if isinstance(error, AccessDeniedError):
                word, detail = "denied", error.message
            elif isinstance(error, AlumailError):
                word, detail = "failed", error.message
            else:  # a bug or an interruption: the trail still says the action did not finish
                word, detail = "failed", type(error).__name__
            try:
                self.record(actor, action, target, word, detail=detail, entry=entry)
            except AuditError as lost:
                if isinstance(error, AlumailError):
                    error.detail = "\n".join(filter(None, [error.detail, lost.message]))
            raise
        try:
            self.record(
                actor, action, target, outcome.word(), changes=outcome.changes or None, entry=entry
            )
        except AuditError as lost:
            raise AuditError(
                f"{action} {target} was done, but its outcome could not be written to the "
                f"audit trail ({lost.message}); the trail shows it as begun"
            ) from lost

    def record(
        self,
        actor: Actor,
        action: str,
        target: str,
        outcome: str,
        *,
        changes: dict[str, object] | None = None,
        detail: str | None = None,
        entry: str | None = None,
    ) -> dict[str, object]:
        """Append one line, whole or not at all (AuditError when it cannot be written)."""
        line: dict[str, object] = {
            "time": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
            "actor": actor.name,
            "role": actor.role.value,
            "action": action,
            "target": target,
            "outcome": outcome,
        }
        if entry:
            line["id"] = entry
        if changes:
            line["changes"] = scrub(changes)
        if detail:
            line["detail"] = detail
        try:
            ensure_dir(self.path.parent, AUDIT_DIR_MODE, "root", SERVICE_USER)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, AUDIT_FILE_MODE)
        except (OSError, KeyError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"no group {SERVICE_USER}"
            raise AuditError(f"audit trail {self.path} cannot be written: {reason}") from exc
        try:
            if os.geteuid() == 0:  # a log made before the web service ran unprivileged
                os.fchown(fd, 0, grp.getgrnam(SERVICE_USER).gr_gid)
                os.fchmod(fd, AUDIT_FILE_MODE)
            fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time keeps the chain linear
            size = os.lseek(fd, 0, os.SEEK_END)
            line["prev"] = _last_digest(fd)
            text = json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n"
            data = text.encode("utf-8", "backslashreplace")
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as exc:
                with suppress(OSError):
                    os.ftruncate(fd, size)  # no partial line: the chain stays verifiable
                raise AuditError(
                    f"audit trail {self.path} cannot be written: {exc.strerror}"
                ) from exc
        finally:
            os.close(fd)
        return line

    def lines(self) -> Iterator[dict[str, object]]:
        try:
            with open(self.path, "rb") as handle:
                for number, raw in enumerate(handle, 1):
                    if raw.strip():
                        yield _parse(raw, number)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise AuditError(f"audit trail {self.path} cannot be read: {exc.strerror}") from exc

    def actions(self) -> list[dict[str, object]]:
        """One line per action: its outcome, or its intent (``begun``) while it has none."""
        folded: list[dict[str, object] | None] = []
        open_intents: dict[object, int] = {}
        for line in self.lines():
            entry = line.get("id")
            if line.get("outcome") == BEGUN and entry:
                open_intents[entry] = len(folded)
            elif entry in open_intents:
                folded[open_intents.pop(entry)] = None
            folded.append(line)
        return [line for line in folded if line is not None]

    def unfinished(self) -> list[dict[str, object]]:
        """Actions that began and have no outcome: running now, or their outcome was lost."""
        return [line for line in self.actions() if line.get("outcome") == BEGUN]

    def query(
        self,
        *,
        target: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime.datetime | None = None,
    ) -> list[dict[str, object]]:
        out = []
        for line in self.actions():
            if target and line.get("target") != target:
                continue
            if actor and line.get("actor") != actor:
                continue
            if action and line.get("action") != action:
                continue
            if since and _when(line) < since:
                continue
            out.append(line)
        return out

    def verify(self) -> int | None:
        """The number of the first line whose chain link is broken, or None if intact."""
        previous = GENESIS
        try:
            with open(self.path, "rb") as handle:
                for number, raw in enumerate(handle, 1):
                    try:
                        if _parse(raw, number).get("prev") != previous:
                            return number
                    except AuditError:
                        return number
                    previous = hashlib.sha256(raw.rstrip(b"\n")).hexdigest()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise AuditError(f"audit trail {self.path} cannot be read: {exc.strerror}") from exc
        return None


def _parse(raw: bytes, number: int) -> dict[str, object]:
    try:
        line = json.loads(raw)
    except ValueError as exc:
        raise AuditError(f"audit trail line {number} is not JSON (alumail audit --verify)") from exc
    if not isinstance(line, dict):
        raise AuditError(f"audit trail line {number} is not a JSON object")
    return line


def _when(line: dict[str, object]) -> datetime.datetime:
    try:
        return datetime.datetime.fromisoformat(str(line.get("time")))
    except ValueError:
        return datetime.datetime.min.replace(tzinfo=datetime.UTC)


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
