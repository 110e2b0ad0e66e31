"""What Postfix accepts and sends, tried with real SMTP sessions against the session stack:
no SMTP smuggling, no forged own-domain sender on port 25, no null sender on submission, a
From: the login owns (and only such mail signed), postmaster@ and abuse@ answer; and, on a
stack of its own, AUTH while slapd is down says "try later" (454), not "wrong password"."""

from __future__ import annotations

import imaplib
import smtplib
import socket
import time
from email.message import EmailMessage

import pytest

from mailstack.context import control_context
from mailstack.daemons.slapd import Slapd
from mailstack.settings import Settings
from provisioning import stack
from provisioning.mailer import Mailer
from provisioning.people.accounts import AccountService
from tests import mail
from tests.dnsserver import serving
from tests.integration.test_dns_dkim import sink_message, verify, zone_of
from tests.support import NewAccount, running_stack, use_case, wait_for
from tests.web import mail_to

pytestmark = pytest.mark.integration


class RawSmtp:
    """A plain socket SMTP session: smtplib would repair the bare line feeds under test."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.reply()  # the greeting

    def reply(self) -> tuple[int, str]:
        lines: list[str] = []
        while True:
            line = self.file.readline()
            if not line:
                return 0, "connection closed: " + " ".join(lines)
            lines.append(line.decode().rstrip())
            if line[3:4] != b"-":
                return int(line[:3]), " ".join(lines)

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def command(self, line: str) -> tuple[int, str]:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


SMUGGLING_ENDS = [b"\n.\n", b"\n.\r\n", b"\r\n.\n"]


@pytest.mark.parametrize("fake_end", SMUGGLING_ENDS, ids=["LF.LF", "LF.CRLF", "CRLF.LF"])
def test_a_bare_line_feed_never_ends_data_so_nothing_is_smuggled(
    live_stack: Settings, new_account: NewAccount, fake_end: bytes
) -> None:
    account, password = new_account()
    marker = f"{time.time_ns()}"
    smtp = RawSmtp(live_stack.connect_host, live_stack.ports.smtp)
    try:
        assert smtp.command("EHLO mx.sender.example")[0] == 250
        assert smtp.command("MAIL FROM:<a@outside.example>")[0] == 250
        assert smtp.command(f"RCPT TO:<{account.mail}>")[0] == 250
        assert smtp.command("DATA")[0] == 354
        smuggled = (
            f"MAIL FROM:<boss@outside.example>\r\nRCPT TO:<{account.mail}>\r\nDATA\r\n"
            f"From: boss@outside.example\r\nSubject: smuggled {marker}\r\n\r\nforged\r\n"
        ).encode()
        smtp.send(
            f"From: a@outside.example\r\nSubject: carrier {marker}\r\n\r\nhello".encode()
            + fake_end
            + smuggled
            + b".\r\nQUIT\r\n"
        )
        replies = []
        while (reply := smtp.reply())[0] not in (0, 221):
            replies.append(reply)
    finally:
        smtp.close()
    # One transaction, whole or refused: never a second one started inside the first.
    assert len([r for r in replies if "queued as" in r[1]]) <= 1, replies
    assert not [r for r in replies if r[0] == 354], replies
    # A later message from the same sender arrives: had the smuggled one been queued, it
    # would be there by then.
    client = mail.inbound(live_stack)
    client.send_message(mail.message("a@outside.example", account.mail, f"after {marker}"))
    client.quit()
    assert wait_for(
        lambda: f"after {marker}" in mail.inbox_subjects(live_stack, account.uid, password)
    )
    subjects = mail.inbox_subjects(live_stack, account.uid, password)
    assert not [s for s in subjects if s.startswith(f"smuggled {marker}")], subjects


def test_port_25_refuses_our_own_domains_as_sender_from_outside(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, _ = new_account()
    client = mail.inbound(live_stack)
    try:
        for forged in (account.mail, f"nobody@{live_stack.domain}", f"x@sub.{live_stack.domain}"):
            client.rset()
            client.mail(forged)
            code, reply = client.rcpt(account.mail)
            assert code == 550, (forged, code, reply)
            assert b"5.7.1" in reply and b"submission" in reply
        client.rset()
        client.mail("someone@outside.example")
        assert client.rcpt(account.mail)[0] == 250
    finally:
        client.close()


def test_submission_refuses_the_null_sender(live_stack: Settings, new_account: NewAccount) -> None:
    account, password = new_account()
    client = mail.submission(live_stack)
    try:
        client.login(account.uid, password)
        client.mail("")
        code, reply = client.rcpt("friend@elsewhere.example.org")
        assert code == 550 and b"null sender" in reply, (code, reply)
        client.rset()
        client.mail(account.mail)
        assert client.rcpt("friend@elsewhere.example.org")[0] == 250
    finally:
        client.close()


@pytest.mark.parametrize(
    "recipient", ["postmaster@{domain}", "abuse@{domain}", "PostMaster@{DOMAIN}", "postmaster"]
)
def test_postmaster_and_abuse_reach_the_configured_target(
    live_stack: Settings, recipient: str
) -> None:
    # RFC 5321 4.5.1: <postmaster> without a domain too, in any case.
    recipient = recipient.format(domain=live_stack.domain, DOMAIN=live_stack.domain.upper())
    subject = f"to {recipient} {time.time_ns()}"
    client = mail.inbound(live_stack)
    try:
        client.send_message(mail.message("reporter@outside.example", recipient, subject))
    finally:
        client.quit()
    (target,) = live_stack.postmaster
    assert mail_to(live_stack, target, subject)


def _submit(
    settings: Settings, login: str, password: str, message: EmailMessage, sender: str
) -> None:
    client = mail.submission(settings)
    try:
        client.login(login, password)
        client.send_message(message, from_addr=sender)
    finally:
        client.close()


def test_submission_sends_and_signs_mail_from_the_login_and_its_alias(
    live_stack: Settings, accounts: AccountService, new_account: NewAccount
) -> None:
    account, password = new_account()
    alias = f"{account.uid}.alias@{live_stack.domain}"
    accounts.add_alias(account.uid, alias)
    signed = []
    for sender in (account.mail, alias):
        subject = f"own from {sender} {time.time_ns()}"
        message = mail.message(f"Me <{sender}>", "friend@elsewhere.example.org", subject)
        _submit(live_stack, account.uid, password, message, sender)
        signed.append(sink_message(live_stack, subject))
    with serving(zone_of(live_stack), live_stack.domain) as port:
        assert all(verify(raw, port) for raw in signed)


def test_the_service_own_mail_still_goes_out_signed(live_stack: Settings) -> None:
    subject = f"service notice {time.time_ns()}"
    Mailer(live_stack).send("someone@elsewhere.example.org", subject, "hello\n")
    raw = sink_message(live_stack, subject)
    with serving(zone_of(live_stack), live_stack.domain) as port:
        assert verify(raw, port)


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("another alumnus", "is not an address of the login"),
        ("an outside address", "is not an address of the login"),
        ("two From headers", "exactly one From: header"),
        ("two addresses in From", "exactly one address"),
        ("another alumnus as display name", "is not an address of the login"),
        ("another alumnus in a comment", "is not an address of the login"),
        ("another alumnus in an encoded word", "is not an address of the login"),
        ("another alumnus as Sender", "Sender: <"),
        ("another alumnus as Resent-From", "Resent-From: <"),
    ],
)
def test_submission_refuses_a_from_the_login_does_not_own(
    live_stack: Settings, new_account: NewAccount, case: str, rule: str
) -> None:
    account, password = new_account()
    other, _ = new_account()
    subject = f"forged {case} {time.time_ns()}"
    from_headers = {
        "another alumnus": [other.mail],
        "an outside address": ["ceo@bank.example"],
        "two From headers": [account.mail, other.mail],
        "two addresses in From": [f"{account.mail}, {other.mail}"],
        "another alumnus as display name": [f'"{other.mail}" <{account.mail}>'],
        "another alumnus in a comment": [f"{account.mail} ({other.mail})"],
        "another alumnus in an encoded word": [
            f"=?utf-8?q?{other.mail.replace('@', '=40')}?= <{account.mail}>"
        ],
    }.get(case, [account.mail])
    extra = {
        "another alumnus as Sender": f"Sender: {other.mail}\r\n",
        "another alumnus as Resent-From": f"Resent-From: {other.mail}\r\n",
    }.get(case, "")
    # Raw bytes: the email package itself refuses to make a second From: header.
    raw = "".join(f"From: {value}\r\n" for value in from_headers) + extra
    raw += f"To: friend@elsewhere.example.org\r\nSubject: {subject}\r\n\r\nhello\r\n"
    client = mail.submission(live_stack)
    try:
        client.login(account.uid, password)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(account.mail, ["friend@elsewhere.example.org"], raw.encode())
    finally:
        client.close()
    assert refused.value.smtp_code == 550
    assert b"5.7.1" in refused.value.smtp_error and rule.encode() in refused.value.smtp_error


def _auth_plain(settings: Settings, user: str, password: str) -> tuple[int, bytes]:
    client = mail.submission(settings)
    try:
        return client.docmd("AUTH", "PLAIN " + _b64(f"\0{user}\0{password}"))
    finally:
        client.close()


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


def test_submission_auth_says_try_later_while_the_directory_is_down() -> None:
    password = "Directory-Down-7"
    with running_stack("authtemp") as settings:
        with use_case(AccountService, settings) as service:
            service.create("down.user", "Down User", password)
        assert _auth_plain(settings, "down.user", password)[0] == 235
        assert _auth_plain(settings, "down.user", "Wrong-Password-1")[0] == 535
        Slapd(control_context(settings)).stop()
        # A name not in Dovecot's auth cache, so slapd is asked (a temporary failure is never
        # cached: IMAP asks again with the same name).
        address = f"down.user@{settings.domain}"
        code, reply = _auth_plain(settings, address, password)
        assert (code, reply[:5]) == (454, b"4.7.0"), (code, reply)
        with pytest.raises(imaplib.IMAP4.error, match="UNAVAILABLE"):
            mail.imap(settings, address, password)
        stack.up(settings)
        assert _auth_plain(settings, "Down.User", password)[0] == 235


def test_port_25_refuses_a_from_in_our_domain_without_our_signature(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, _ = new_account()
    for claimed in (f"president@{live_stack.domain}", f"Dean <dean@mail.{live_stack.domain}>"):
        client = mail.inbound(live_stack)
        try:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                client.send_message(
                    mail.message(claimed, account.mail, "urgent"),
                    from_addr="bounces@phish.example",
                )
        finally:
            client.close()
        assert refused.value.smtp_code == 550
        assert b"lacks our valid DKIM signature" in refused.value.smtp_error


def test_port_25_refuses_a_sender_header_in_our_domain_without_our_signature(
    live_stack: Settings, new_account: NewAccount
) -> None:
    """Outlook shows "Sender on behalf of From": a stranger's Sender: naming one of us is as
    much a claim to be us as a From: (before: delivered)."""
    account, _ = new_account()
    message = mail.message("Bank <notice@bank.example>", account.mail, "on behalf")
    message["Sender"] = f"president@{live_stack.domain}"
    client = mail.inbound(live_stack)
    try:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.send_message(message, from_addr="bounces@bank.example")
    finally:
        client.close()
    assert refused.value.smtp_code == 550
    assert b"lacks our valid DKIM signature" in refused.value.smtp_error


def test_our_signed_mail_brought_back_by_a_forwarder_passes_port_25_unless_altered(
    live_stack: Settings, new_account: NewAccount
) -> None:
    author, author_password = new_account()
    reader, reader_password = new_account()
    subject = f"forwarded back {time.time_ns()}"
    client = mail.submission(live_stack)
    try:
        client.login(author.uid, author_password)
        client.send_message(mail.message(author.mail, "friend@elsewhere.example.org", subject))
    finally:
        client.close()
    signed = sink_message(live_stack, subject)  # as it left us, DKIM-signed
    client = mail.inbound(live_stack)
    try:
        client.sendmail("forwarder@elsewhere.example.org", [reader.mail], signed)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail(
                "forwarder@elsewhere.example.org",
                [reader.mail],
                signed.replace(b"hello", b"HELLO, send me your password"),
            )
    finally:
        client.close()
    assert refused.value.smtp_code == 550
    assert wait_for(lambda: subject in mail.inbox_subjects(live_stack, reader.uid, reader_password))
