from operator import attrgetter
from pathlib import Path

import pytest

from identity.errors import ConfigError
from mailstack.settings import DEFAULT_QUOTA, Settings, build, load

# The postmaster target a relaying or direct stack must name.
PM = "postmaster@alumni.example.edu"

pytestmark = pytest.mark.unit


def test_defaults_are_the_embedded_stack(tmp_path: Path) -> None:
    settings = build({}, base=tmp_path)
    assert settings.domain == "alumni.example.edu"
    assert settings.mail_host == "mail.alumni.example.edu"
    assert settings.listen == "127.0.0.1"
    assert settings.default_quota == DEFAULT_QUOTA == 5368709120
    assert settings.state_dir == (tmp_path / "state").resolve()
    assert settings.base_dn == "dc=alumni,dc=example,dc=edu"
    assert all(port > 1024 for _, port in settings.ports.items())


def test_toml_file_and_environment_override(tmp_path: Path) -> None:
    path = tmp_path / "alumail.toml"
    path.write_text('domain = "alumni.sjtu.example"\ndefault_quota = "2G"\n[ports]\nimap = 1143\n')
    settings = load(path, {"ALUMAIL_PORTS_IMAP": "2143", "ALUMAIL_LISTEN": "::1"})
    assert settings.domain == "alumni.sjtu.example"
    assert settings.default_quota == 2 * 1024**3
    assert settings.ports.imap == 2143
    assert settings.listen == "::1"
    assert settings.state_dir == tmp_path / "state"


