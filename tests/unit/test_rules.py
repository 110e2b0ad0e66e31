import itertools
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from identity.accounts import (
    RESERVED_UIDS,
    Account,
    AccountStatus,
    check_address,
    check_display_name,
    check_student_number,
    check_uid,
)
from identity.errors import ValidationError
from identity.quota import format_size, parse_quota, parse_size

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("uid", ["abc", "zhang.san", "li-si_2015", "a1b", "x" * 32])
def test_valid_uids(uid: str) -> None:
    assert check_uid(uid) == uid


@pytest.mark.parametrize(
    ("uid", "rule"),
    [
        ("ab", "must be 3 to 32 characters long"),
        ("x" * 33, "must be 3 to 32 characters long"),
        ("Zhang", "must be lowercase"),
        ("zhang san", "may contain only lowercase letters"),
        ("zhāng", "may contain only lowercase letters"),
        ("1abc", "must start with a letter"),
        (".abc", "must start with a letter"),
        ("abc.", "must end with a letter or digit"),
        ("ab..c", "not have two separators in a row"),
        ("a*b)(c", "may contain only lowercase letters"),
        ("postmaster", "'postmaster' is reserved"),
    ],
)
def test_invalid_uids_name_the_rule(uid: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_uid(uid)
    assert caught.value.field == "uid"
    assert rule in caught.value.rule


@given(st.text(max_size=40))
def test_uid_rule_accepts_exactly_the_documented_shape(uid: str) -> None:
    allowed = set(string.ascii_lowercase + string.digits + "._-")
    expected = (
        3 <= len(uid) <= 32
        and set(uid) <= allowed
        and uid[0].isalpha()
        and uid[-1].isalnum()
        and not any(a in "._-" and b in "._-" for a, b in itertools.pairwise(uid))
        and uid not in RESERVED_UIDS
    )
    try:
        check_uid(uid)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected


def test_display_names_in_any_script() -> None:
    assert check_display_name("  张三  ") == "张三"
    assert check_display_name("Zoë O'Brien") == "Zoë O'Brien"
    with pytest.raises(ValidationError, match="name: must not be empty"):
        check_display_name("   ")
    with pytest.raises(ValidationError, match="control"):
        check_display_name("evil\u202ename")
    with pytest.raises(ValidationError, match="at most 128"):
        check_display_name("x" * 129)


def test_account_entry_round_trip() -> None:
    account = Account("zhang.san", "张三", "zhang.san@a.example", 5 * 1024**3)
    entry = account.to_entry("{ARGON2}$argon2id$x")
    assert entry["objectClass"] == ["inetOrgPerson", "alumailAccount"]
    assert entry["alumailMailQuota"] == ["5368709120"]
    assert entry["userPassword"] == ["{ARGON2}$argon2id$x"]
    back = Account.from_entry(entry, default_quota=1)
    assert back == account
    assert back.status is AccountStatus.ACTIVE


def test_account_entry_without_password_has_none() -> None:
    entry = Account("abc", "A", "abc@a.example", 1024**2).to_entry(None)
    assert "userPassword" not in entry


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("5G", 5368709120),
        ("500M", 524288000),
        ("5368709120", 5368709120),
        ("2 GiB", 2 * 1024**3),
        ("1m", 1024**2),
        (4096, 4096),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "G", "5X", "-1G", "1.5G", True])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValidationError, match="quota: must be a size"):
        parse_size(text)  # type: ignore[arg-type]


def test_quota_bounds_and_format() -> None:
    with pytest.raises(ValidationError, match="between 1M and 1T"):
        parse_quota("512K")
    assert format_size(5368709120) == "5G"
    assert format_size(2048) == "2K"
    assert format_size(1536) == "1536"


# -- whole-value rules: a trailing newline is not part of a valid value ----------------------


@pytest.mark.parametrize("uid", ["alice.a\n", "alice\n", "ali\nce", "alice\r\n"])
def test_uid_with_a_newline_is_refused(uid: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_uid(uid)
    assert caught.value.field == "uid"


@pytest.mark.parametrize(
    "address", ["a\n@example.org", "alice\n@example.org", "alice@example\n.org", "a\r@example.org"]
)
def test_address_with_a_newline_inside_is_refused(address: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_address(address, field="recovery_email")
    assert caught.value.field == "recovery_email"


@pytest.mark.parametrize("value", ["ABCD\n1", "2015-0\n1"])
def test_student_number_with_a_newline_inside_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        check_student_number(value)


@pytest.mark.parametrize("value", ["5G\n0", "1\n024M", "\uff15G"])
def test_quota_with_a_newline_or_foreign_digits_is_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        parse_quota(value)
