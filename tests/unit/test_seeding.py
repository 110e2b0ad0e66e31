"""What every directory is seeded with (identity.seeding): parents before children, the mail
daemons' accounts with their secrets hashed and in the readers group, the web service's identity
without a password."""

from __future__ import annotations

import base64
import hashlib

import pytest

from identity.dit import WEB_SERVICE, Tree
from identity.seeding import SERVICE_ACCOUNTS, seed_entries

pytestmark = pytest.mark.unit

TREE = Tree("dc=alumni,dc=sjtu,dc=example")
SECRETS = {"dovecot": "dovecot-secret", "postfix": "postfix-secret"}


def _ssha512_matches(secret: str, stored: str) -> bool:
    """slapd's pw-sha2 check: {SSHA512} base64(sha512(secret + salt) + salt)."""
    raw = base64.b64decode(stored.removeprefix("{SSHA512}"))
    digest, salt = raw[:64], raw[64:]
    return (
        stored.startswith("{SSHA512}") and hashlib.sha512(secret.encode() + salt).digest() == digest
    )


def test_parents_come_before_their_children() -> None:
    dns = list(seed_entries(TREE, "alumni.sjtu.example", SECRETS))
    for index, dn in enumerate(dns):
        parent = dn.split(",", 1)[1] if dn != TREE.base_dn else None
        assert parent is None or parent in dns[:index], dn


def test_service_accounts_bind_with_their_secret_and_read_as_the_readers_group() -> None:
    entries = seed_entries(TREE, "alumni.sjtu.example", SECRETS)
    readers = entries[TREE.readers_group]["member"]
    for name in SERVICE_ACCOUNTS:
        (stored,) = entries[TREE.service(name)]["userPassword"]
        assert _ssha512_matches(SECRETS[name], stored)
        assert TREE.service(name) in readers
    assert TREE.service(WEB_SERVICE) not in readers
    assert "userPassword" not in entries[TREE.service(WEB_SERVICE)]
