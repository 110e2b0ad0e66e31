"""Small synchronous mail clients for tests (stdlib imaplib, poplib, smtplib over TLS)."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import ssl
from collections.abc import Sequence
from email.message import EmailMessage

from mailstack.keys.tls import tls_files
from mailstack.settings import Settings


def tls(settings: Settings) -> ssl.SSLContext:
    ca = tls_files(settings).ca_cert
    return ssl.create_default_context(cafile=str(ca) if ca else None)


def imap(settings: Settings, user: str, password: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL(
        settings.connect_host, settings.ports.imaps, ssl_context=tls(settings), timeout=10
    )
    try:
        client.login(user, password)
    except BaseException:
        client.shutdown()
        raise
    return client


def imap_login_ok(settings: Settings, user: str, password: str) -> bool:
    try:
        imap(settings, user, password).logout()
    except imaplib.IMAP4.error:
        return False
    return True


def pop3_login_ok(settings: Settings, user: str, password: str) -> bool:
    client = poplib.POP3_SSL(
        settings.connect_host, settings.ports.pop3s, context=tls(settings), timeout=10
    )
    try:
        client.user(user)
        client.pass_(password)
    except poplib.error_proto:
        return False
    finally:
        client.close()
    return True


def submission(settings: Settings) -> smtplib.SMTP:
    client = smtplib.SMTP(settings.connect_host, settings.ports.submission, timeout=10)
    client.ehlo("client.test.example")
    client.starttls(context=tls(settings))
    client.ehlo("client.test.example")  # smtplib does not re-EHLO after STARTTLS by itself
    return client


def smtp_login_ok(settings: Settings, user: str, password: str) -> bool:
    client = submission(settings)
    try:
        # auth_plain only: login() would try every mechanism and count two failures
        client.auth("PLAIN", lambda challenge=None: f"\0{user}\0{password}")
    except smtplib.SMTPAuthenticationError:
        return False
    finally:
        client.close()
    return True


def inbound(settings: Settings) -> smtplib.SMTP:
    """A connection to the port other mail servers deliver to (no AUTH)."""
    client = smtplib.SMTP(settings.connect_host, settings.ports.smtp, timeout=10)
    client.ehlo("mx.sender.example")
    return client


def message(sender: str, to: str, subject: str, body: str = "hello\n") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg


def inbox_subjects(settings: Settings, user: str, password: str) -> list[str]:
    client = imap(settings, user, password)
    try:
        client.select("INBOX", readonly=True)
        _, data = client.search(None, "ALL")
        subjects = []
        for num in data[0].split():
            _, parts = client.fetch(num, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            raw = parts[0][1].decode() if parts and isinstance(parts[0], tuple) else ""
            subjects.append(raw.replace("Subject:", "").strip())
        return subjects
    finally:
        client.logout()


def plain_lines(data: Sequence[bytes | tuple[bytes, bytes] | None]) -> list[bytes]:
    """The lines of an IMAP answer that carries no literals (LIST, LSUB, SELECT's count):
    imaplib types each item as a line, a (line, literal) pair or None."""
    lines = [item for item in data if isinstance(item, bytes)]
    assert len(lines) == len(data), data
    return lines
