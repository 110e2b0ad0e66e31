"""The end of a person's session at the provider (provisioning/oidc/logout.py), on a store of
its own: which clients are told (a URI, and a token still good or a consent), every token of
the person revoked, Dovecot's token logins forgotten once; the logout token's claims; a store
made before back-channel logout gains its column."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path

import jwt
import pytest

from provisioning.oidc.keys import SigningKeys
from provisioning.oidc.logout import EVENT, BackChannel, Notice, SessionEnd
from provisioning.oidc.storage import Client, OidcStore, Token
from provisioning.store import Store

pytestmark = pytest.mark.unit
SUB, OTHER = "0f0f0f0f-0000-4000-8000-000000000001", "0f0f0f0f-0000-4000-8000-000000000002"


class Recorded(BackChannel):
    """Keeps the notices instead of posting them."""

    def __init__(self, keys: SigningKeys) -> None:
        super().__init__(keys, "https://id.example/")
        self.sent: list[Notice] = []

    def send(self, notices: Iterable[Notice]) -> None:
        self.sent.extend(notices)


def client(client_id: str, uri: str | None) -> Client:
    return Client(
        client_id, client_id, None, ("https://app.example/cb",), ("openid",), True, True, (),
        "RS256", time.time(), uri,
    )  # fmt: skip


def token(oidc: OidcStore, client_id: str, sub: str, uid: str = "ann", **when: float) -> str:
    now = time.time()
    access = f"access-{client_id}-{sub}-{now}"
    oidc.save_token(
        access,
        f"refresh-{client_id}-{sub}-{now}",
        Token(
            "", None, f"grant-{client_id}", client_id, uid, sub, "stamp", "openid", now,
            when.get("access_expires", now + 600), when.get("refresh_expires", now + 3600),
            None, None,
        ),
    )  # fmt: skip
    return access


@pytest.fixture
def setup(tmp_path: Path) -> tuple[OidcStore, SessionEnd, Recorded, list[str]]:
    store = Store(tmp_path / "store.db")
    oidc = OidcStore(store)
    channel = Recorded(SigningKeys(tmp_path / "keys.json"))
    forgotten: list[str] = []
    ended = SessionEnd(
        store,
        channel,
        entry_of=lambda uid: SUB if uid == "ann" else None,
        forget_token_logins=lambda: forgotten.append("flush"),
    )
    return oidc, ended, channel, forgotten


def test_only_clients_with_a_uri_and_something_of_the_person_s_are_told(
    setup: tuple[OidcStore, SessionEnd, Recorded, list[str]],
) -> None:
    oidc, ended, channel, forgotten = setup
    now = time.time()
    for client_id, uri in [
        ("live", "https://a.example/bc"),
        ("consented", "https://b.example/bc"),
        ("no-uri", None),
        ("expired", "https://c.example/bc"),
        ("revoked", "https://d.example/bc"),
        ("someone-else-s", "https://e.example/bc"),
    ]:
        oidc.add_client(client(client_id, uri))
    live = token(oidc, "live", SUB, access_expires=now - 1)  # its refresh token still good
    oidc.consent(SUB, "consented", ["openid"])
    token(oidc, "no-uri", SUB)
    token(oidc, "expired", SUB, access_expires=now - 1, refresh_expires=now - 1)
    stale = oidc.by_access(token(oidc, "revoked", SUB))
    assert stale is not None
    oidc.revoke(stale)
    token(oidc, "someone-else-s", OTHER)

    sent = ended.ended(entry_uuids=[SUB])
    assert sent == channel.sent
    assert [(n.client_id, n.uri, n.sub) for n in sent] == [
        ("consented", "https://b.example/bc", SUB),
        ("live", "https://a.example/bc", SUB),
    ]
    assert forgotten == ["flush"]
    found = oidc.by_access(live)
    assert found is not None and found.revoked is not None
    assert oidc.logged_in_clients(SUB) == [oidc.client("consented")]  # consent stays
    assert [c.client_id for c in oidc.logged_in_clients(OTHER)] == ["someone-else-s"]


def test_by_name_the_entries_holding_tokens_under_it_and_the_entry_that_has_it_now(
    setup: tuple[OidcStore, SessionEnd, Recorded, list[str]],
) -> None:
    oidc, ended, _, _ = setup
    oidc.add_client(client("app", "https://a.example/bc"))
    token(oidc, "app", OTHER, uid="ann")  # a deleted entry's tokens, under the same name
    oidc.consent(SUB, "app", ["openid"])  # the entry named ann now: a consent only
    token(oidc, "app", "0f0f0f0f-0000-4000-8000-000000000003", uid="bob")
    assert sorted(n.sub for n in ended.ended(uid="ann")) == sorted([SUB, OTHER])
    assert ended.ended(uid="nobody") == []


def test_the_logout_token_carries_what_the_specification_asks_and_no_nonce(
    tmp_path: Path,
) -> None:
    keys = SigningKeys(tmp_path / "keys.json")
    channel = BackChannel(keys, "https://id.example/")
    for alg in ("RS256", "ES256"):
        text = channel.logout_token(Notice("app-1", "https://a.example/bc", SUB, alg))
        header = jwt.get_unverified_header(text)
        assert header == {"alg": alg, "kid": keys.signing(alg).kid, "typ": "logout+jwt"}
        public = jwt.PyJWK.from_dict(keys.signing(alg).key.as_dict(private=False))
        claims = jwt.decode(
            text, public.key, algorithms=[alg], audience="app-1", issuer="https://id.example"
        )
        assert set(claims) == {"iss", "aud", "iat", "exp", "jti", "sub", "events"}
        assert claims["sub"] == SUB and claims["events"] == {EVENT: {}}
        assert 0 < claims["exp"] - claims["iat"] <= 120
    first = channel.logout_token(Notice("app-1", "https://a.example/bc", SUB, "RS256"))
    second = channel.logout_token(Notice("app-1", "https://a.example/bc", SUB, "RS256"))
    assert (
        jwt.decode(first, options={"verify_signature": False})["jti"]
        != jwt.decode(second, options={"verify_signature": False})["jti"]
    )


def test_a_store_made_before_back_channel_logout_gains_its_column(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db")
    with sqlite3.connect(store.path) as db:
        db.execute(
            "CREATE TABLE oidc_clients (client_id TEXT PRIMARY KEY, name TEXT NOT NULL, "
            "secret_digest TEXT, redirect_uris TEXT NOT NULL, scopes TEXT NOT NULL, "
            "public INTEGER NOT NULL, trusted INTEGER NOT NULL, post_logout_uris TEXT NOT NULL, "
            "id_token_alg TEXT NOT NULL, created REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO oidc_clients VALUES ('old', 'Old', NULL, '[]', '[\"openid\"]', 1, 0, "
            "'[]', 'RS256', 0)"
        )
    db.close()
    oidc = OidcStore(store)
    found = oidc.client("old")
    assert found is not None and found.backchannel_logout_uri is None
    oidc.add_client(client("new", "https://a.example/bc"))
    assert [c.backchannel_logout_uri for c in oidc.clients()] == [None, "https://a.example/bc"]
