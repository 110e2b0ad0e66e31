from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from mailstack.settings import Settings
from provisioning.accounts import AccountService
from tests.support import running_stack

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def live_stack() -> Iterator[Settings]:
    """One real stack (slapd, Dovecot, Postfix) for the whole test session."""
    with running_stack("session") as settings:
        yield settings


@pytest.fixture
def accounts(live_stack: Settings) -> Iterator[AccountService]:
    with AccountService(live_stack) as service:
        yield service


@pytest.fixture
def new_account(accounts: AccountService):  # type: ignore[no-untyped-def]
    """A fresh account with a known password, unique within the session."""

    def make(name: str = "Test Alumnus", password: str = "Correct-Horse-42", **kw):  # type: ignore[no-untyped-def]
        uid = f"alum{next(_counter):04d}"
        account = accounts.create(uid, name, password, **kw)
        return account, password

    return make
