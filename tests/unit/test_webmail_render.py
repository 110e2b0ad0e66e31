"""The webmail's configurations (nginx, php-fpm, Roundcube) follow the settings: TLS with the
stack's certificate, the sizes from message_size_limit, no secret and no injectable string."""

from __future__ import annotations

import pytest

from identity.errors import ConfigError
from mailstack.daemons.nginx import Nginx
from mailstack.daemons.php_fpm import PhpFpm, php_literal
from tests.unit.test_render import fixed_context

pytestmark = pytest.mark.unit


def nginx_conf(**values: object) -> str:
    [spec] = Nginx(fixed_context(**values)).render()
    return spec.text


def php_files(**values: object) -> dict[str, str]:
    return {spec.relpath: spec.text for spec in PhpFpm(fixed_context(**values)).render()}


def test_plain_http_by_default_with_the_port_in_the_host() -> None:
    text = nginx_conf()
    assert "listen 127.0.0.1:10443;" in text
    assert "ssl_certificate" not in text and "HTTPS on" not in text
    # Roundcube's URLs are built from the webmail's address, never from the request's Host.
    assert "fastcgi_param HTTP_HOST 127.0.0.1:10443;" in text
    assert "fastcgi_param SERVER_PORT 10443;" in text


def test_tls_uses_the_stacks_certificate() -> None:
    text = nginx_conf(**{"web.tls": True, "ports.webmail": 443})
    assert "listen 127.0.0.1:443 ssl;" in text
    assert "ssl_certificate /srv/alumail/state/tls/server.crt;" in text
    assert "ssl_certificate_key /srv/alumail/state/tls/server.key;" in text
    assert "fastcgi_param HTTPS on;" in text
    # The default port is the one a browser leaves out (and Roundcube's redirect URI too).
    assert "fastcgi_param HTTP_HOST 127.0.0.1;" in text
    assert "fastcgi_param SERVER_PORT 443;" in text


def test_a_public_webmail_address_names_roundcube_s_urls() -> None:
    text = nginx_conf(**{"web.webmail_url": "https://mail.example.edu"})
    assert "fastcgi_param HTTP_HOST mail.example.edu;" in text
    assert "fastcgi_param SERVER_PORT 443;" in text
    assert "fastcgi_param HTTPS on;" in text


@pytest.mark.parametrize(
    "url", ["https://mail.example.edu/webmail", "ftp://mail.example.edu", "https://a;b.example"]
)
def test_a_webmail_address_with_a_path_or_a_bad_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match=r"web\.webmail_url"):
        nginx_conf(**{"web.webmail_url": url})


def test_an_ipv6_listen_address_is_bracketed() -> None:
    assert "listen [::1]:10443;" in nginx_conf(listen="::1")


def test_every_size_limit_follows_message_size_limit() -> None:
    mib = 1024**2
    files = php_files(message_size_limit="20M")
    pool, roundcube = files["etc/php-fpm/php-fpm.conf"], files["etc/roundcube/config.inc.php"]
    assert f"php_admin_value[upload_max_filesize] = {20 * mib}" in pool
    assert f"php_admin_value[post_max_size] = {21 * mib}" in pool
    assert f"$config['max_message_size'] = {20 * mib};" in roundcube
    assert f"client_max_body_size {21 * mib};" in nginx_conf(message_size_limit="20M")


def test_roundcube_reaches_only_our_dovecot_and_postfix_with_verified_tls() -> None:
    text = php_files()["etc/roundcube/config.inc.php"]
    assert "$config['imap_host'] = 'ssl://127.0.0.1:10993';" in text
    assert "$config['smtp_host'] = 'tls://127.0.0.1:10587';" in text
    assert text.count("'verify_peer' => true") == 2
    assert text.count("'cafile' => '/srv/alumail/state/tls/ca.crt'") == 2
    assert "$config['enable_installer'] = false;" in text
    # The DES key is read from its own file, never rendered.
    assert "file_get_contents('/srv/alumail/state/webmail/des_key')" in text


def test_the_config_files_are_readable_by_the_webmail_user_only() -> None:
    specs = {spec.relpath: spec for spec in PhpFpm(fixed_context()).render()}
    roundcube = specs["etc/roundcube/config.inc.php"]
    assert (roundcube.mode, roundcube.owner, roundcube.group) == (0o640, "root", "www-data")


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", "'plain'"),
        ("it's", "'it\\'s'"),
        ("a\\'; system('x'); //", "'a\\\\\\'; system(\\'x\\'); //'"),
        (True, "true"),
        (52428800, "52428800"),
        ({"peer_name": "mail.example"}, "['peer_name' => 'mail.example']"),
    ],
)
def test_php_literals_cannot_end_their_string(value: str | int | bool, literal: str) -> None:
    assert php_literal(value) == literal


def test_a_public_url_with_a_quote_stays_a_string() -> None:
    text = php_files(**{"web.public_url": "https://alumni.example.edu/it's"})
    assert (
        "$config['support_url'] = 'https://alumni.example.edu/it\\'s';"
        in text["etc/roundcube/config.inc.php"]
    )


def test_the_webmail_s_default_address_is_at_the_public_name() -> None:
    settings = fixed_context(
        **{"web.tls": True, "web.public_url": "https://alumni.example.edu", "ports.webmail": 8443}
    ).settings
    assert settings.webmail_url == "https://alumni.example.edu:8443"
    assert fixed_context().settings.webmail_url == "http://127.0.0.1:10443"
