"""Mail the service sends (confirmations, password recovery, welcome): composed here, handed
to our own Postfix with its ``sendmail`` (the private instance's configuration directory), so it
takes the same road as any mail: delivered over LMTP for our domain, relayed for others (to the
outbound sink in the embedded stack, out through the relay or directly in production).

The recipient goes through the address rule before anything is composed: a value that cannot
stand in a header (a line break, a NUL) is a ValidationError naming the recipient, never a
stray ValueError out of a page handler or the background outbox.
"""

from __future__ import annotations

import logging
import queue
import shutil
import subprocess
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from identity.accounts import check_address
from identity.errors import AlumailError, DaemonError, ValidationError
from mailstack.layout import Layout
from mailstack.settings import Settings

SENDMAIL = "/usr/sbin/sendmail"
log = logging.getLogger(__name__)


def check_recipient(to: str, *, field: str = "recipient") -> str:
    """``to`` as one address fit for a header and sendmail's argument list."""
    if not to or not to.isprintable() or to != to.strip():
        raise ValidationError(field, "must be one address without spaces or line breaks")
    return check_address(to, field=field)


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config_dir = Layout(settings.state_dir).postfix_etc
        self.sender = f"no-reply@{settings.domain}"

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        try:
            message["From"] = formataddr(("Alumni jAccount", self.sender))
            message["To"] = check_recipient(to)
            message["Subject"] = subject
        except ValueError as exc:  # the email package refuses a header value
            raise ValidationError("recipient", "cannot stand in a mail header") from exc
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.settings.domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body, cte="8bit")  # readable as it is kept; Postfix converts if needed
        return message

    def send(self, to: str, subject: str, body: str) -> None:
        message = self.compose(to, subject, body)
        program = shutil.which("sendmail", path="/usr/sbin:/usr/bin") or SENDMAIL
        try:
            subprocess.run(
                [program, "-C", str(self.config_dir), "-f", self.sender, "-i", "--", message["To"]],
                input=message.as_bytes(),
                capture_output=True,
                timeout=30,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            stderr = getattr(exc, "stderr", b"") or b""
            raise DaemonError(
                f"could not hand a message for {message['To']} to Postfix",
                detail=stderr.decode(errors="replace"),
            ) from exc


class Outbox:
    """Mail sent in the background, one at a time, so a request never waits for Postfix.

    One bad message never stops the others: any failure of a job is logged (its kind and, for
    our own errors, their message, which names no token or link), counted in ``failed``, and the
    thread goes on to the next."""

    def __init__(self) -> None:
        self._queue: queue.Queue[Callable[[], None]] = queue.Queue()
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="outbox", daemon=True)
        self._thread.start()

    def put(self, job: Callable[[], None]) -> None:
        self._queue.put(job)

    def drain(self) -> None:
        self._queue.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            try:
                job()
            except AlumailError as error:
                self._count(ok=False)
                log.error("outbox: a message was not sent: %s", error.message)
            except Exception as error:
                self._count(ok=False)
                # Only the kind: another exception's text may quote what it was given.
                log.error("outbox: a message was not sent: %s", type(error).__name__)
            else:
                self._count(ok=True)
            finally:
                self._queue.task_done()

    def _count(self, *, ok: bool) -> None:
        with self._lock:
            if ok:
                self.sent += 1
            else:
                self.failed += 1
