"""Dovecot's registration at the provider: made at bring-up from its secret file, left alone
while the secret is the same, brought back in line when it changed, refused to admins' edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from identity.errors import ValidationError
from identity.roles import ROOT
from mailstack.context import INTROSPECTION_CLIENT
from provisioning.audit import AuditLog
from provisioning.oidc.clients import Clients, register_introspection_client, secret_matches
from provisioning.oidc.storage import OidcStore
from provisioning.store import Store

pytestmark = pytest.mark.unit


def test_dovecot_s_client_follows_its_secret_file(tmp_path: Path) -> None:
    store, audit = Store(tmp_path / "store.db"), AuditLog(tmp_path / "audit.jsonl")
    assert register_introspection_client(store, audit, "first-secret") is True
    client = OidcStore(store).client(INTROSPECTION_CLIENT)
    assert client is not None and not client.public
    assert client.redirect_uris == ()  # it can never take part in a sign-in
    assert client.scopes == ("openid", "mail")
    assert secret_matches(client, "first-secret")

    assert register_introspection_client(store, audit, "first-secret") is False  # unchanged
    assert register_introspection_client(store, audit, "second-secret") is True
    client = OidcStore(store).client(INTROSPECTION_CLIENT)
    assert client is not None and secret_matches(client, "second-secret")
    assert not secret_matches(client, "first-secret")

    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["action"] for r in records].count("oidc-client-add") >= 2
    assert "second-secret" not in (tmp_path / "audit.jsonl").read_text()

    admins = Clients(store, audit, ROOT)
    for change in (admins.remove, admins.rotate_secret):
        with pytest.raises(ValidationError, match="kept by `alumail up`"):
            change(INTROSPECTION_CLIENT)
