"""The DNS records to publish (``alumail dns`` and the admin console's DNS page) and the check
of what resolvers return against them (``alumail dns check`` and the page's "check now"), one
use case for both faces."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from identity.errors import FieldErrors
from mailstack.publish import dnsrecords
from mailstack.settings import Settings
from provisioning.i18n import N_
from provisioning.operations.signing_keys import SigningKeys

# A record's state after a check: as published, nothing there, or something else there.
OK, MISSING, DIFFERENT = "ok", "missing", "different"


def expected_records(settings: Settings, keys: SigningKeys) -> list[dnsrecords.Record]:
    key = keys.in_use()
    dkim = (key.selector, key.record()) if key else None
    return dnsrecords.records(settings, dkim)


@dataclass(frozen=True)
class Checked:
    record: dnsrecords.Record
    found: list[str]
    state: str  # OK, MISSING or DIFFERENT


def check(
    expected: list[dnsrecords.Record], lookup: dnsrecords.LookupFunc
) -> tuple[list[Checked], list[dnsrecords.Difference]]:
    """Every expected record with what ``lookup`` found for its name and type, and its state
    (dnsrecords.compare's rules: a TXT value among the name's, other types exactly); and the
    differences as ``alumail dns check`` reports them."""
    seen: dict[tuple[str, str], list[str]] = {}

    def recorded(name: str, kind: str) -> list[str]:
        if (name, kind) not in seen:
            seen[(name, kind)] = lookup(name, kind)
        return seen[(name, kind)]

    differences = dnsrecords.compare(expected, recorded)
    problems = {id(d.record): d.problem for d in differences}
    checked = [
        Checked(
            record,
            seen.get((record.name, record.type), []),
            {"missing": MISSING, "different": DIFFERENT}.get(problems.get(id(record), ""), OK),
        )
        for record in expected
    ]
    return checked, differences


def nameserver_of(address: str, port: str) -> tuple[str | None, int]:
    """A form's resolver to ask: an IP address (empty: the system's resolvers) and a port."""
    errors: dict[str, str] = {}
    address = address.strip()
    if address:
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            errors["nameserver"] = N_("must be an IPv4 or IPv6 address")
    port = port.strip() or "53"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        errors["port"] = N_("must be a number from 1 to 65535")
    if errors:
        raise FieldErrors(errors)
    return address or None, int(port)
