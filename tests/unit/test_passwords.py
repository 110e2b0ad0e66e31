import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from identity.errors import ValidationError
from identity.passwords import (
    ARGON2_MEMORY_KIB,
    ARGON2_PARALLELISM,
    ARGON2_TIME_COST,
    DEFAULT_POLICY,
    generate_password,
    hash_password,
    hash_secret,
    verify_password,
)

pytestmark = pytest.mark.unit


def test_hash_is_argon2id_with_pinned_parameters() -> None:
    value = hash_password("Correct-Horse-42")
    prefix = (
        f"{{ARGON2}}$argon2id$v=19$m={ARGON2_MEMORY_KIB},t={ARGON2_TIME_COST},"
        f"p={ARGON2_PARALLELISM}$"
    )
    assert value.startswith(prefix)
    assert verify_password("Correct-Horse-42", value)
    assert not verify_password("correct-horse-42", value)
    assert hash_password("Correct-Horse-42") != value  # salted


def test_verify_rejects_other_schemes() -> None:
    assert not verify_password("x", "{SSHA}abc")


def test_secret_hash_is_salted_sha512() -> None:
    one, two = hash_secret("token"), hash_secret("token")
    assert one.startswith("{SSHA512}") and one != two


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("short", "at least 10 characters"),
        ("x" * 129, "at most 128 characters"),
        (" leading-space-pw", "white space"),
        ("tab\there-password", "control characters"),
        ("aaaaaaaaaaaa", "4 different characters"),
        ("my-zhang.san-pw", "must not contain the UID"),
    ],
)
def test_policy_names_the_rule(password: str, rule: str) -> None:
    with pytest.raises(ValidationError) as caught:
        DEFAULT_POLICY.check(password, uid="zhang.san")
    assert caught.value.field == "password"
    assert rule in caught.value.rule


@settings(max_examples=25)
@given(st.integers(min_value=12, max_value=64))
def test_generated_passwords_meet_the_policy(length: int) -> None:
    password = generate_password(length)
    assert len(password) == length
    DEFAULT_POLICY.check(password, uid="someone")
