"""The SASL relay's one decision: which Dovecot answer becomes a dropped connection (so Postfix
says 454 4.7.0) and which pass through unchanged."""

from __future__ import annotations

import pytest

from mailstack.daemons.sasl_relay import is_temporary_failure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("line", "temporary"),
    [
        (b"FAIL\t1\tuser=ann\tcode=temp_fail\n", True),
        (b"FAIL\t7\tcode=temp_fail\n", True),
        (b"FAIL\t1\tuser=ann@alumni.example.edu\toriginal_user=ann\n", False),
        (b"FAIL\t1\tuser=code=temp_fail\n", False),
        (b"FAIL\t1\treason=code=temp_fail\n", False),
        (b"OK\t1\tuser=ann@alumni.example.edu\n", False),
        (b"CONT\t1\tcode=temp_fail\n", False),
        (b"MECH\tPLAIN\tplaintext\n", False),
    ],
)
def test_only_a_fail_marked_temporary_is_turned_into_a_lost_connection(
    line: bytes, temporary: bool
) -> None:
    assert is_temporary_failure(line) is temporary
