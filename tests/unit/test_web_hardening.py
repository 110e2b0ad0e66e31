"""Issue 10's web hardening in pure pieces: the outbox outlives any one bad message, the mailer
refuses a recipient that cannot stand in a header, search terms and path values are checked
before any directory call, error bodies never carry a DN, and a store made before sessions and
tokens were bound to entries is upgraded in place (its unbound rows refused)."""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import pytest

from identity.errors import (
    AccessDeniedError,
    AlumailError,
    DirectoryError,
    NotFoundError,
    ValidationError,
)
from mailstack.settings import build
from provisioning.mailer import Mailer, Outbox, check_recipient
from provisioning.people import api_tokens
from provisioning.people.accounts import check_search
from provisioning.people.standing import AccountState
from provisioning.store import Session, Standing, Store, digest
from provisioning.web.app import error_body

pytestmark = pytest.mark.unit
SECRET_LINK = "https://alumni.example.edu/reset?token=s3cr3t-t0ken"


def test_outbox_survives_a_failing_message_and_counts_it(caplog: pytest.LogCaptureFixture) -> None:
    outbox = Outbox()
    later = threading.Event()

    def header_refused() -> None:
        raise ValueError(f"Header values may not contain linefeed: {SECRET_LINK}")

    def ours_refused() -> None:
        raise ValidationError("recipient", "must be one address without spaces or line breaks")

    with caplog.at_level(logging.ERROR, logger="provisioning.mailer"):
        outbox.put(header_refused)
        outbox.put(ours_refused)
        outbox.put(later.set)
        assert later.wait(5), "the outbox stopped after a bad message"
        outbox.drain()
    assert (outbox.failed, outbox.sent) == (2, 1)
    assert "s3cr3t" not in caplog.text
    assert "ValueError" in caplog.text and "recipient" in caplog.text


@pytest.mark.parametrize(
    "to", ["a\n@example.org", "a@example.org\r\nBcc: x@evil.example", "a\x00@example.org", ""]
)
def test_mailer_refuses_recipients_that_cannot_stand_in_a_header(tmp_path: Path, to: str) -> None:
    mailer = Mailer(build({"state_dir": str(tmp_path)}, base=tmp_path))
    with pytest.raises(ValidationError) as caught:
        mailer.compose(to, "Reset your password", SECRET_LINK)
    assert caught.value.field == "recipient"
    with pytest.raises(ValidationError) as named:
        check_recipient(to, field="recovery_email")
    assert named.value.field == "recovery_email"


@pytest.mark.parametrize("term", ["", "   ", "\t", "a\x00", "x" * 101, "line\nbreak"])
def test_search_terms_break_a_named_rule(term: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_search(term)
    assert caught.value.field == "search"


def test_search_terms_people_type_are_kept() -> None:
    assert check_search("  Zhang Min ") == "Zhang Min"
    assert check_search("alum0001@alumni.example.edu") == "alum0001@alumni.example.edu"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (DirectoryError("search under uid=,,ou=people,dc=alumni failed: Invalid DN syntax"), 503),
        (NotFoundError("uid=x,ou=people,dc=alumni,dc=example does not exist"), 404),
        (AccessDeniedError("the directory refused to modify cn=admins,ou=groups: no access"), 403),
        (ValidationError("entry", "refused by the directory: uid=x,ou=people: bad"), 422),
    ],
)
def test_error_bodies_never_carry_a_dn_or_the_directory_diagnostic(
    error: AlumailError, status: int
) -> None:
    code, body = error_body(error)
    text = str(body)
    assert code == status
    assert "ou=" not in text and "uid=" not in text and "cn=" not in text
    assert "Invalid DN syntax" not in text


def test_a_store_from_before_bindings_is_upgraded_and_its_unbound_tokens_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "service.db"
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE api_tokens (id TEXT PRIMARY KEY, uid TEXT NOT NULL, digest TEXT NOT NULL,"
        " label TEXT NOT NULL, created REAL NOT NULL, last_used REAL, revoked REAL);"
        "CREATE TABLE sessions (digest TEXT PRIMARY KEY, uid TEXT NOT NULL, csrf TEXT NOT NULL,"
        " must_change INTEGER NOT NULL, created REAL NOT NULL, expires REAL NOT NULL);"
    )
    secret = "old-secret"
    db.execute(
        "INSERT INTO api_tokens VALUES ('0123abcd', 'desk.old', ?, 'old', 0, NULL, NULL)",
        (digest(secret),),
    )
    db.commit()
    db.close()
    store = Store(path)
    with pytest.raises(AccessDeniedError):
        api_tokens.holder(store, f"alm_0123abcd_{secret}")
    bound = api_tokens.Binding("desk.new", "uuid-1", "helpdesk")
    token, _ = api_tokens.issue(store, bound, "new")
    assert api_tokens.holder(store, token) == bound
    assert api_tokens.revoke_all(store, "desk.new") == 1
    with pytest.raises(AccessDeniedError):
        api_tokens.holder(store, token)


def test_only_tokens_bound_otherwise_than_the_member_now_are_revoked(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    old = api_tokens.Binding("desk.two", "uuid-old", "helpdesk")
    new = api_tokens.Binding("desk.two", "uuid-new", "admin")
    old_token, _ = api_tokens.issue(store, old, "before removal")
    new_token, _ = api_tokens.issue(store, new, "after re-adding")
    # The old token shows up: revoking what is stale must not take the new member's token.
    assert api_tokens.revoke_stale(store, "desk.two", new) == 1
    with pytest.raises(AccessDeniedError):
        api_tokens.holder(store, old_token)
    assert api_tokens.holder(store, new_token) == new
    assert api_tokens.revoke_stale(store, "desk.two", None) == 1  # removed: all of them
    with pytest.raises(AccessDeniedError):
        api_tokens.holder(store, new_token)


def test_a_session_is_admitted_only_by_the_entry_and_password_it_was_opened_with() -> None:
    granted = Standing("uuid-1", "20261129154715Z")
    session = Session("alum0001", "csrf", False, 0.0, granted)
    forced = Session("alum0001", "csrf", True, 0.0, granted)
    assert AccountState(granted, must_change=False, active=True).admits(session)
    assert AccountState(granted, must_change=True, active=True).admits(forced)
    refused = [
        AccountState(granted, must_change=False, active=False),  # suspended
        AccountState(Standing("uuid-2", granted.password_stamp), False, True),  # another entry
        AccountState(Standing("uuid-1", "20261129154716Z"), False, True),  # password changed
        AccountState(granted, must_change=True, active=True),  # reset by the helpdesk
    ]
    assert not any(state.admits(session) for state in refused)


def test_a_rule_quoting_the_clients_own_value_keeps_its_words() -> None:
    code, body = error_body(ValidationError("alias", "'uid=x' is not a valid local part"))
    assert code == 422
    assert body["error"] == {
        "type": "validation",
        "message": "alias: 'uid=x' is not a valid local part",
        "field": "alias",
        "fields": {"alias": "'uid=x' is not a valid local part"},
    }
