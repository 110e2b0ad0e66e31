"""Desktop clients with tokens: curl (Debian's, which none of us wrote) logs in to IMAPS,
POP3S and submission with an access token of our provider carrying ``mail`` (Dovecot's oauth2
passdb asks the provider's introspection endpoint; Postfix asks Dovecot through the SASL relay),
and is refused with a token lacking ``mail``, an expired one, a revoked one, someone else's, or
a suspended account's. Passwords keep working beside it. Dovecot caches a token it accepted
(``auth.cache_ttl``): the web service flushes that token's entry when it expires
(provisioning/oidc/mail_logins.py), and a revocation, a logout, an app's withdrawal, a replayed
refresh token and whatever ends a person's sessions flush the whole cache; each is tested after
the token was accepted once, so a cache entry left behind fails the test."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from identity.accounts import Account
from mailstack.context import INTROSPECTION_CLIENT
from mailstack.layout import Layout
from mailstack.settings import Settings
from provisioning.oidc.mail_logins import GRACE
from provisioning.people.accounts import AccountService
from provisioning.store import Store, digest
from tests import mail
from tests.oidc import (
    Rp,
    cli,
    close_browsers,  # noqa: F401 -- an autouse fixture
    code_for,
    exchange,
    register,
    signed_in,
)
from tests.support import (
    NewAccount,
    curl,
    curl_send,
    running_stack,
    self_addressed,
    use_case,
    wait_for,
)
from tests.web import form_token

pytestmark = pytest.mark.integration


def imaps_folders(
    settings: Settings, account: Account, token: str
) -> subprocess.CompletedProcess[str]:
    url = f"imaps://{settings.connect_host}:{settings.ports.imaps}/"
    return curl(settings, "--user", f"{account.uid}:", "--oauth2-bearer", token, url)


def submit(
    settings: Settings, account: Account, token: str, folder: Path, subject: str
) -> subprocess.CompletedProcess[str]:
    """A message to the account itself through submission, logged in with ``token``."""
    message = self_addressed(folder, account, subject)
    return curl_send(
        settings, account, message, "--user", f"{account.uid}:", "--oauth2-bearer", token
    )


def access_token(settings: Settings, rp: Rp, account: Account, password: str, scope: str) -> str:
    http = signed_in(settings, account, password)
    code, verifier = code_for(http, rp, scope=scope)
    answer = exchange(http, rp, code, verifier)
    assert answer.status_code == 200, answer.text
    assert answer.json()["scope"].split() == scope.split()
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture(scope="module")
def mail_app(live_stack: Settings) -> Rp:
    return register(live_stack, "--scope", "mail", "--trusted")


def test_a_token_with_mail_logs_in_to_imaps_and_submission_beside_passwords(
    live_stack: Settings, mail_app: Rp, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    token = access_token(live_stack, mail_app, account, password, "openid mail")

    folders = imaps_folders(live_stack, account, token)
    assert folders.returncode == 0, folders.stderr
    assert "INBOX" in folders.stdout

    sent = submit(live_stack, account, token, tmp_path, "sent with a token")
    assert sent.returncode == 0, sent.stderr
    # The password still logs in (the LDAP bind passdb), and finds what the token sent.
    assert wait_for(
        lambda: "sent with a token" in mail.inbox_subjects(live_stack, account.uid, password)
    )
    # POP3 takes the token too, and lists the message.
    pop3 = curl(
        live_stack,
        "--user",
        f"{account.uid}:",
        "--oauth2-bearer",
        token,
        f"pop3s://{live_stack.connect_host}:{live_stack.ports.pop3s}/",
    )
    assert pop3.returncode == 0, pop3.stderr
    assert pop3.stdout.strip().startswith("1 ")
    # Dovecot's client secret is in no log of the stack.
    secret = (Layout(live_stack.state_dir).secrets / "dovecot.oidc-secret").read_text().strip()
    for log in Layout(live_stack.state_dir).log.glob("*.log"):
        assert secret not in log.read_text(errors="replace"), log


def test_a_token_without_mail_expired_revoked_or_of_someone_else_is_refused(
    live_stack: Settings, mail_app: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    without = access_token(live_stack, mail_app, account, password, "openid")
    assert imaps_folders(live_stack, account, without).returncode != 0

    # An expired token (its expiry moved into the past, never accepted: a token that expires
    # after Dovecot accepted it is the short-lived stack's test) and a revoked one.
    expired = access_token(live_stack, mail_app, account, password, "openid mail")
    with Store.for_state(live_stack.state_dir).connect() as db:
        db.execute(
            "UPDATE oidc_tokens SET access_expires = ? WHERE access_digest = ?",
            (time.time() - 1, digest(expired)),
        )
    assert imaps_folders(live_stack, account, expired).returncode != 0
    revoked = access_token(live_stack, mail_app, account, password, "openid mail")
    # Accepted once (Dovecot caches it), then revoked: the revocation flushes that cache.
    assert imaps_folders(live_stack, account, revoked).returncode == 0
    http = signed_in(live_stack, account, password)
    gone = http.post(
        "/oidc/revoke", data={"token": revoked}, auth=(mail_app.client_id, mail_app.secret or "")
    )
    assert gone.status_code == 200
    assert imaps_folders(live_stack, account, revoked).returncode != 0
    # The same refusals at the introspection endpoint, as Dovecot sees them; a scope-less token
    # is inactive too.
    scopeless = access_token(live_stack, mail_app, account, password, "openid mail")
    with Store.for_state(live_stack.state_dir).connect() as db:
        db.execute(
            "UPDATE oidc_tokens SET scope = '' WHERE access_digest = ?", (digest(scopeless),)
        )
    auth = (mail_app.client_id, mail_app.secret or "")
    for token in (expired, revoked, scopeless):
        seen = http.post("/oidc/introspect", data={"token": token}, auth=auth)
        assert seen.json() == {"active": False}
    # Someone else's token is not this account's login.
    other, other_password = new_account()
    theirs = access_token(live_stack, mail_app, other, other_password, "openid mail")
    assert imaps_folders(live_stack, account, theirs).returncode != 0


def test_a_replayed_refresh_token_stops_its_grant_s_tokens_at_dovecot_at_once(
    live_stack: Settings, mail_app: Rp, new_account: NewAccount
) -> None:
    account, password = new_account()
    http = signed_in(live_stack, account, password)
    code, verifier = code_for(http, mail_app, scope="openid mail")
    first = exchange(http, mail_app, code, verifier).json()
    assert imaps_folders(live_stack, account, first["access_token"]).returncode == 0
    auth = (mail_app.client_id, mail_app.secret or "")
    refresh = {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    rotated = http.post("/oidc/token", data=refresh, auth=auth)
    assert rotated.status_code == 200, rotated.text
    assert imaps_folders(live_stack, account, rotated.json()["access_token"]).returncode == 0
    replayed = http.post("/oidc/token", data=refresh, auth=auth)
    assert replayed.status_code == 400
    for token in (first["access_token"], rotated.json()["access_token"]):
        assert imaps_folders(live_stack, account, token).returncode != 0


def test_dovecot_s_client_is_kept_by_bring_up(live_stack: Settings) -> None:
    shown = cli(live_stack, "oidc", "client", "remove", INTROSPECTION_CLIENT)
    assert shown.exit_code != 0 and "kept by `alumail up`" in shown.stderr


def test_a_suspended_account_s_token_stops_at_once(
    live_stack: Settings, mail_app: Rp, new_account: NewAccount, tmp_path: Path
) -> None:
    account, password = new_account()
    token = access_token(live_stack, mail_app, account, password, "openid mail")
    assert imaps_folders(live_stack, account, token).returncode == 0  # now in Dovecot's cache
    done = cli(live_stack, "account", "suspend", account.uid)
    assert done.exit_code == 0, done.stderr
    assert imaps_folders(live_stack, account, token).returncode != 0
    assert submit(live_stack, account, token, tmp_path, "suspended").returncode != 0


def test_a_changed_password_stops_the_person_s_tokens_at_once(
    live_stack: Settings, mail_app: Rp, new_account: NewAccount, tmp_path: Path
) -> None:
    """Changed at the portal (the web service's process ends the sessions there)."""
    account, password = new_account()
    token = access_token(live_stack, mail_app, account, password, "openid mail")
    assert submit(live_stack, account, token, tmp_path, "before").returncode == 0  # cached
    http = signed_in(live_stack, account, password)
    changed = http.post(
        "/account/password",
        data={
            "csrf_token": form_token(http, "/account/password"),
            "current": password,
            "password": "Brand-New-Password-8",
            "password_again": "Brand-New-Password-8",
        },
    )
    assert changed.status_code == 200 and "Password changed" in changed.text, changed.text
    assert submit(live_stack, account, token, tmp_path, "after").returncode != 0
    assert imaps_folders(live_stack, account, token).returncode != 0


def test_tokens_are_offered_only_inside_tls(live_stack: Settings) -> None:
    """Dovecot counts a connection from its own address as secured: this one comes from
    127.0.0.2, as from another host. Before STARTTLS no mechanism is offered, tokens included;
    after it, XOAUTH2 and OAUTHBEARER are."""
    url = f"imap://{live_stack.connect_host}:{live_stack.ports.imap}/"
    args = ("--interface", "127.0.0.2", "--verbose", "--user", "nobody:", "--oauth2-bearer", "x")
    plain = curl(live_stack, *args, url)
    offered = [line for line in plain.stderr.splitlines() if line.startswith("< * CAPABILITY")]
    assert offered and all("LOGINDISABLED" in line for line in offered), plain.stderr
    assert not any("AUTH=" in line for line in offered), plain.stderr
    assert plain.returncode != 0
    secured = curl(live_stack, *args, "--ssl-reqd", url)
    offered = [line for line in secured.stderr.splitlines() if "AUTH=" in line]
    assert any("AUTH=XOAUTH2" in line and "AUTH=OAUTHBEARER" in line for line in offered)


@pytest.fixture(scope="module")
def short_lived() -> Iterator[Settings]:
    """A stack of its own whose web service uses TLS and whose access tokens live 5 seconds."""
    with running_stack("oauthtls", **{"web.tls": True, "web.access_token_ttl": 5}) as settings:
        yield settings


def test_dovecot_introspects_over_https_when_the_web_service_uses_tls(
    short_lived: Settings,
) -> None:
    """With ``web.tls`` Dovecot reaches the introspection endpoint over https, trusting the
    stack's CA: a made-up token gets the provider's answer (inactive), not a TLS error."""
    url = f"imaps://{short_lived.connect_host}:{short_lived.ports.imaps}/"
    args = ("--user", "nobody:", "--oauth2-bearer", "made-up-token", url)
    assert curl(short_lived, *args).returncode != 0
    log = Layout(short_lived.state_dir).logfile("dovecot")
    assert wait_for(lambda: "Provided token is not valid" in log.read_text()), log.read_text()


def test_a_token_dovecot_accepted_is_refused_once_it_expires(
    short_lived: Settings, tmp_path: Path
) -> None:
    """Accepted at IMAPS and submission (so in Dovecot's cache, which keeps entries for
    ``auth.cache_ttl``, 5 minutes), then refused by both within GRACE of its expiry."""
    with use_case(AccountService, short_lived) as accounts:
        account = accounts.create("short.lived", "Short Lived", "Short-Lived-Pass-1")
    rp = register(short_lived, "--scope", "mail", "--trusted")
    http = signed_in(short_lived, account, "Short-Lived-Pass-1")
    code, verifier = code_for(http, rp, scope="openid mail")
    answer = exchange(http, rp, code, verifier)
    expires = time.time() + answer.json()["expires_in"]  # at or after the provider's
    assert answer.json()["expires_in"] == 5
    token = answer.json()["access_token"]
    assert imaps_folders(short_lived, account, token).returncode == 0
    assert submit(short_lived, account, token, tmp_path, "before").returncode == 0
    assert imaps_folders(short_lived, account, token).returncode == 0  # from the cache
    time.sleep(max(0.0, expires + GRACE + 0.5 - time.time()))
    refused = imaps_folders(short_lived, account, token)
    assert refused.returncode != 0, refused.stdout
    assert submit(short_lived, account, token, tmp_path, "after").returncode != 0
