"""Client self-configuration against the running stack: each document is fetched over HTTP from
the web service, and the servers it names are driven into real logins (IMAP, POP3, SMTP with
exactly the host, port and socket type from the document), so a wrong port or socket type
fails here."""

from __future__ import annotations

import imaplib
import plistlib
import poplib
import smtplib
import xml.etree.ElementTree as ET

import pytest

from mailstack.settings import Settings
from tests import mail
from tests.support import NewAccount
from tests.web import client, form_token

pytestmark = pytest.mark.integration
OL = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def login(
    settings: Settings, kind: str, host: str, port: int, socket: str, user: str, password: str
) -> None:
    """Log in as a client configured with these parameters would; raises if it cannot."""
    tls = mail.tls(settings)
    implicit = socket in ("SSL", "on")
    if kind == "imap":
        imap = (
            imaplib.IMAP4_SSL(host, port, ssl_context=tls, timeout=10)
            if implicit
            else imaplib.IMAP4(host, port, timeout=10)
        )
        if not implicit:
            imap.starttls(ssl_context=tls)
        imap.login(user, password)
        imap.logout()
    elif kind == "pop3":
        pop = (
            poplib.POP3_SSL(host, port, context=tls, timeout=10)
            if implicit
            else poplib.POP3(host, port, timeout=10)
        )
        if not implicit:
            pop.stls(context=tls)
        pop.user(user)
        pop.pass_(password)
        pop.quit()
    else:
        smtp = (
            smtplib.SMTP_SSL(host, port, context=tls, timeout=10)
            if implicit
            else smtplib.SMTP(host, port, timeout=10)
        )
        smtp.ehlo("client.test.example")
        if not implicit:
            smtp.starttls(context=tls)
            smtp.ehlo("client.test.example")
        smtp.login(user, password)
        smtp.quit()


def test_thunderbird_autoconfig_drives_real_logins(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    with client(live_stack) as http:
        plain = http.get("/mail/config-v1.1.xml", params={"emailaddress": account.mail})
        well_known = http.get("/.well-known/autoconfig/mail/config-v1.1.xml")
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("application/xml")
    assert plain.text == well_known.text
    provider = ET.fromstring(plain.text).find("emailProvider")
    assert provider is not None
    servers = provider.findall("incomingServer") + provider.findall("outgoingServer")
    assert len(servers) == 6
    for server in servers:
        user = server.findtext("username", "").replace("%EMAILADDRESS%", account.mail)
        login(
            live_stack,
            server.get("type", ""),
            server.findtext("hostname", ""),
            int(server.findtext("port", "0")),
            server.findtext("socketType", ""),
            user,
            password,
        )


def pox(address: str) -> bytes:
    return (
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/'
        f'requestschema/2006"><Request><EMailAddress>{address}</EMailAddress>'
        "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/"
        "responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


def test_outlook_autodiscover_drives_real_logins(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    with client(live_stack) as http:
        answer = http.post("/autodiscover/autodiscover.xml", content=pox(account.mail))
        capital = http.post("/Autodiscover/Autodiscover.xml", content=pox(account.mail))
    assert answer.status_code == 200 and answer.text == capital.text
    protocols = ET.fromstring(answer.text).findall(f"{OL}Response/{OL}Account/{OL}Protocol")
    assert len(protocols) == 3
    for protocol in protocols:
        login(
            live_stack,
            protocol.findtext(f"{OL}Type", "").lower(),
            protocol.findtext(f"{OL}Server", ""),
            int(protocol.findtext(f"{OL}Port", "0")),
            protocol.findtext(f"{OL}SSL", ""),
            protocol.findtext(f"{OL}LoginName", ""),
            password,
        )


def test_outlook_autodiscover_does_not_reveal_accounts(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, _ = new_account()
    unknown = f"nobody.here@{live_stack.domain}"
    with client(live_stack) as http:
        known_answer = http.post("/autodiscover/autodiscover.xml", content=pox(account.mail))
        unknown_answer = http.post("/autodiscover/autodiscover.xml", content=pox(unknown))
        broken = http.post("/autodiscover/autodiscover.xml", content=b"<Autodiscover>")
    assert known_answer.status_code == unknown_answer.status_code == 200
    assert known_answer.text.replace(account.mail, "X") == unknown_answer.text.replace(unknown, "X")
    assert "<ErrorCode>600</ErrorCode>" in broken.text


@pytest.mark.parametrize("param", ["Protocol", "protocol", "PROTOCOL"])
def test_autodiscover_json_matches_the_parameter_in_any_case(
    live_stack: Settings, param: str
) -> None:
    with client(live_stack) as http:
        answer = http.get(
            "/autodiscover/autodiscover.json",
            params={"Email": "someone@x.example", param: "autodiscoverv1"},
        )
        path_form = http.get(
            "/autodiscover/autodiscover.json/v1.0/someone@x.example",
            params={param: "AutodiscoverV1"},
        )
        wrong = http.get("/autodiscover/autodiscover.json", params={param: "Rest"})
    expected = {
        "Protocol": "AutodiscoverV1",
        "Url": f"{live_stack.public_url}/autodiscover/autodiscover.xml",
    }
    assert answer.json() == expected and path_form.json() == expected
    assert wrong.status_code == 400 and wrong.json()["ErrorCode"] == "InvalidProtocol"


def test_apple_profile_for_the_signed_in_alumnus_drives_real_logins(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account(name="Apple User")
    with client(live_stack) as http:
        assert http.get("/account/clients/apple.mobileconfig").status_code == 303  # sign in first
        http.post(
            "/login",
            data={
                "csrf_token": form_token(http, "/login"),
                "login": account.uid,
                "password": password,
            },
        )
        assert "apple.mobileconfig" in http.get("/account/clients").text
        answer = http.get("/account/clients/apple.mobileconfig")
    assert answer.headers["content-type"] == "application/x-apple-aspen-config"
    (payload,) = plistlib.loads(answer.content)["PayloadContent"]
    assert payload["EmailAddress"] == account.mail
    login(
        live_stack,
        "imap",
        payload["IncomingMailServerHostName"],
        payload["IncomingMailServerPortNumber"],
        "SSL" if payload["IncomingMailServerUseSSL"] else "STARTTLS",
        payload["IncomingMailServerUsername"],
        password,
    )
    login(
        live_stack,
        "smtp",
        payload["OutgoingMailServerHostName"],
        payload["OutgoingMailServerPortNumber"],
        "SSL" if payload["OutgoingMailServerUseSSL"] else "STARTTLS",
        payload["OutgoingMailServerUsername"],
        password,
    )


def test_mta_sts_policy_is_served(live_stack: Settings) -> None:
    with client(live_stack) as http:
        policy = http.get("/.well-known/mta-sts.txt")
    assert policy.status_code == 200 and policy.headers["content-type"].startswith("text/plain")
    lines = dict(line.split(": ", 1) for line in policy.text.splitlines())
    assert lines == {
        "version": "STSv1",
        "mode": "testing",
        "mx": live_stack.mail_host,
        "max_age": "604800",
    }
