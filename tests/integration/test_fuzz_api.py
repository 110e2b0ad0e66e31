"""The fuzz stage: schemathesis generates requests for every operation of the running stack's
OpenAPI document and sends each with an admin token, a helpdesk token, an alumnus's session
cookie, a forged token and no credentials (the last three only for the first few examples:
past the gate they all get the same 401). No answer may be a server error, and every answer
must be one the document declares (status, content type, body schema).

Bounded: a fixed number of examples per operation, generated deterministically (derandomize),
no shrinking; each failure is listed with its operation, credentials and reproduction."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, checks
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err

from identity.roles import Role
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from provisioning.people.staff import StaffService
from tests.support import alumail, use_case
from tests.web import client, form_token

pytestmark = pytest.mark.integration
EXAMPLES = 15  # per operation, each sent with both staff tokens
GATE_EXAMPLES = 3  # the first few are also sent as an alumnus, with a forged token and bare
STAFF = ("admin", "helpdesk")
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module")
def credentials(live_stack: Settings) -> dict[str, dict[str, str]]:
    suffix = secrets.token_hex(2)
    tokens = {}
    with use_case(StaffService, live_stack) as service:
        for role in (Role.ADMIN, Role.HELPDESK):
            uid = f"fuzz.{role.value}.{suffix}"
            service.add(uid, "Fuzz Staff", role, "Staff-Password-55")
            proc = alumail(live_stack, "token", "issue", uid, "--label", "fuzz", check=True)
            tokens[role.value] = proc.stdout.strip()
    uid, password = f"fuzz{suffix}", "Fuzz-Alumnus-Pass-3"
    with use_case(AccountService, live_stack) as accounts:
        accounts.create(uid, "Fuzz Alumnus", password)
    with client(live_stack) as http:
        http.post(
            "/login",
            data={
                "csrf_token": form_token(http, "/login"),
                "login": uid,
                "password": password,
            },
        )
        session = http.cookies["alumail_session"]
    return {
        "admin": {"Authorization": f"Bearer {tokens['admin']}"},
        "helpdesk": {"Authorization": f"Bearer {tokens['helpdesk']}"},
        "alumnus": {"Cookie": f"alumail_session={session}"},
        "forged": {"Authorization": f"Bearer {tokens['admin'][:-4]}AAAA"},
        "none": {},
    }


def test_no_operation_answers_with_a_server_error_or_off_the_document(
    live_stack: Settings, credentials: dict[str, dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_url(f"{live_stack.public_url}/openapi.json")
    failures: list[str] = []
    seen: dict[str, int] = {}
    sent = 0
    started = time.monotonic()
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case: Case[Any]) -> None:
            nonlocal sent
            seen[case.operation.label] = seen.get(case.operation.label, 0) + 1
            gate = seen[case.operation.label] <= GATE_EXAMPLES
            for who, headers in credentials.items():
                if who not in STAFF and not gate:
                    continue
                sent += 1
                try:
                    case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)
                except (AssertionError, FailureGroup) as failure:  # with how to reproduce it
                    failures.append(f"{case.operation.label} as {who}:\n{failure}")

        exercise()
    elapsed = time.monotonic() - started
    print(f"fuzz: {sent} requests in {elapsed:.1f} s, {len(failures)} failures")
    assert not failures, "\n\n".join(failures[:10])
