"""The legacy holder as the directory keeps it: entry mapping both ways, and the filters that
Postfix's tables and the migration's list find holders with."""

import pytest

from identity.legacy import (
    ADDRESS,
    STATE,
    LegacyHolder,
    LegacyState,
    holder_filter,
    new_holder,
)

pytestmark = pytest.mark.unit


def test_a_new_holder_has_not_migrated_and_its_address_is_lowercased() -> None:
    assert new_holder("Zhang.San@Old.Example") == {
        ADDRESS: ["zhang.san@old.example"],
        STATE: ["not-migrated"],
    }


def test_an_entry_without_a_state_has_not_migrated() -> None:
    holder = LegacyHolder.from_entry(
        {"uid": ["zhang.san"], "mail": ["zhang.san@new.example"], ADDRESS: ["z@old.example"]}
    )
    assert holder == LegacyHolder("zhang.san", "zhang.san@new.example", "z@old.example")
    assert holder.state == LegacyState.NOT_MIGRATED
    assert holder.as_dict()["recovery_email"] == ""


def test_filters_tell_moved_holders_from_the_others() -> None:
    assert holder_filter("%s", moved=True) == (
        "(&(objectClass=alumailAccount)(alumailLegacyAddress=%s)(alumailLegacyState=migrated))"
    )
    assert holder_filter("%s", moved=False, also="(x=y)") == (
        "(&(objectClass=alumailAccount)(x=y)(alumailLegacyAddress=%s)"
        "(!(alumailLegacyState=migrated)))"
    )
