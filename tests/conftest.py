from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from identity.accounts import Account
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests.support import NewAccount, running_stack, use_case

_counter = itertools.count(1)


@pytest.fixture(scope="session")
def live_stack() -> Iterator[Settings]:
    """One real stack (slapd, Dovecot, Postfix) for the whole test session."""
    with running_stack("session") as settings:
        yield settings


@pytest.fixture
def accounts(live_stack: Settings) -> Iterator[AccountService]:
    with use_case(AccountService, live_stack) as service:
        yield service


@pytest.fixture
def new_account(accounts: AccountService) -> NewAccount:
    """A fresh account with a known password, unique within the session."""

    def make(
        name: str = "Test Alumnus", password: str = "Correct-Horse-42", **kw: Any
    ) -> tuple[Account, str]:
        uid = f"alum{next(_counter):04d}"
        account = accounts.create(uid, name, password, **kw)
        return account, password

    return make
