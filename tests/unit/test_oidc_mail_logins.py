"""The tokens Dovecot accepted are flushed from its cache one by one as they expire (never
before), each under its own key; cuts flush the whole cache. Real threads and clocks, the
mailbox administration in memory (tests/integration/test_oidc_mail.py has the real Dovecot)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from mailstack.mailbox import authcache
from provisioning.oidc.mail_logins import GRACE, TokenLogins
from tests.support import wait_for
from tests.unit.fakes import FakeMailboxes

pytestmark = pytest.mark.unit


def test_each_token_is_flushed_when_it_expires_and_not_before() -> None:
    mailboxes = FakeMailboxes()
    logins = TokenLogins(mailboxes)
    try:
        now = time.time()
        logins.accepted("zhang.san", "later-token", now + GRACE + 30)
        logins.accepted("li.si", "sooner-token", now + GRACE + 0.3)
        assert mailboxes.tokens_flushed == []
        assert wait_for(lambda: mailboxes.tokens_flushed, timeout=GRACE + 3, interval=0.02)
        assert time.time() >= now + GRACE + 0.3
        assert mailboxes.tokens_flushed == [("li.si", "sooner-token")]
        assert logins.pending() == 1  # the later one waits for its own expiry
        assert mailboxes.token_flushes == 0  # nobody else's cached login went
    finally:
        logins.close()


def test_a_token_seen_in_its_last_moment_is_flushed_after_dovecot_stored_it() -> None:
    mailboxes = FakeMailboxes()
    logins = TokenLogins(mailboxes)
    try:
        seen = time.time()
        logins.accepted("zhang.san", "nearly-gone", seen - 1)  # expired as it was answered
        assert wait_for(lambda: mailboxes.tokens_flushed, timeout=GRACE + 3, interval=0.02)
        assert time.time() >= seen + GRACE
    finally:
        logins.close()


def test_a_revoked_token_goes_alone_and_other_cuts_flush_the_whole_cache() -> None:
    mailboxes = FakeMailboxes()
    logins = TokenLogins(mailboxes)
    logins.cut("zhang.san", "revoked-token")
    assert mailboxes.tokens_flushed == [("zhang.san", "revoked-token")]
    assert mailboxes.token_flushes == 0
    logins.cut_all()
    assert mailboxes.token_flushes == 1


@pytest.mark.parametrize("key", ["", "zhang.san\ttoken", "zhang.san\ntoken"])
def test_an_auth_cache_key_the_protocol_would_misread_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="printable"):
        authcache.flush(Path("/nonexistent"), [key])
