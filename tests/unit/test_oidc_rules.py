"""The OpenID Connect provider's rules: which redirect URIs a client may register, which scopes
it gets, which claims each scope releases, and the signing keys' rotation."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import pytest

from identity.errors import ConflictError, ValidationError
from provisioning.oidc import keys as keys_module
from provisioning.oidc.keys import SigningKeys
from provisioning.oidc.rules import (
    ID_TOKEN_TTL,
    allowed_scopes,
    check_client_name,
    check_redirect_uri,
    check_scopes,
    claims_for,
)
from provisioning.oidc.storage import Client, OidcStore
from provisioning.store import Store

pytestmark = pytest.mark.unit
PERSON = {
    "sub": "0b6c6a7e-1d3f-4a5b-9c8d-7e6f5a4b3c2d",
    "name": "Zhang Min",
    "given_name": "Min",
    "family_name": "Zhang",
    "preferred_username": "zhang.min",
    "email": "zhang.min@alumni.example",
    "email_verified": True,
    "graduation_year": 2015,
}


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "https://app.example:8443/cb?tenant=alumni",
        "http://127.0.0.1:8080/cb",
        "http://localhost/cb",
        "http://[::1]:9/cb",
    ],
)
def test_redirect_uris_a_client_may_register(uri: str) -> None:
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    ("uri", "rule"),
    [
        ("", "1 to"),
        ("http://app.example/cb", "loopback"),
        ("http://127.0.0.1.evil.example/cb", "loopback"),
        ("https://app.example/cb#x", "fragment"),
        ("https://user@app.example/cb", "user information"),
        ("/cb", "absolute"),
        ("//app.example/cb", "absolute"),
        ("javascript:alert(1)", "absolute"),
        ("ftp://app.example/cb", "absolute"),
        ("https://app.example/c b", "spaces"),
        ("https://app.example/cb\r\nX: y", "control"),
        ("https://app.example:99999/cb", "not a valid URI"),
        ("https://" + "a" * 2000 + ".example/", "1 to"),
    ],
)
def test_redirect_uris_refused_name_the_field_and_rule(uri: str, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_redirect_uri(uri)
    assert refused.value.field == "redirect-uri"
    assert rule in refused.value.rule


def test_registered_scopes_always_hold_openid_and_only_known_ones() -> None:
    assert check_scopes(["profile", "email profile"]) == ["openid", "profile", "email"]
    assert check_scopes(["alumni"]) == ["openid", "alumni"]
    assert check_scopes(["mail"]) == ["openid", "mail"]
    with pytest.raises(ValidationError, match="'admin' is not a scope offered"):
        check_scopes(["admin"])


def test_a_client_gets_only_the_scopes_it_was_registered_for() -> None:
    registered = ["openid", "email"]
    assert allowed_scopes("openid profile email admin", registered) == ["openid", "email"]
    assert allowed_scopes("email email", registered) == ["email"]
    assert allowed_scopes(None, registered) == []
    # The mailbox too: only a client registered for ``mail`` gets it.
    assert allowed_scopes("openid mail", registered) == ["openid"]
    assert allowed_scopes("openid mail", ["openid", "mail"]) == ["openid", "mail"]


def test_claims_by_scope() -> None:
    assert claims_for(["openid"], PERSON) == {"sub": PERSON["sub"]}
    profile = claims_for(["openid", "profile"], PERSON)
    assert set(profile) == {"sub", "name", "given_name", "family_name", "preferred_username"}
    email = claims_for(["openid", "email"], PERSON)
    assert email == {"sub": PERSON["sub"], "email": PERSON["email"], "email_verified": True}
    assert "given_name" not in claims_for(["profile"], {**PERSON, "given_name": None})
    assert claims_for(["alumni"], PERSON) == {"sub": PERSON["sub"], "graduation_year": 2015}
    # ``mail`` grants access to the mailbox, not claims.
    assert claims_for(["openid", "mail"], PERSON) == {"sub": PERSON["sub"]}


def test_client_names() -> None:
    assert check_client_name("  Alumni Jobs ") == "Alumni Jobs"
    for bad in ("", " ", "x" * 65, "tab\there"):
        with pytest.raises(ValidationError):
            check_client_name(bad)


def test_signing_keys_are_private_and_rotation_keeps_old_ones_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "ensure_dir", lambda path, *_: path.mkdir(exist_ok=True))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    keys = SigningKeys(tmp_path / "oidc-keys.json")
    first = {k.kid for k in keys.all()}
    assert {k.alg for k in keys.all()} == {"RS256", "ES256"}
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600
    assert all("d" not in k for k in keys.jwks()["keys"])  # public halves only
    rs256 = keys.signing("RS256").kid
    added, dropped = keys.rotate()
    assert not dropped and keys.signing("RS256").kid != rs256
    published = {k["kid"] for k in keys.jwks()["keys"]}
    assert first < published and len(published) == 4
    # Once every token the old keys signed has expired, they leave the JWKS, then the file.
    later = time.time() + ID_TOKEN_TTL + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert {k["kid"] for k in keys.jwks()["keys"]} == {k.kid for k in added}
    _, dropped = keys.rotate()
    assert {k.kid for k in dropped} == first
    assert len(json.loads(keys.path.read_text())["keys"]) == 4
    assert stat.S_IMODE(keys.path.stat().st_mode) == 0o600


def test_a_second_first_key_file_does_not_replace_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys_module, "ensure_dir", lambda path, *_: path.mkdir(exist_ok=True))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    keys = SigningKeys(tmp_path / "oidc-keys.json")
    keys.all()
    first = keys.path.read_bytes()
    late = [keys_module._new("RS256", time.time())]  # a racing request's own new keys
    keys_module._create(keys.path, late)
    assert keys.path.read_bytes() == first
    assert [p.name for p in keys.path.parent.iterdir()] == [keys.path.name]  # nothing left staged


def test_two_clients_of_one_name_cannot_both_be_stored(tmp_path: Path) -> None:
    """The name is unique in the database itself: two admins adding it at the same moment both
    pass any check made before the insert, and only one insert may win."""
    oidc = OidcStore(Store(tmp_path / "web.db"))

    def named(client_id: str) -> Client:
        return Client(client_id, "racer", None, ("https://a.example.org/cb",), ("openid",),
                      True, False, (), "RS256", time.time())  # fmt: skip

    oidc.add_client(named("one"))
    with pytest.raises(ConflictError, match="registered already"):
        oidc.add_client(named("two"))
    assert [c.client_id for c in oidc.clients()] == ["one"]
