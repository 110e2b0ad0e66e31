"""The webmail: Roundcube on our nginx and php-fpm, brought up by ``alumail up`` with the rest of
the stack. A real HTTP client goes through Roundcube's own login form and reads the inbox it
lists from our Dovecot; bad configurations are refused by nginx's and php-fpm's own checkers."""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import ssl
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from identity.errors import ConfigError
from mailstack.context import control_context
from mailstack.daemon import Daemon
from mailstack.daemons.dovecot import Dovecot
from mailstack.daemons.nginx import Nginx
from mailstack.daemons.php_fpm import PhpFpm, post_max
from mailstack.files import FileSpec
from mailstack.layout import Layout
from mailstack.process import parent_of
from mailstack.settings import Settings
from provisioning import stack
from provisioning.people.accounts import AccountService
from tests import mail
from tests.oidc import close_browsers, signed_in  # noqa: F401 -- close_browsers: autouse
from tests.support import NewAccount, alumail, running_stack, stack_status, use_case, wait_for
from tests.web import form_token
from tests.webmail import login, request_token

pytestmark = pytest.mark.integration
AS_WWW_DATA = ("setpriv", "--reuid=www-data", "--regid=www-data", "--init-groups")


@pytest.fixture
def browser(live_stack: Settings) -> Iterator[httpx.Client]:
    services = stack_status(live_stack)["services"]
    with httpx.Client(base_url=services["webmail"]["url"], timeout=30) as client:
        yield client


def test_status_names_the_webmail_and_its_url(live_stack: Settings) -> None:
    status = json.loads(alumail(live_stack, "status", "--json", check=True).stdout)
    webmail = status["services"]["webmail"]
    assert webmail["running"] is True
    assert webmail["url"] == f"http://{live_stack.connect_host}:{live_stack.ports.webmail}/"
    assert status["daemons"]["nginx"]["running"] and status["daemons"]["php-fpm"]["running"]
    human = alumail(live_stack, "status", check=True).stdout
    assert f"webmail: {webmail['url']}" in human


def test_password_login_shows_the_inbox_with_its_messages(
    live_stack: Settings, new_account: NewAccount, browser: httpx.Client
) -> None:
    account, password = new_account()
    subject = f"Welcome back {account.uid}"
    with mail.inbound(live_stack) as smtp:
        smtp.send_message(mail.message("friend@elsewhere.example", account.mail, subject))
    assert wait_for(lambda: subject in mail.inbox_subjects(live_stack, account.uid, password))

    answer = login(browser, account.uid, password)
    assert answer.status_code == 302, answer.text
    # Dovecot sees the webmail's address; Roundcube's own log names the browser's.
    logins = Layout(live_stack.state_dir).webmail_log / "userlogins.log"
    assert wait_for(lambda: logins.exists() and account.uid in logins.read_text())
    assert "from 127." in logins.read_text()
    inbox = browser.get(answer.headers["location"].removeprefix("."))
    assert inbox.status_code == 200
    assert "Alumni Webmail" in inbox.text
    listing = browser.get(
        "/",
        params={"_task": "mail", "_action": "list", "_mbox": "INBOX", "_remote": "1"},
        headers={"X-Roundcube-Request": request_token(inbox.text)},
    )
    assert listing.status_code == 200
    assert subject in listing.json()["exec"]


def test_a_message_composed_in_the_webmail_arrives(
    live_stack: Settings, new_account: NewAccount, browser: httpx.Client
) -> None:
    sender, password = new_account()
    recipient, recipient_password = new_account()
    assert login(browser, sender.uid, password).status_code == 302
    # Roundcube gives each compose an id (its redirect), and one identity: the account's own.
    opened = browser.get("/", params={"_task": "mail", "_action": "compose"})
    assert opened.status_code == 302
    compose = browser.get(opened.headers["location"].removeprefix("."))
    assert f"&lt;{sender.mail}&gt;</option>" in compose.text
    compose_id = re.search(r'"compose_id":"([^"]+)"', compose.text)
    identity = re.search(r'<option value="(\d+)" selected>', compose.text)
    assert compose_id and identity
    subject = f"From the webmail of {sender.uid}"
    sent = browser.post(
        "/?_task=mail&_action=send",
        data={
            "_token": request_token(compose.text),
            "_task": "mail",
            "_action": "send",
            "_id": compose_id.group(1),
            "_from": identity.group(1),
            "_to": recipient.mail,
            "_subject": subject,
            "_message": "Sent through Roundcube and our submission port.\n",
            "_is_html": "0",
            "_store_target": "Sent",
            "_framed": "1",
        },
    )
    assert sent.status_code == 200
    assert "sent_successfully" in sent.text, sent.text
    assert wait_for(
        lambda: subject in mail.inbox_subjects(live_stack, recipient.uid, recipient_password)
    )


