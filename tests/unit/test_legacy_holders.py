"""The legacy holder as the directory keeps it: entry mapping both ways, and the filters that
Postfix's tables and the migration's list find holders with."""

from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from identity.errors import ValidationError
from identity.legacy import (
    ADDRESS,
    STATE,
    LegacyHolder,
    LegacyState,
    holder_filter,
    new_holder,
)
from provisioning.legacy.holders import PortalMoves
from provisioning.legacy.migration import Migrator
from provisioning.store import Store

pytestmark = pytest.mark.unit
HOLDER = LegacyHolder("zhang.san", "zhang.san@new.example", "z@old.example")


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


@pytest.mark.parametrize(
    ("holder", "login", "password", "field"),
    [
        (None, "z@old.example", "secret", "login"),
        (HOLDER, "  ", "secret", "password"),
        (HOLDER, "z@old.example", "", "password"),
    ],
)
def test_a_portal_move_needs_a_holder_and_the_legacy_login(
    holder: LegacyHolder | None, login: str, password: str, field: str, tmp_path: Path
) -> None:
    def no_copier() -> AbstractContextManager[Migrator]:
        raise AssertionError("no copier is made for a refused request")

    moves = PortalMoves()
    with pytest.raises(ValidationError) as refused:
        moves.start(Store(tmp_path / "store.db"), no_copier, holder, "zhang.san", login, password)
    assert refused.value.field == field and not moves.running("zhang.san")