def test_config_named_by_environment(tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text('domain = "a.example"\n')
    assert load(None, {"ALUMAIL_CONFIG": str(path)}).domain == "a.example"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"domain": "localhost"}, "domain: 'localhost' is not a DNS name"),
        ({"domain": "bad_name.example"}, "domain: 'bad_name.example' is not a DNS name"),
        ({"listen": "127.0.0.300"}, "listen: '127.0.0.300' is not an IPv4 or IPv6 address"),
        ({"ports.imap": 70000}, "ports.imap: must be a port number from 1 to 65535"),
        ({"ports.imap": "x"}, "ports.imap: must be a whole number"),
        ({"ports.imap": 10025}, "ports.smtp: port 10025 is already used by ports.imap"),
        ({"default_quota": "lots"}, "default_quota: must be a size such as 5G"),
        ({"default_quota": "2T"}, "default_quota: must be between 1M and 1T"),
        ({"tls.cert": "/x.pem"}, "tls.cert, tls.key: give both"),
        ({"auth.failure_delay": -1}, "auth.failure_delay: must be a whole number from 0 to 15"),
        ({"auth.penalty": "maybe"}, "auth.penalty: must be true or false"),
        ({"colour": "blue"}, "colour: unknown setting"),
        ({"outbound": "smoke"}, "outbound: must be sink, direct or relay"),
        ({"outbound": "relay"}, "relay_host: give the relay as host"),
        ({"outbound": "direct"}, "postmaster: give the address(es)"),
        ({"postmaster": "it@sjtu.example, not-an-address"}, "postmaster: 'not-an-address'"),
        ({"outbound": "relay", "relay_host": "a:99999"}, "relay_host: must be a port number"),
        ({"outbound": "relay", "relay_host": "[a]:0"}, "relay_host: must be a port number"),
        ({"outbound": "relay", "relay_host": "[bad_host]:25"}, "relay_host: 'bad_host' is not"),
        ({"web.public_url": "https://"}, "web.public_url: give an http:// or https:// URL"),
        ({"web.public_url": "https://:"}, "web.public_url: give an http:// or https:// URL"),
        ({"web.public_url": "https://a.example:99999"}, "web.public_url: give an http://"),
        ({"web.public_url": "ftp://a.example"}, "web.public_url: give an http:// or https://"),
        ({"auth.failure_delay": 999999}, "auth.failure_delay: must be a whole number from 0 to 15"),
        ({"auth.cache_ttl": 10**9}, "auth.cache_ttl: must be a whole number from 0 to 86400"),
        ({"legacy.domain": "alumni.example.edu"}, "legacy.domain: 'alumni.example.edu' is the new"),
        (
            {"circles.domain": "alumni.example.edu"},
            "circles.domain: 'alumni.example.edu' is already",
        ),
        ({"circles.domain": "mail.alumni.example.edu"}, "circles.domain: 'mail.alumni.example"),
        ({"circles.domain": "circles"}, "circles.domain: 'circles' is not a DNS name"),
        ({"circles.domain": "1.2.3.4"}, "circles.domain: '1.2.3.4' is not a DNS name"),
        (
            {"legacy.domain": "old.example", "circles.domain": "old.example"},
            "circles.domain: 'old.example' is already",
        ),
        ({"domain": "1.2.3.4"}, "domain: '1.2.3.4' is not a DNS name"),
        ({"mail_host": "10.0.0.1"}, "mail_host: '10.0.0.1' is not a DNS name"),
        ({"sessions.max": 5}, "sessions.max: must be a whole number from 10 to 100000"),
        ({"sessions.max": "many"}, "sessions.max: must be a whole number"),
        ({"sessions.per_user_ip": 0}, "sessions.per_user_ip: must be a whole number from 1 to"),
    ],
)
def test_invalid_settings_name_the_key_and_rule(
    values: dict[str, object], message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(values, base=tmp_path)
    assert str(caught.value).startswith(message)


def test_unknown_environment_variable_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="ALUMAIL_PORT_IMAP: unknown setting"):
        load(None, {"ALUMAIL_PORT_IMAP": "1"})


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "alumail.toml"
    path.write_text("domain = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(path, {})


def test_unknown_section_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "alumail.toml"
    path.write_text("[smtp]\nport = 25\n")
    with pytest.raises(ConfigError, match="smtp: unknown section"):
        load(path, {})


def test_connect_host_for_wildcard_listen(tmp_path: Path) -> None:
    assert build({"listen": "0.0.0.0"}, base=tmp_path).connect_host == "127.0.0.1"
    assert Settings().connect_host == "127.0.0.1"


def test_postmaster_is_a_list_and_defaults_to_the_sink_in_the_embedded_stack(
    tmp_path: Path,
) -> None:
    assert build({}, base=tmp_path).postmaster == ("postmaster@mail.alumni.example.edu",)
    given = build({"outbound": "direct", "postmaster": "IT@sjtu.example, b@sjtu.example"})
    assert given.postmaster == ("it@sjtu.example", "b@sjtu.example")
    assert build({"postmaster": ["a@sjtu.example"]}).postmaster == ("a@sjtu.example",)


def test_session_limits_from_file_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "alumail.toml"
    path.write_text("[sessions]\nmax = 20000\n")
    settings = load(path, {"ALUMAIL_SESSIONS_PER_USER_IP": "5"})
    assert (settings.sessions.max, settings.sessions.per_user_ip) == (20000, 5)
    assert (Settings().sessions.max, Settings().sessions.per_user_ip) == (4000, 20)


@pytest.mark.parametrize(
    ("values", "attribute", "expected"),
    [
        (
            {"outbound": "relay", "relay_host": "[smtp.example.edu]:587", "postmaster": PM},
            "relay_host",
            None,
        ),
        (
            {"outbound": "relay", "relay_host": "[2001:db8::25]:25", "postmaster": PM},
            "relay_host",
            None,
        ),
        ({"outbound": "relay", "relay_host": "localhost", "postmaster": PM}, "relay_host", None),
        (
            {"web.public_url": "https://alumni.example.edu/"},
            "web.public_url",
            "https://alumni.example.edu",
        ),
        ({"web.public_url": "http://[::1]:10880/portal"}, "web.public_url", None),
        ({"legacy.domain": "alumni.old.example"}, "legacy.domain", None),
        ({"circles.domain": "Groups.Alumni.Example."}, "circles.domain", "groups.alumni.example"),
        ({"domain": "sjtu.example"}, "circles.domain", "circles.sjtu.example"),
    ],
)
def test_valid_values_are_kept(
    values: dict[str, object], attribute: str, expected: str | None, tmp_path: Path
) -> None:
    value = next(iter(values.values())) if len(values) == 1 else values["relay_host"]
    assert attrgetter(attribute)(build(values, base=tmp_path)) == (expected or value)


@pytest.mark.parametrize("key", ["domain", "mail_host", "legacy.domain", "circles.domain"])
def test_a_label_ending_in_a_newline_is_refused(key: str, tmp_path: Path) -> None:
    """A name goes into every daemon's configuration: a line break would start a new line.
    (Around the whole value, white space is trimmed; inside it, a label is matched whole.)"""
    with pytest.raises(ConfigError, match=f"^{key}: "):
        build({key: "mail.example\n.org"}, base=tmp_path)