def test_a_wrong_password_is_refused(new_account: NewAccount, browser: httpx.Client) -> None:
    account, password = new_account()
    answer = login(browser, account.uid, password + "-wrong")
    assert answer.status_code == 401
    assert "Login failed" in answer.text
    assert browser.get("/", params={"_task": "mail"}).text.count('name="_pass"') == 1


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == parent:
            found.append(int(entry.name))
    return found


def test_nginx_workers_and_roundcube_run_as_www_data_and_read_no_stack_secret(
    live_stack: Settings, browser: httpx.Client
) -> None:
    assert browser.get("/").status_code == 200  # php-fpm starts a pool process on demand
    ctx = control_context(live_stack)
    www = pwd.getpwnam("www-data")
    for master in (Nginx(ctx).pid(), PhpFpm(ctx).pid()):
        assert master is not None
        workers = _children(master)
        assert workers
        for worker in workers:
            status = Path(f"/proc/{worker}/status").read_text()
            uids = next(line for line in status.splitlines() if line.startswith("Uid:"))
            assert uids.split()[1:] == [str(www.pw_uid)] * 4
    layout = ctx.layout
    for secret in (
        *sorted(layout.secrets.glob("*")),
        layout.server_key,
        layout.ca_key,
        Dovecot(ctx).doveadm_secret,
        layout.web_key,
    ):
        assert secret.exists(), secret
        refused = subprocess.run(
            [
                "setpriv",
                "--reuid=www-data",
                "--regid=www-data",
                "--init-groups",
                "cat",
                str(secret),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, secret


def test_roundcube_keeps_its_state_private(live_stack: Settings) -> None:
    layout = Layout(live_stack.state_dir)
    for folder in (layout.webmail, layout.webmail_temp, layout.webmail_log):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for secret in (layout.webmail_key, layout.webmail_db):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    key = layout.webmail_key.read_text()
    assert len(key) == 24
    for rendered in (layout.roundcube_etc, layout.nginx_etc, layout.php_fpm_etc):
        for path in rendered.rglob("*"):
            if path.is_file():
                assert key not in path.read_text()
    # The client secret Roundcube presents to the provider: only root and www-data read it.
    config = layout.roundcube_etc / "config.inc.php"
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    assert (layout.secrets / "webmail.oidc-secret").read_text().strip() in config.read_text()
    for name in ("nginx", "php-fpm"):
        assert key not in layout.logfile(name).read_text()


def _broken(kind: type[Nginx] | type[PhpFpm], suffix: str, extra: str) -> Callable[..., object]:
    rendered = kind.render

    def render(self: Nginx | PhpFpm) -> list[FileSpec]:
        return [
            FileSpec(s.relpath, s.text + extra, s.mode, s.owner, s.group)
            if s.relpath.endswith(suffix)
            else s
            for s in rendered(self)  # type: ignore[arg-type]
        ]

    return render


@pytest.mark.parametrize(
    ("kind", "suffix", "extra", "checker"),
    [
        (Nginx, "nginx.conf", "no_such_directive on;\n", "nginx -t"),
        (PhpFpm, "php-fpm.conf", "pm = no-such-manager\n", "php-fpm -t"),
        (PhpFpm, "config.inc.php", "$config['skin'] = ;\n", "php -l"),
    ],
)
def test_a_bad_configuration_is_refused_and_the_webmail_keeps_running(
    live_stack: Settings,
    browser: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    kind: type[Nginx] | type[PhpFpm],
    suffix: str,
    extra: str,
    checker: str,
) -> None:
    ctx = control_context(live_stack)
    daemons: dict[str, Daemon] = {"nginx": Nginx(ctx), "php-fpm": PhpFpm(ctx)}
    pids = {name: d.pid() for name, d in daemons.items()}
    files = {
        p: p.read_text()
        for d in (ctx.layout.nginx_etc, ctx.layout.php_fpm_etc, ctx.layout.roundcube_etc)
        for p in d.iterdir()
        if p.is_file() and not p.is_symlink()
    }
    monkeypatch.setattr(kind, "render", _broken(kind, suffix, extra))
    with pytest.raises(ConfigError) as caught:
        stack.up(live_stack)
    assert checker in str(caught.value)
    assert caught.value.detail
    monkeypatch.undo()
    assert {p: p.read_text() for p in files} == files
    assert {name: d.pid() for name, d in daemons.items()} == pids
    assert browser.get("/").status_code == 200
    assert stack.up(live_stack).actions == []


def test_up_twice_changes_nothing_the_second_time(live_stack: Settings) -> None:
    stack.up(live_stack)
    layout = Layout(live_stack.state_dir)
    before = {str(p): os.stat(p).st_mtime for p in layout.etc.rglob("*") if p.is_file()}
    assert stack.up(live_stack).actions == []
    assert {str(p): os.stat(p).st_mtime for p in layout.etc.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("kind", [Nginx, PhpFpm])
def test_a_master_no_pid_file_names_is_found_by_its_title_and_replaced_by_up(
    live_stack: Settings, browser: httpx.Client, kind: type[Nginx] | type[PhpFpm]
) -> None:
    """nginx and php-fpm rewrite their command line into a title; `up` still finds a master
    left without its pid file (a crash, an older alumail) and replaces it."""
    daemon = kind(control_context(live_stack))
    old = daemon.pid()
    assert old is not None and daemon.orphans() == []
    daemon.pidfile.unlink()
    assert daemon.pid() is None and daemon.orphans() == [old]
    report = stack.up(live_stack)
    assert f"stopped an orphaned {daemon.name} (pid {old}) that no pid file named" in report.actions
    assert f"started {daemon.name}" in report.actions
    assert daemon.pid() not in (None, old) and daemon.orphans() == []
    assert browser.get("/").status_code == 200


def test_only_roundcubes_web_root_is_served(browser: httpx.Client) -> None:
    page = browser.get("/")
    styles = re.search(r'href="(skins/elastic/styles/styles\.min\.css)[^"]*"', page.text)
    assert styles and browser.get(f"/{styles.group(1)}").status_code == 200
    for path in (
        "/installer/",
        "/installer/index.php",
        "/config/config.inc.php",
        "/program/include/iniset.php",
        "/SQL/sqlite.initial.sql",
        "/logs/errors.log",
        "/temp/",
        "/.htaccess",
        "/plugins/jqueryui/jqueryui.php",
    ):
        assert browser.get(path).status_code == 404, path


def test_a_request_larger_than_message_size_limit_is_refused_before_php(
    live_stack: Settings,
) -> None:
    """nginx answers 413 from the Content-Length alone: the body is never read."""
    too_large = post_max(live_stack.message_size_limit) + 1
    with socket.create_connection((live_stack.connect_host, live_stack.ports.webmail)) as raw:
        raw.sendall(
            b"POST /?_task=mail&_action=upload HTTP/1.1\r\nHost: webmail\r\n"
            + f"Content-Length: {too_large}\r\nContent-Type: multipart/form-data\r\n\r\n".encode()
        )
        assert raw.recv(200).startswith(b"HTTP/1.1 413 ")


def test_a_sign_in_callback_the_browser_did_not_start_is_refused(
    live_stack: Settings, new_account: NewAccount
) -> None:
    """Login CSRF: someone takes the provider's answer for their own account (code and state)
    and makes another browser open it. Roundcube 1.6 alone accepts any state when its session
    has none; alumail_sso refuses it, and the code is left unused (its owner can still use it)."""
    account, password = new_account()
    owner = signed_in(live_stack, account, password)
    start = owner.get(f"{live_stack.webmail_url}/index.php/login/oauth")
    assert start.status_code == 302 and "/oidc/authorize?" in start.headers["location"]
    answer = owner.get(start.headers["location"])
    assert answer.status_code == 302, answer.text
    callback = answer.headers["location"]
    assert callback.startswith(f"{live_stack.webmail_url}/index.php/login/oauth?code=")

    with httpx.Client(timeout=30, follow_redirects=True) as victim:
        page = victim.get(callback)
        assert 'id="rcmloginuser"' in page.text  # the login page, signed in to nothing
        assert 'id="rcmloginuser"' in victim.get(f"{live_stack.webmail_url}/?_task=mail").text

    done = owner.get(callback)  # the browser that started it: signed in
    assert done.status_code == 302 and "_task=mail" in done.headers["location"]


def test_single_sign_on_over_tls_checks_the_provider_s_certificate() -> None:
    """With ``web.tls`` the portal, the provider and the webmail are https: Roundcube calls the
    token, userinfo and introspection endpoints trusting the stack's CA, and opens the inbox."""
    with running_stack("webmailtls", **{"web.tls": True}) as settings:
        with use_case(AccountService, settings) as accounts:
            accounts.create("tls.sso", "TLS Alumnus", "Correct-Horse-42")
        ca = ssl.create_default_context(cafile=Layout(settings.state_dir).ca_cert)
        with httpx.Client(base_url=settings.public_url, verify=ca, timeout=30) as http:
            signed = http.post(
                "/login",
                data={
                    "csrf_token": form_token(http, "/login"),
                    "login": "tls.sso",
                    "password": "Correct-Horse-42",
                },
            )
            assert signed.status_code == 303, signed.text
            assert settings.webmail_url.startswith("https://")
            answer = http.get(f"{settings.webmail_url}/index.php/login/oauth")
            for _ in range(2):  # to the provider, back with a code
                assert answer.status_code == 302, answer.text
                answer = http.get(answer.headers["location"])
            assert answer.status_code == 302, answer.text  # signed in: on to the mailbox
            assert "_task=mail" in answer.headers["location"]
            inbox = http.get(f"{settings.webmail_url}/?_task=mail")
            assert inbox.status_code == 200 and "rcmloginuser" not in inbox.text
