"""A circle's address as a mailing list, on the real stack: Postfix expands NAME@<circles
domain> from the directory to every member's mailbox; only a member, proven by their login on
submission, may send to it (the sender milter at RCPT, 5.7.1); an unknown or proposed circle is
refused like an unknown user (5.1.1); port 25 takes no mail for a circle at all, whatever the
envelope sender claims."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from identity.accounts import Account, AccountStatus
from identity.circles import Kind, Policy, Visibility
from identity.directory import Credentials
from identity.dit import Tree
from identity.roles import ROOT, Actor, Role
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import NewAccount, wait_for

pytestmark = pytest.mark.integration


def circle_with(
    settings: Settings,
    name: str,
    members: list[Account],
    *,
    visibility: Visibility = Visibility.LISTED,
) -> str:
    """A circle made by root with these members (the first owns it); its address."""
    with Composition(settings) as root:
        circles = root.circles(ROOT)
        circles.create(
            name,
            name,
            Kind.INTEREST,
            policy=Policy.INVITE,
            visibility=visibility,
            owner=members[0].uid,
        )
        for member in members[1:]:
            circles.add(name, member.uid)
    return f"{name}@{settings.circles.domain}"


def proposed_circle(settings: Settings, name: str, owner: Account, password: str) -> str:
    """A circle an alumnus proposed (circles.interest_approval): it waits for staff."""
    waiting = replace(settings, circles=replace(settings.circles, interest_approval=True))
    actor = Actor(
        owner.uid, Role.ALUMNUS, Credentials(Tree(settings.base_dn).person(owner.uid), password)
    )
    with Composition(waiting) as root:
        made = root.circles(actor).create(name, name, Kind.INTEREST, policy=Policy.OPEN)
    assert made.proposed
    return f"{name}@{settings.circles.domain}"


@pytest.fixture
def logged_in(live_stack: Settings) -> Iterator[list[smtplib.SMTP]]:
    clients: list[smtplib.SMTP] = []
    yield clients
    for client in clients:
        client.close()


def submitter(settings: Settings, clients: list[smtplib.SMTP], uid: str, pw: str) -> smtplib.SMTP:
    client = mail.submission(settings)
    clients.append(client)
    client.login(uid, pw)
    return client


def rcpt(client: smtplib.SMTP, sender: str, recipient: str) -> tuple[int, bytes]:
    code, reply = client.mail(sender)
    assert code == 250, reply
    answer = client.rcpt(recipient)
    client.rset()
    return answer


def inbox(settings: Settings, account: Account, password: str) -> list[str]:
    return mail.inbox_subjects(settings, account.uid, password)


def subject_for(what: str) -> str:
    return f"{what} {time.monotonic_ns()}"


def test_the_circles_domain_defaults_beside_the_main_one(live_stack: Settings) -> None:
    assert live_stack.circles.domain == f"circles.{live_stack.domain}"


def test_a_member_mails_the_circle_and_every_member_gets_it(
    live_stack: Settings, new_account: NewAccount, logged_in: list[smtplib.SMTP]
) -> None:
    people = [new_account() for _ in range(4)]
    members = [account for account, _ in people]
    (author, author_pw), outsider = people[0], people[3]
    address = circle_with(live_stack, f"list-{author.uid}", members[:3])

    subject = subject_for("to the circle")
    client = submitter(live_stack, logged_in, author.uid, author_pw)
    message = mail.message(author.mail, address, subject)
    refused = client.send_message(message, from_addr=author.mail, to_addrs=[address])
    assert refused == {}

    # Every member, the author among them.
    assert wait_for(lambda: all(subject in inbox(live_stack, a, p) for a, p in people[:3]))
    assert subject not in mail.inbox_subjects(live_stack, outsider[0].uid, outsider[1])


def test_a_hidden_circle_expands_as_well(
    live_stack: Settings, new_account: NewAccount, logged_in: list[smtplib.SMTP]
) -> None:
    people = [new_account() for _ in range(3)]
    (author, author_pw) = people[0]
    address = circle_with(
        live_stack, f"hidden-{author.uid}", [a for a, _ in people], visibility=Visibility.HIDDEN
    )
    subject = subject_for("hidden circle")
    client = submitter(live_stack, logged_in, author.uid, author_pw)
    client.send_message(mail.message(author.mail, address, subject))
    assert wait_for(lambda: all(subject in inbox(live_stack, a, p) for a, p in people))


def test_a_non_member_is_refused_at_rcpt_and_nothing_is_delivered(
    live_stack: Settings, new_account: NewAccount, logged_in: list[smtplib.SMTP]
) -> None:
    (member, member_pw), (other, _) = new_account(), new_account()
    outsider, outsider_pw = new_account()
    address = circle_with(live_stack, f"closed-{member.uid}", [member, other])

    client = submitter(live_stack, logged_in, outsider.uid, outsider_pw)
    code, reply = rcpt(client, outsider.mail, address)
    assert code == 550 and b"5.7.1" in reply, reply
    assert f"not a member of the circle 'closed-{member.uid}'".encode() in reply

    # Another recipient in the same transaction still goes: only the circle is refused.
    subject = subject_for("outsider")
    refused = client.send_message(
        mail.message(outsider.mail, f"{address}, {member.mail}", subject),
        to_addrs=[address, member.mail],
    )
    assert set(refused) == {address}
    assert wait_for(lambda: subject in mail.inbox_subjects(live_stack, member.uid, member_pw))
    time.sleep(1)  # had the circle taken it, the other member's copy would be there by now
    assert subject not in mail.inbox_subjects(live_stack, other.uid, "Correct-Horse-42")


def test_unknown_and_proposed_circles_are_unknown_users(
    live_stack: Settings, new_account: NewAccount, logged_in: list[smtplib.SMTP]
) -> None:
    author, author_pw = new_account()
    proposed = proposed_circle(live_stack, f"waiting-{author.uid}", author, author_pw)
    client = submitter(live_stack, logged_in, author.uid, author_pw)
    for address in (f"no-such-circle-{author.uid}@{live_stack.circles.domain}", proposed):
        code, reply = rcpt(client, author.mail, address)
        assert code == 550 and b"5.1.1" in reply, (address, reply)


def test_port_25_takes_no_mail_for_a_circle_whatever_the_sender_claims(
    live_stack: Settings, new_account: NewAccount
) -> None:
    (member, _), (other, other_pw) = new_account(), new_account()
    address = circle_with(live_stack, f"spoofed-{member.uid}", [member, other])
    subject = subject_for("spoofed")
    for sender in (member.mail, "someone@outside.example", ""):
        client = mail.inbound(live_stack)
        try:
            code, reply = rcpt(client, sender, address)
        finally:
            client.close()
        assert code == 550 and b"5.7.1" in reply, (sender, reply)
    client = mail.inbound(live_stack)
    try:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.send_message(mail.message("x@outside.example", address, subject))
    finally:
        client.close()
    assert subject not in mail.inbox_subjects(live_stack, other.uid, other_pw)


def test_a_suspended_member_holds_up_nobody_and_bounces_nothing(
    live_stack: Settings,
    new_account: NewAccount,
    accounts: AccountService,
    logged_in: list[smtplib.SMTP],
) -> None:
    """Postfix reads member DNs without their status: a suspended member's copy goes to the
    mailbox they read when resumed (README "Circles"), and the author hears nothing of it."""
    people = [new_account() for _ in range(3)]
    (author, author_pw), (other, other_pw), (suspended, _) = people
    address = circle_with(live_stack, f"paused-{author.uid}", [a for a, _ in people])
    accounts.set_status(suspended.uid, AccountStatus.SUSPENDED)

    subject = subject_for("with a suspended member")
    client = submitter(live_stack, logged_in, author.uid, author_pw)
    assert client.send_message(mail.message(author.mail, address, subject)) == {}
    assert wait_for(lambda: subject in inbox(live_stack, other, other_pw))
    assert wait_for(lambda: subject in inbox(live_stack, author, author_pw))
    time.sleep(1)  # a bounce would follow the copies within this
    assert inbox(live_stack, author, author_pw) == [subject]


def test_a_circle_address_is_never_a_sender(
    live_stack: Settings, new_account: NewAccount, logged_in: list[smtplib.SMTP]
) -> None:
    """No loop through a circle: no login owns a circle address (aliases stay in the main
    domain), and port 25 takes none as envelope sender."""
    (member, member_pw), (other, _) = new_account(), new_account()
    address = circle_with(live_stack, f"loop-{member.uid}", [member, other])
    other_circle = circle_with(live_stack, f"loop2-{member.uid}", [member, other])

    client = submitter(live_stack, logged_in, member.uid, member_pw)
    code, reply = client.mail(address)
    if code == 250:
        code, reply = client.rcpt(other_circle)
    assert code == 553 and b"5.7.1" in reply and b"not owned by user" in reply, reply
    client.rset()

    inbound = mail.inbound(live_stack)
    try:
        code, reply = rcpt(inbound, address, member.mail)
    finally:
        inbound.close()
    assert code == 550 and b"5.7.1" in reply, reply
