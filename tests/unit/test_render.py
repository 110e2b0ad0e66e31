"""Rendering is pure: a fixed context gives exactly the expected files, every template, whole
text. The expectations live in tests/unit/expected/ and were reviewed by hand; after a deliberate
template change, regenerate them with ALUMAIL_REWRITE_EXPECTED=1 and review the diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailstack.context import RenderContext
from mailstack.settings import build
from mailstack.stack import render_all
from tests.support import fixed_render_context

pytestmark = pytest.mark.unit

EXPECTED = Path(__file__).parent / "expected"
ROOT = Path("/srv/alumail/state")


def fixed_context(**values: object) -> RenderContext:
    settings = build(
        {"domain": "alumni.sjtu.example", "state_dir": str(ROOT), **values}, base=Path("/")
    )
    return fixed_render_context(settings)


def rendered() -> dict[str, str]:
    files = {}
    for specs in render_all(fixed_context()).values():
        for spec in specs:
            files[spec.relpath] = spec.text
    return files


FILES = sorted(rendered())


def test_every_daemon_renders_its_files() -> None:
    assert FILES == [
        "etc/dovecot/dovecot.conf",
        "etc/dovecot/passdb-ldap.conf.ext",
        "etc/dovecot/passdb-oauth2.conf.ext",
        "etc/dovecot/userdb-ldap.conf.ext",
        "etc/nginx/nginx.conf",
        "etc/opendkim/opendkim.conf",
        "etc/php-fpm/php-fpm.conf",
        "etc/postfix/circle-domains",
        "etc/postfix/ldap-aliases.cf",
        "etc/postfix/ldap-circle-names.cf",
        "etc/postfix/ldap-circles.cf",
        "etc/postfix/ldap-mailboxes.cf",
        "etc/postfix/ldap-senders.cf",
        "etc/postfix/main.cf",
        "etc/postfix/master.cf",
        "etc/postfix/own-domains",
        "etc/postfix/role-addresses",
        "etc/postfix/submission-senders",
        "etc/roundcube/config.inc.php",
        "etc/roundcube/plugins/alumail_sso/alumail_sso.php",
        "etc/roundcube/prepend.php",
        "etc/sender-milter/own-dkim-records.json",
        "etc/slapd/config.ldif",
    ]


@pytest.mark.parametrize("relpath", FILES)
def test_whole_text(relpath: str) -> None:
    text = rendered()[relpath]
    expected = EXPECTED / relpath
    if os.environ.get("ALUMAIL_REWRITE_EXPECTED"):
        expected.parent.mkdir(parents=True, exist_ok=True)
        expected.write_text(text)
    assert text == expected.read_text()


def test_rendering_is_deterministic() -> None:
    assert rendered() == rendered()


def test_secrets_are_in_restricted_files_only() -> None:
    for specs in render_all(fixed_context()).values():
        for spec in specs:
            has_secret = any(
                secret in spec.text
                for secret in ("dovecot-secret", "postfix-secret", "introspection-secret")
            )
            if has_secret:
                assert spec.mode & 0o007 == 0, spec.relpath
            else:
                assert spec.mode in (0o644, 0o640), spec.relpath


def test_ipv6_listen_renders_bracketed_postfix_listeners() -> None:
    files = {
        s.relpath: s.text
        for specs in render_all(fixed_context(listen="::1")).values()
        for s in specs
    }
    assert "[::1]:10025 inet" in files["etc/postfix/master.cf"]
    assert "inet_protocols = ipv6" in files["etc/postfix/main.cf"]
    assert "uris = ldap://[::1]:3389" in files["etc/dovecot/passdb-ldap.conf.ext"]


def test_dovecot_introspects_tokens_over_tls_when_the_web_service_uses_it() -> None:
    files = {s.relpath: s.text for s in render_all(fixed_context(**{"web.tls": True}))["dovecot"]}
    oauth2 = files["etc/dovecot/passdb-oauth2.conf.ext"]
    assert "introspection_url = https://alumail-dovecot:introspection-secret@" in oauth2
    assert f"tls_ca_cert_file = {ROOT}/" in oauth2
    assert "tls_ca_cert_file" not in rendered()["etc/dovecot/passdb-oauth2.conf.ext"]


def test_penalty_setting_controls_the_anvil_listener() -> None:
    on = {s.relpath: s.text for s in render_all(fixed_context())["dovecot"]}
    off = {
        s.relpath: s.text for s in render_all(fixed_context(**{"auth.penalty": False}))["dovecot"]
    }
    assert "anvil-auth-penalty" not in on["etc/dovecot/dovecot.conf"]
    assert "anvil-auth-penalty" in off["etc/dovecot/dovecot.conf"]


def test_missing_template_value_is_an_error() -> None:
    import jinja2

    from mailstack.templates import render_template

    with pytest.raises(jinja2.UndefinedError):
        render_template("postfix/ldap-table.cf.j2", purpose="x")


@pytest.mark.parametrize(
    ("values", "relayhost"),
    [
        ({}, "relayhost = [127.0.0.1]:10026"),
        ({"outbound": "direct", "postmaster": "it@sjtu.example"}, "relayhost = \n"),
        (
            {
                "outbound": "relay",
                "relay_host": "[smtp.sjtu.example]:587",
                "postmaster": "it@sjtu.example",
            },
            "relayhost = [smtp.sjtu.example]:587",
        ),
    ],
)
def test_outbound_mail_goes_where_the_settings_say(
    values: dict[str, object], relayhost: str
) -> None:
    rendered = render_all(fixed_context(**values))
    main_cf = next(s.text for s in rendered["postfix"] if s.relpath.endswith("main.cf"))
    assert relayhost in main_cf
    assert ("sink" in rendered) == (values.get("outbound", "sink") == "sink")


def test_dovecot_is_sized_from_the_session_settings() -> None:
    from mailstack.daemons.dovecot import Sizing

    small = {s.relpath: s.text for s in render_all(fixed_context())["dovecot"]}
    big = {
        s.relpath: s.text
        for s in render_all(fixed_context(**{"sessions.max": 20000, "sessions.per_user_ip": 7}))[
            "dovecot"
        ]
    }
    conf = big["etc/dovecot/dovecot.conf"]
    sizing = Sizing.of(20000, 7)
    # Login capacity above the mail processes' limit, split over enough processes.
    assert sizing.login_processes * sizing.login_clients >= 20000 + 2000
    assert sizing.login_clients <= 1000
    assert f"client_limit = {sizing.login_clients}\n" in conf
    assert "service_count = 0\n" in conf
    assert "service imap {\n  process_limit = 20000\n" in conf
    assert "imap_hibernate_timeout = 30s\n" in conf
    assert conf.count("mail_max_userip_connections = 7\n") == 2
    assert "mail_max_userip_connections = 20\n" in small["etc/dovecot/dovecot.conf"]
