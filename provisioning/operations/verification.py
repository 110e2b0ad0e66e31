"""The verify use case: run the harness for one account against this stack."""

from __future__ import annotations

import asyncio

from mailstack.harness import Check, Target, run_checks, tls_context
from mailstack.keys.tls import tls_files
from provisioning.people.accounts import AccountService, login_names


def verify_account(accounts: AccountService, uid: str, password: str) -> list[Check]:
    settings = accounts.settings
    account = accounts.get(uid)
    ca = tls_files(settings).ca_cert
    target = Target(
        settings=settings,
        user=account.uid,
        address=account.mail,
        password=password,
        quota_bytes=account.quota,
        tls=tls_context(str(ca) if ca else None),
    )
    return asyncio.run(
        run_checks(
            target,
            reset_failures=lambda: accounts.mailboxes.flush_auth_cache(*login_names(account)),
        )
    )
