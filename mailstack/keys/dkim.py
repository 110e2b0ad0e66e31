"""DKIM keys: made on first ``up`` with OpenDKIM's own ``opendkim-genkey``, kept under
``state/dkim/``, one file pair per selector, and the selector in use named in
``state/dkim/selector``.

Rotation (``alumail dkim rotate``): a new key under a new selector is made and becomes the one
OpenDKIM signs with at once; the old key stays on disk so its DNS record can stay published
until mail signed with it has been delivered (a few days), then ``alumail dkim retire SELECTOR``
removes it. Publish the new record (``alumail dns``) before rotating, or right after: receivers
look the key up when the mail arrives.

The folder is OpenDKIM's, group ``alumail`` (0750), and each key's public record (``.txt``)
0644: the unprivileged web service lists the selectors and reads the records to publish (the
admin console's DNS page); the private keys stay 0600, OpenDKIM's alone.
"""

from __future__ import annotations

import datetime
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from identity.errors import ConfigError, NotFoundError, ValidationError
from mailstack.files import ensure_dir, write_atomic
from mailstack.layout import Layout
from mailstack.privileges import SERVICE_USER
from mailstack.process import run

KEY_BITS = 2048
OPENDKIM_USER = "opendkim"
_SELECTOR = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # whole values: fullmatch


@dataclass(frozen=True)
class DkimKey:
    selector: str
    private_key: Path
    record_file: Path

    def record(self) -> str:
        """The TXT value to publish at ``<selector>._domainkey.<domain>``."""
        text = self.record_file.read_text()
        # opendkim-genkey writes zone syntax: the value is the quoted strings, joined.
        return "".join(re.findall(r'"([^"]*)"', text))


@dataclass(frozen=True)
class DkimMaterial:
    """What the configurations say of the DKIM keys, read once before rendering."""

    signing: DkimKey | None  # the key in use; None until the first ``up`` makes one
    records: dict[str, str]  # selector -> TXT value, for every key still on disk


# Before the first ``up`` made a key (what a dry run renders).
NO_DKIM_KEY = DkimMaterial(signing=None, records={})


class DkimKeys:
    def __init__(self, layout: Layout) -> None:
        self.directory = layout.dkim
        self.pointer = self.directory / "selector"

    def key(self, selector: str) -> DkimKey:
        return DkimKey(
            selector,
            self.directory / f"{selector}.private",
            self.directory / f"{selector}.txt",
        )

    def current(self) -> DkimKey | None:
        if not self.pointer.is_file():
            return None
        key = self.key(self.pointer.read_text().strip())
        return key if key.private_key.is_file() else None

    def selectors(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("*.private"))

    def records(self) -> dict[str, str]:
        """selector -> the TXT record's text, for every key still on disk."""
        keys_on_disk = (self.key(selector) for selector in self.selectors())
        return {key.selector: key.record() for key in keys_on_disk if key.record_file.is_file()}

    def material(self) -> DkimMaterial:
        return DkimMaterial(self.current(), self.records())

    def ensure(self, domain: str) -> list[str]:
        """A key to sign with; made if there is none. Returns what was done."""
        if self.current() is not None:
            self._share_records()  # a state made before the records were shared
            return []
        key = self.generate(domain)
        return [f"made DKIM key {key.selector}._domainkey.{domain}"]

    def _share_records(self) -> None:
        """The folder readable by the web service's group, the public records by anyone."""
        ensure_dir(self.directory, 0o750, OPENDKIM_USER, SERVICE_USER)
        for record in self.directory.glob("*.txt"):
            record.chmod(0o644)

    def generate(self, domain: str, selector: str | None = None) -> DkimKey:
        """A new key pair under ``selector`` (default: ``k`` + today's date, made unique), which
        becomes the key in use."""
        selector = selector or self._new_selector()
        if not _SELECTOR.fullmatch(selector):
            raise ValidationError("selector", "must be lowercase letters, digits and hyphens")
        if (self.directory / f"{selector}.private").exists():
            raise ValidationError("selector", f"a key '{selector}' exists already")
        ensure_dir(self.directory, 0o750, OPENDKIM_USER, SERVICE_USER)
        run(
            [
                "opendkim-genkey",
                "-b",
                str(KEY_BITS),
                "-h",
                "sha256",
                "-d",
                domain,
                "-s",
                selector,
                "-D",
                str(self.directory),
            ],
            error=ConfigError,
            what="opendkim-genkey",
        )
        key = self.key(selector)
        key.private_key.chmod(0o600)
        shutil.chown(key.private_key, OPENDKIM_USER, OPENDKIM_USER)
        self._share_records()
        write_atomic(self.pointer, selector + "\n", mode=0o644)
        return key

    def retire(self, selector: str) -> None:
        current = self.current()
        if current is not None and current.selector == selector:
            raise ValidationError("selector", f"'{selector}' is the key in use; rotate first")
        key = self.key(selector)
        if not key.private_key.exists():
            raise NotFoundError(f"no DKIM key '{selector}'")
        key.private_key.unlink()
        key.record_file.unlink(missing_ok=True)

    def _new_selector(self) -> str:
        base = "k" + datetime.datetime.now(datetime.UTC).strftime("%Y%m%d")
        candidate, n = base, 1
        while (self.directory / f"{candidate}.private").exists():
            n += 1
            candidate = f"{base}-{n}"
        return candidate
