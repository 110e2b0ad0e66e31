"""Mail the service sends (confirmations, password recovery, welcome): composed here, handed
to our own Postfix with its ``sendmail`` (the private instance's configuration directory), so it
takes the same road as any mail: delivered over LMTP for our domain, relayed for others (to the
outbound sink in the embedded stack, out through the relay or directly in production).
"""

from __future__ import annotations

import shutil
import subprocess
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

from identity.errors import DaemonError
from mailstack.layout import Layout
from mailstack.settings import Settings

SENDMAIL = "/usr/sbin/sendmail"


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config_dir = Layout(settings.state_dir).postfix_etc
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
