"""The DNS check both faces share (provisioning/operations/dns.py): each record's state beside
what was found, and the resolver a form may name."""

from __future__ import annotations

import pytest

from identity.errors import FieldErrors
from mailstack.publish.dnsrecords import Record
from provisioning.operations import dns

pytestmark = pytest.mark.unit

EXPECTED = [
    Record("example.org.", "MX", "10 mail.example.org."),
    Record("example.org.", "TXT", "v=spf1 mx -all"),
    Record("_dmarc.example.org.", "TXT", "v=DMARC1; p=quarantine"),
]


def test_each_record_gets_its_state_and_what_was_found() -> None:
    published = {
        ("example.org.", "MX"): ["10 OLD.example.org."],
        ("example.org.", "TXT"): ["google-site-verification=x", "v=spf1 mx -all"],
    }
    asked: list[tuple[str, str]] = []

    def lookup(name: str, kind: str) -> list[str]:
        asked.append((name, kind))
        return published.get((name, kind), [])

    checked, differences = dns.check(EXPECTED, lookup)
    assert [c.state for c in checked] == [dns.DIFFERENT, dns.OK, dns.MISSING]
    assert checked[0].found == ["10 OLD.example.org."]  # as the resolver gave it
    assert checked[1].found == ["google-site-verification=x", "v=spf1 mx -all"]
    assert checked[2].found == []
    assert len(asked) == len(set(asked)) == 3  # each name and type asked once
    assert {d.problem for d in differences} == {"different", "missing"}


@pytest.mark.parametrize(
    ("address", "port", "expected"),
    [
        ("", "", (None, 53)),
        (" 127.0.0.1 ", "5353", ("127.0.0.1", 5353)),
        ("::1", "53", ("::1", 53)),
    ],
)
def test_a_resolver_an_admin_names(
    address: str, port: str, expected: tuple[str | None, int]
) -> None:
    assert dns.nameserver_of(address, port) == expected


def test_anything_else_is_named_field_by_field() -> None:
    with pytest.raises(FieldErrors) as refused:
        dns.nameserver_of("ns1.example.org", "0")
    assert set(refused.value.errors) == {"nameserver", "port"}
    with pytest.raises(FieldErrors):
        dns.nameserver_of("127.0.0.1", "53; rm")
