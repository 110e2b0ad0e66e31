"""What a web request sends with (provisioning.mailer.QueuedMailer): a recipient that cannot be
mailed is refused to the request itself; a good message is handed over by the outbox."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from identity.errors import ValidationError
from mailstack.settings import build
from provisioning.mailer import Mailer, Outbox, QueuedMailer

pytestmark = pytest.mark.unit


class RecordingMailer(Mailer):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(build({"state_dir": str(tmp_path)}, base=tmp_path))
        self.delivered: list[tuple[str, str]] = []

    def deliver(self, to: str, message: EmailMessage) -> None:
        self.delivered.append((to, str(message["Subject"])))


def test_a_bad_recipient_is_refused_at_once_and_nothing_is_queued(tmp_path: Path) -> None:
    mailer, outbox = RecordingMailer(tmp_path), Outbox()
    with pytest.raises(ValidationError):
        QueuedMailer(mailer, outbox).send("a@example.org\nBcc: b@example.org", "Hi", "text")
    outbox.drain()
    assert mailer.delivered == [] and (outbox.sent, outbox.failed) == (0, 0)


def test_a_good_message_is_delivered_by_the_outbox(tmp_path: Path) -> None:
    mailer, outbox = RecordingMailer(tmp_path), Outbox()
    QueuedMailer(mailer, outbox).send("a@example.org", "Confirm", "text")
    outbox.drain()
    assert mailer.delivered == [("a@example.org", "Confirm")] and outbox.sent == 1
