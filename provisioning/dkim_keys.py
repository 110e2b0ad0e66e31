"""Use cases on the DKIM signing key: rotating to a new key and retiring an old one (admins
only, each audited), and the DNS records to publish for the key in use.

Handed the key store, the audit log and the actor; rotating is also handed how to make the
running stack take the new key (``apply``: ``alumail up``, after which OpenDKIM rereads its
configuration).
"""

from __future__ import annotations

from collections.abc import Callable

from identity.errors import AccessDeniedError
from identity.roles import Actor
from mailstack import dnsrecords
from mailstack.dkim import DkimKey, DkimKeys
from mailstack.settings import Settings
from provisioning.audit import AuditLog


def records_to_publish(settings: Settings, keys: DkimKeys) -> list[dnsrecords.Record]:
    """Every record the domain needs, with the DKIM record of the key in use (if any)."""
    key = keys.current()
    return dnsrecords.records(settings, (key.selector, key.record()) if key else None)


def rotate(
    keys: DkimKeys,
    audit: AuditLog,
    actor: Actor,
    domain: str,
    selector: str | None,
    *,
    apply: Callable[[], object],
) -> DkimKey:
    """A new key (named ``selector``, by default after the date) signs from now on; the old one
    is kept until it is retired, so mail signed with it still verifies."""
    with audit.action(actor, "dkim-rotate", domain) as done:
        _require_admin(actor, "rotate the DKIM key")
        key = keys.generate(domain, selector)
        apply()
        done.changes = {"selector": key.selector}
    return key


def retire(keys: DkimKeys, audit: AuditLog, actor: Actor, domain: str, selector: str) -> None:
    """Remove an old key (never the one in use)."""
    with audit.action(actor, "dkim-retire", domain) as done:
        _require_admin(actor, "retire a DKIM key")
        keys.retire(selector)
        done.changes = {"selector": selector}


def _require_admin(actor: Actor, what: str) -> None:
    if not actor.can_administer():
        raise AccessDeniedError(f"{actor} may not {what}")
