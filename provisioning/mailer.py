"""Mail the service sends (confirmations, password recovery, welcome): composed here, handed
to our own Postfix, so it takes the same road as any mail: delivered over LMTP for our domain,
relayed for others (to the outbound sink in the embedded stack, out through the relay or
directly in production), DKIM-signed on the way.

Root hands it over with Postfix's ``sendmail`` (the private instance's configuration directory),
which queues even while Postfix is down. Postfix refuses an alternate configuration directory to
any other user, so the unprivileged web service submits over SMTP on Postfix's local submission
socket (``public/submit``, reachable by the postdrop group only; see master.cf).

The recipient goes through the address rule before anything is composed: a value that cannot
stand in a header (a line break, a NUL) is a ValidationError naming the recipient, never a
stray ValueError out of a page handler or the background outbox.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import smtplib
import socket
import subprocess
import threading
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from identity.accounts import check_address
from identity.errors import AlumailError, ValidationError
from mailstack.errors import DaemonError
from mailstack.layout import Layout
from mailstack.publish.clients import client_settings
from mailstack.settings import Settings
from provisioning.i18n import _
from provisioning.i18n import current as current_language

SENDMAIL = "/usr/sbin/sendmail"
log = logging.getLogger(__name__)


def check_recipient(to: str, *, field: str = "recipient") -> str:
    """``to`` as one address fit for a header and sendmail's argument list."""
    if not to or not to.isprintable() or to != to.strip():
        raise ValidationError(field, "must be one address without spaces or line breaks")
    return check_address(to, field=field)


SUBMIT_SOCKET = "public/submit"


def client_settings_text(settings: Settings, uid: str) -> str:
    """The mail client settings as plain text for a mail, in the language of the moment."""
    lines = [
        _("Login name: {uid} (or {uid}@{domain}), with your jAccount password.").format(
            uid=uid, domain=settings.domain
        ),
        "",
    ]
    for s in client_settings(settings):
        port = _("port {port}").format(port=s.port)
        lines.append(f"{s.protocol:5} {s.host}  {port}  {s.security}")
    return "\n".join(lines)


class _LocalSMTP(smtplib.SMTP):
    """SMTP over a Unix socket (smtplib's LMTP class does the same for LMTP)."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(str(self.path))
        return sock


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        layout = Layout(settings.state_dir)
        self.config_dir = layout.postfix_etc
        self.submit_socket = layout.postfix_queue / SUBMIT_SOCKET
        self.sender = f"no-reply@{settings.domain}"

    def compose(self, to: str, subject: str, body: str) -> EmailMessage:
        """The message, its sender's name and Content-Language in the language of the moment
        (the subject and body were written in it)."""
        message = EmailMessage()
        try:
            message["From"] = formataddr((_("Alumni jAccount"), self.sender))
            message["To"] = check_recipient(to)
            message["Subject"] = subject
        except ValueError as exc:  # the email package refuses a header value
            raise ValidationError("recipient", "cannot stand in a mail header") from exc
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.settings.domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body, cte="8bit")  # readable as it is kept; Postfix converts if needed
        # RFC 3282; after set_content, which replaces every Content-* header.
        message["Content-Language"] = current_language()
        return message

    def send(self, to: str, subject: str, body: str) -> None:
        self.deliver(to, self.compose(to, subject, body))

    def deliver(self, to: str, message: EmailMessage) -> None:
        """Hand a composed message to Postfix (DaemonError when it cannot be)."""
        if os.geteuid() == 0:
            self._sendmail(to, message)
        else:
            self._submit(to, message)

    def _sendmail(self, to: str, message: EmailMessage) -> None:
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

    def _submit(self, to: str, message: EmailMessage) -> None:
        try:
            with _LocalSMTP(self.submit_socket, timeout=30) as smtp:
                smtp.connect(str(self.submit_socket))
                smtp.send_message(message, from_addr=self.sender, to_addrs=[to])
        except (OSError, smtplib.SMTPException) as exc:
            raise DaemonError(
                f"could not hand a message for {to} to Postfix", detail=str(exc)
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


class QueuedMailer:
    """What a web request sends with (a MailSender): the message is composed at once, so a
    recipient that cannot stand in a header is refused to the request itself, and handed to
    Postfix by the outbox, so the answer never waits for Postfix."""

    def __init__(self, mailer: Mailer, outbox: Outbox) -> None:
        self.mailer = mailer
        self.outbox = outbox

    def send(self, to: str, subject: str, body: str) -> None:
        message = self.mailer.compose(to, subject, body)
        self.outbox.put(lambda: self.mailer.deliver(to, message))
