"""The stack's own registrations at the provider (Dovecot's introspection client, Roundcube's
sign-in client): made at bring-up from their secret files and the settings, left alone while
both are the same, brought back in line when either changed, refused to admins' edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from identity.errors import ValidationError
from identity.roles import ROOT
from mailstack.context import INTROSPECTION_CLIENT, WEBMAIL_CLIENT
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.oidc.clients import (
    Clients,
    register_stack_clients,
    secret_matches,
    stack_clients,
)
from provisioning.oidc.storage import OidcStore
from provisioning.store import Store
from tests import support

pytestmark = pytest.mark.unit


def _settings(tmp_path: Path, **web: str) -> Settings:
    return support.test_settings(tmp_path, **{f"web.{key}": value for key, value in web.items()})


def test_dovecot_s_client_follows_its_secret_file(tmp_path: Path) -> None:
    store, audit = Store(tmp_path / "store.db"), AuditLog(tmp_path / "audit.jsonl")
    settings = _settings(tmp_path)
    wanted = stack_clients(settings, "first-secret", "webmail-secret")
    assert register_stack_clients(store, audit, wanted) == [INTROSPECTION_CLIENT, WEBMAIL_CLIENT]
    client = OidcStore(store).client(INTROSPECTION_CLIENT)
    assert client is not None and not client.public
    assert client.redirect_uris == ()  # it can never take part in a sign-in
    assert client.scopes == ("openid", "mail")
    assert secret_matches(client, "first-secret")

    assert register_stack_clients(store, audit, wanted) == []  # unchanged
    again = stack_clients(settings, "second-secret", "webmail-secret")
    assert register_stack_clients(store, audit, again) == [INTROSPECTION_CLIENT]
    client = OidcStore(store).client(INTROSPECTION_CLIENT)
    assert client is not None and secret_matches(client, "second-secret")
    assert not secret_matches(client, "first-secret")

    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [r["action"] for r in records].count("oidc-client-add") >= 3
    assert "second-secret" not in (tmp_path / "audit.jsonl").read_text()

    admins = Clients(store, audit, ROOT)
    for client_id in (INTROSPECTION_CLIENT, WEBMAIL_CLIENT):
        for change in (admins.remove, admins.rotate_secret):
            with pytest.raises(ValidationError, match="kept by `alumail up`"):
                change(client_id)


def test_the_webmail_s_client_returns_only_to_the_webmail(tmp_path: Path) -> None:
    store, audit = Store(tmp_path / "store.db"), AuditLog(tmp_path / "audit.jsonl")
    settings = _settings(tmp_path, webmail_url="https://mail.example.edu")
    register_stack_clients(store, audit, stack_clients(settings, "d", "w"))
    client = OidcStore(store).client(WEBMAIL_CLIENT)
    assert client is not None and client.trusted and not client.public
    assert client.redirect_uris == ("https://mail.example.edu/index.php/login/oauth",)
    assert client.post_logout_uris == ("https://mail.example.edu/",)
    assert "mail" in client.scopes and secret_matches(client, "w")

    # A new address: the registration follows it (and the old one is gone).
    moved = _settings(tmp_path, webmail_url="https://webmail.example.edu:8443")
    assert register_stack_clients(store, audit, stack_clients(moved, "d", "w")) == [WEBMAIL_CLIENT]
    client = OidcStore(store).client(WEBMAIL_CLIENT)
    assert client is not None
    assert client.redirect_uris == ("https://webmail.example.edu:8443/index.php/login/oauth",)
