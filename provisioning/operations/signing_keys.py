"""DKIM signing keys as a use case (``alumail dkim rotate`` and ``retire``): an admin's change,
audited like every other (intent before acting, outcome after). The key files themselves are
mailstack.keys.dkim's; making the daemons use a new key is the caller's to hand in (``apply``: the
CLI brings the stack up again, so OpenDKIM rereads its configuration)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from identity.markers import N_
from identity.roles import Actor
from mailstack.keys.dkim import DkimKey
from provisioning.audit import AuditLog
from provisioning.people.lookups import require


class KeyFiles(Protocol):
    """The signing keys on disk (mailstack.keys.dkim.DkimKeys)."""

    def current(self) -> DkimKey | None: ...

    def selectors(self) -> list[str]: ...

    def generate(self, domain: str, selector: str | None = None) -> DkimKey: ...

    def retire(self, selector: str) -> None: ...


class SigningKeys:
    def __init__(self, keys: KeyFiles, audit: AuditLog, domain: str) -> None:
        self.keys = keys
        self.audit = audit
        self.domain = domain

    def in_use(self) -> DkimKey | None:
        """The key OpenDKIM signs with (its record is what to publish), None before `up`."""
        return self.keys.current()

    def on_disk(self) -> list[str]:
        """Every key's selector, the one in use and those not retired yet."""
        return self.keys.selectors()

    def rotate(self, actor: Actor, selector: str | None, *, apply: Callable[[], object]) -> DkimKey:
        """Make a new key and sign with it from now on; the old one stays until retired (its
        record must stay published while mail signed with it is in transit)."""
        with self.audit.action(actor, "dkim-rotate", self.domain) as outcome:
            require(actor, actor.can_administer(), N_("rotate DKIM keys"))
            key = self.keys.generate(self.domain, selector)
            apply()
            outcome.changes = {"selector": key.selector}
        return key

    def retire(self, actor: Actor, selector: str) -> None:
        """Remove an old key (not the one in use)."""
        with self.audit.action(actor, "dkim-retire", self.domain) as outcome:
            require(actor, actor.can_administer(), N_("retire DKIM keys"))
            self.keys.retire(selector)
            outcome.changes = {"selector": selector}
