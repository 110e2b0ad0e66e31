"""Reading showq's stream (mailstack/mailqueue.py): the bytes below are what Postfix 3.7's showq
sent for one message in the incoming queue (captured from the stack), cut anywhere."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailstack.errors import DaemonError
from mailstack.mailqueue import summarise

pytestmark = pytest.mark.unit

ANNOUNCE = b"protocol\0mail_queue_list_protocol\0\0"


def message(queue: str, arrived: int, recipients: int = 1) -> bytes:
    fields = ["queue_name", queue, "queue_id", "419D13DE0B1", "time", str(arrived), "size", "386"]
    fields += ["forced_expire", "0", "sender", "a@elsewhere.example.org"]
    head = "".join(f"{field}\x00" for field in fields).encode()
    rcpts = b"".join(b"recipient\0x%d@example.org\0reason\0\0" % i for i in range(recipients))
    return head + rcpts + b"\0"


STREAM = (
    ANNOUNCE
    + message("hold", 1795999840, 2)
    + message("deferred", 1795999000)
    + message("hold", 1796000000)
    + b"\0"
)


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=6))
def test_counts_and_oldest_whatever_the_chunks(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    summary = summarise(chunks)
    assert summary.counts == {"active": 0, "deferred": 1, "hold": 2, "incoming": 0, "maildrop": 0}
    assert summary.oldest == 1795999000 and summary.total == 3
    assert summary.as_dict(1795999060)["oldest_age_seconds"] == 60


def test_an_empty_queue() -> None:
    summary = summarise([ANNOUNCE + b"\0"])
    assert summary.total == 0 and summary.oldest is None
    assert summary.as_dict(0)["oldest_age_seconds"] is None


@pytest.mark.parametrize(
    "stream",
    [
        b"",  # nothing said
        b"protocol\0something_else\0\0\0",  # another service
        STREAM[:-30],  # cut in the middle of a record
        ANNOUNCE + b"queue_id\0X\0\0\0",  # a message without its queue
    ],
)
def test_anything_else_is_refused(stream: bytes) -> None:
    with pytest.raises(DaemonError):
        summarise([stream])
