"""Pure rules behind the web service: profile fields, the roster, settings handed to the web
process, API tokens, rate limits, CSRF tokens and the JSON error shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.accounts import Account, check_phone, check_postal_address
from identity.errors import AccessDeniedError, FieldErrors, ValidationError
from mailstack.settings import build, to_values
from provisioning.people import api_tokens, roster
from provisioning.store import Store
from provisioning.web.app import error_body
from provisioning.web.security import Csrf, Limit, RateLimited, RateLimiter

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("value", ["+86 21 5474 2208", "021-54742208", "(021) 5474-2208"])
def test_phone_numbers_people_write(value: str) -> None:
    assert check_phone(value) == value


@pytest.mark.parametrize("value", ["call me", "12", "+86 21 5474 2208 ext. 5", "+"])
def test_phone_rule_names_the_field(value: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_phone(value)
    assert caught.value.field == "phone"


def test_postal_address_lines_survive_the_directory_syntax() -> None:
    value = check_postal_address("800 Dongchuan Rd\r\n\r\n闵行区, 上海 ")
    assert value == "800 Dongchuan Rd\n闵行区, 上海"
    account = Account("a.b", "A B", "a.b@x.example", 1, postal_address=value)
    entry = account.to_entry(None)
    assert entry["postalAddress"] == ["800 Dongchuan Rd$闵行区, 上海"]
    assert Account.from_entry(entry, default_quota=1).postal_address == value
    for bad, rule in (("a $ b", "must not contain"), ("\n".join("x" * 7), "at most 6 lines")):
        with pytest.raises(ValidationError, match=rule):
            check_postal_address(bad)


def test_settings_round_trip_to_the_web_process(tmp_path: Path) -> None:
    settings = build(
        {
            "domain": "alumni.example.edu",
            "state_dir": str(tmp_path / "state"),
            "ports.web": 18080,
            "web.public_url": "https://alumni.example.edu/",
            "auth.penalty": False,
        }
    )
    assert settings.public_url == "https://alumni.example.edu" and settings.web_secure
    assert build(to_values(settings)) == settings


def test_public_url_rule() -> None:
    with pytest.raises(Exception, match=r"web\.public_url"):
        build({"web.public_url": "ftp://x"})


def roster_file(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text("student_number,name,birth_date,graduation_year,legacy_address\n" + rows)
    return path


def test_roster_rows_checked_and_matched(tmp_path: Path) -> None:
    store = Store(tmp_path / "web" / "service.db")
    report = roster.load_csv(
        store,
        roster_file(
            tmp_path,
            "s-1001,王 芳,1990-02-03,,\ns-1002,Li Lei,,2010,li@old.example.edu\n"
            "s-1001,Again,1990-02-03,,\nX,No,,2010,\ns-1003,No Date,,,\n",
        ),
    )
    assert (report.added, report.updated, len(report.errors)) == (2, 0, 3)
    assert [e[1] for e in report.errors] == ["student_number", "student_number", "birth_date"]
    fang = roster.lookup(store, "S-1001")
    assert fang is not None and fang.birth_date == "1990-02-03"
    assert roster.proves(fang, " 王  芳 ", "1990-02-03", None)
    assert not roster.proves(fang, "王 芳", "1990-02-04", None)
    assert not roster.proves(fang, "王 芳", None, 2010)  # the roster has a birth date
    lei = roster.lookup(store, "S-1002")
    assert lei is not None and roster.proves(lei, "LI LEI", None, 2010)
    assert roster.mark_registered(store, "S-1002", "li.lei")
    assert not roster.mark_registered(store, "S-1002", "li.lei2")


def test_roster_header_must_be_exact(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("student_number,name\nS1,A\n")
    with pytest.raises(ValidationError, match="header"):
        roster.load_csv(Store(tmp_path / "db"), path)


def test_api_tokens_are_stored_hashed_and_revocable(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    bound = api_tokens.Binding("desk.one", "0b5e1a2c-entry", "helpdesk")
    token, info = api_tokens.issue(store, bound, "scripts")
    assert api_tokens.holder(store, token) == bound
    assert token.split("_", 2)[2].encode() not in (tmp_path / "service.db").read_bytes()
    for forged in (token[:-1] + ("A" if token[-1] != "A" else "B"), "alm_x_y", "nonsense"):
        with pytest.raises(AccessDeniedError):
            api_tokens.holder(store, forged)
    assert api_tokens.revoke(store, info.id) and not api_tokens.revoke(store, info.id)
    with pytest.raises(AccessDeniedError):
        api_tokens.holder(store, token)


def test_one_time_tokens_are_single_use_and_replace_older_ones(tmp_path: Path) -> None:
    store = Store(tmp_path / "service.db")
    first = store.issue("reset", "a.b", {}, 60)
    second = store.issue("reset", "a.b", {}, 60)
    assert store.peek("reset", first) is None  # only the newest link works
    assert store.peek("confirm", second) is None  # tokens are kind-bound
    assert store.consume("reset", second) is not None
    assert store.consume("reset", second) is None
    expired = store.issue("reset", "c.d", {}, -1)
    assert store.peek("reset", expired) is None


def test_rate_limiter_window() -> None:
    limiter = RateLimiter()
    for _ in range(3):
        limiter.hit("login", "10.0.0.1", Limit(3, 60))
    with pytest.raises(RateLimited) as caught:
        limiter.hit("login", "10.0.0.1", Limit(3, 60))
    assert 0 < caught.value.retry_after <= 61
    limiter.hit("login", "10.0.0.2", Limit(3, 60))  # another client is not affected
    limiter.hit("other", "10.0.0.1", Limit(3, 60))  # nor another bucket


def test_csrf_token_is_bound_to_the_cookie_and_key() -> None:
    csrf = Csrf(b"k" * 32)
    assert csrf.token_for("cookie") == csrf.token_for("cookie")
    assert csrf.token_for("cookie") != csrf.token_for("other")
    assert Csrf(b"j" * 32).token_for("cookie") != csrf.token_for("cookie")


def test_error_shape_names_every_field() -> None:
    status, body = error_body(FieldErrors({"uid": "must be lowercase", "password": "too short"}))
    assert status == 422
    error = body["error"]
    assert isinstance(error, dict)
    assert error["field"] == "uid"
    assert error["fields"] == {"uid": "must be lowercase", "password": "too short"}
    status, body = error_body(AccessDeniedError("no"))
    assert status == 403 and body == {"error": {"type": "access_denied", "message": "no"}}


def test_api_bodies_follow_the_account_rules() -> None:
    """The API's request bodies list the profile fields by hand (for a readable OpenAPI
    document); they must stay the fields the account rules know."""
    from identity.accounts import PROFILE_RULES
    from provisioning.web.api import AccountChanges, NewAccount

    assert set(AccountChanges.model_fields) == set(PROFILE_RULES)
    assert set(NewAccount.model_fields) == set(PROFILE_RULES) | {"uid", "password", "quota"}
