"""Property tests for the account field rules: any input is either accepted in its documented
form or refused with a ValidationError naming the field; nothing else escapes."""

import datetime
import re
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from identity.accounts import (
    FIRST_GRADUATION_YEAR,
    check_address,
    check_display_name,
    check_graduation_year,
    check_recovery_address,
    check_student_number,
)
from identity.errors import ValidationError
from identity.passwords import check_stored_hash

pytestmark = pytest.mark.unit


R = TypeVar("R")


def accepted(rule: Callable[..., R], value: object, field: str) -> R | None:
    """The rule's result, or None when it refused ``value`` with a ValidationError naming
    ``field`` and a rule (values of any type on purpose: the rules meet raw input)."""
    try:
        return rule(value, field=field)
    except ValidationError as error:
        assert error.field == field and error.rule
        return None


@given(st.text(max_size=80))
def test_addresses(value: str) -> None:
    result = accepted(check_address, value, "recovery_email")
    if result is not None:
        local, domain = result.rsplit("@", 1)
        assert local and domain == domain.lower() and "." in domain
        assert result.isascii() and " " not in result


@given(st.emails())
def test_well_formed_addresses_are_accepted(value: str) -> None:
    local, domain = value.rsplit("@", 1)
    assert check_address(value, field="recovery_email") == f"{local}@{domain.lower()}"


@given(st.text(max_size=30))
def test_student_numbers(value: str) -> None:
    result = accepted(check_student_number, value, "student_number")
    if result is not None:
        assert re.fullmatch(r"[A-Z0-9-]{4,20}", result)


@given(st.one_of(st.integers(), st.text(max_size=6)))
@example("²")  # a digit to str.isdigit(), not to int(): once crashed the rule
def test_graduation_years(value: object) -> None:
    result = accepted(check_graduation_year, value, "graduation_year")
    if result is not None:
        assert FIRST_GRADUATION_YEAR <= result <= datetime.date.today().year + 10


@given(st.text(max_size=200))
def test_names(value: str) -> None:
    result = accepted(check_display_name, value, "display_name")
    if result is not None:
        assert 1 <= len(result) <= 128 and result == result.strip()


@given(st.text(max_size=120))
def test_stored_hashes(value: str) -> None:
    result = accepted(check_stored_hash, value, "password_hash")
    if result is not None:
        assert result.startswith("{")


@pytest.mark.parametrize(
    ("value", "accepted_as"),
    [
        ("li.si@Example.ORG", "li.si@example.org"),
        ("li.si@alumni.example.edu", None),
        ("Li.Si@ALUMNI.example.edu", None),
        ("not an address", None),
    ],
)
def test_recovery_addresses_are_outside_this_service(value: str, accepted_as: str | None) -> None:
    def rule(address: str, *, field: str) -> str:
        return check_recovery_address(address, "alumni.example.edu", field=field)

    assert accepted(rule, value, "recovery_email") == accepted_as
