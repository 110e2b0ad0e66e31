"""Mail the service sends (confirmations, password recovery, welcome): composed here, handed
to our own Postfix, so it takes the same road as any mail: delivered over LMTP for our domain,
relayed for others (to the outbound sink in the embedded stack, out through the relay or
directly in production), DKIM-signed on the way.

Root hands it over with Postfix's ``sendmail`` (the private instance's configuration directory),
which queues even while Postfix is down. Postfix refuses an alternate configuration directory to
any other user, so the unprivileged web service submits over SMTP on Postfix's local submission
socket (``public/submit``, reachable by the postdrop group only; see master.cf).
"""

from __future__ import annotations

import os
import shutil
import smtplib
import socket
import subprocess
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from pathlib import Path

from identity.errors import DaemonError
from mailstack.layout import Layout
from mailstack.settings import Settings

SENDMAIL = "/usr/sbin/sendmail"
SUBMIT_SOCKET = "public/submit"


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
        message = EmailMessage()
        message["From"] = formataddr(("Alumni jAccount", self.sender))
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.settings.domain)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body, cte="8bit")  # readable as it is kept; Postfix converts if needed
        return message

    def send(self, to: str, subject: str, body: str) -> None:
        message = self.compose(to, subject, body)
        if os.geteuid() == 0:
            self._sendmail(to, message)
        else:
            self._submit(to, message)

    def _sendmail(self, to: str, message: EmailMessage) -> None:
        program = shutil.which("sendmail", path="/usr/sbin:/usr/bin") or SENDMAIL
        try:
            subprocess.run(
                [program, "-C", str(self.config_dir), "-f", self.sender, "-i", "--", to],
                input=message.as_bytes(),
                capture_output=True,
                timeout=30,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            stderr = getattr(exc, "stderr", b"") or b""
            raise DaemonError(
                f"could not hand a message for {to} to Postfix",
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
