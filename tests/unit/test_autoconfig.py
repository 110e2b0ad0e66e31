"""The client configuration documents, parsed back and held against the published formats:
Mozilla's clientConfig 1.1, Microsoft's autodiscover POX (request 2006, response 2006a) and
JSON v1, Apple's com.apple.mail.managed payload. The expectations below are written from those
specifications (element names, allowed values), not copied from our output."""

from __future__ import annotations

import plistlib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from identity.errors import ValidationError
from mailstack.publish import autoconfig
from mailstack.settings import build

pytestmark = pytest.mark.unit

PRODUCTION = build(
    {
        "domain": "alumni.example.edu",
        "listen": "0.0.0.0",
        "state_dir": "/srv/state",
        "ports.imaps": 993,
        "ports.imap": 143,
        "ports.pop3s": 995,
        "ports.pop3": 110,
        "ports.submissions": 465,
        "ports.submission": 587,
        "ports.smtp": 25,
        "ports.web": 443,
        "web.public_url": "https://mail.alumni.example.edu",
    },
    base=Path("/"),
)
MS = "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}"
OL = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"


def test_thunderbird_client_config_1_1() -> None:
    root = ET.fromstring(autoconfig.thunderbird(PRODUCTION))
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None and provider.get("id") == "alumni.example.edu"
    assert [d.text for d in provider.findall("domain")] == ["alumni.example.edu"]
    incoming = [
        (s.get("type"), s.findtext("hostname"), s.findtext("port"), s.findtext("socketType"))
        for s in provider.findall("incomingServer")
    ]
    # Implicit TLS first, STARTTLS second (the spec: the first listed is preferred).
    assert incoming == [
        ("imap", "mail.alumni.example.edu", "993", "SSL"),
        ("imap", "mail.alumni.example.edu", "143", "STARTTLS"),
        ("pop3", "mail.alumni.example.edu", "995", "SSL"),
        ("pop3", "mail.alumni.example.edu", "110", "STARTTLS"),
    ]
    outgoing = [
        (s.get("type"), s.findtext("port"), s.findtext("socketType"))
        for s in provider.findall("outgoingServer")
    ]
    assert outgoing == [("smtp", "465", "SSL"), ("smtp", "587", "STARTTLS")]
    for server in provider.findall("incomingServer") + provider.findall("outgoingServer"):
        assert server.findtext("username") == "%EMAILADDRESS%"
        assert server.findtext("authentication") == "password-cleartext"
        # socketType is one of the spec's values, never "plain" with a cleartext password.
        assert server.findtext("socketType") in ("SSL", "STARTTLS")


def request(address: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/'
        'requestschema/2006"><Request>'
        f"<EMailAddress>{address}</EMailAddress>"
        "<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/"
        "responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


def test_outlook_pox_response_2006a() -> None:
    address = autoconfig.parse_request(request("zhang.san@alumni.example.edu"))
    root = ET.fromstring(autoconfig.outlook(PRODUCTION, address))
    assert root.tag == f"{MS}Autodiscover"
    account = root.find(f"{OL}Response/{OL}Account")
    assert account is not None
    assert account.findtext(f"{OL}AccountType") == "email"
    assert account.findtext(f"{OL}Action") == "settings"
    protocols = {p.findtext(f"{OL}Type"): p for p in account.findall(f"{OL}Protocol")}
    assert set(protocols) == {"IMAP", "POP3", "SMTP"}
    ports = {name: p.findtext(f"{OL}Port") for name, p in protocols.items()}
    assert ports == {"IMAP": "993", "POP3": "995", "SMTP": "465"}
    for protocol in protocols.values():
        assert protocol.findtext(f"{OL}Server") == "mail.alumni.example.edu"
        assert protocol.findtext(f"{OL}LoginName") == "zhang.san@alumni.example.edu"
        # Absent SPA means "on" to Outlook, absent SSL means "on": both written out.
        assert protocol.findtext(f"{OL}SPA") == "off"
        assert protocol.findtext(f"{OL}SSL") == "on"
        assert protocol.findtext(f"{OL}AuthRequired") == "on"


def test_outlook_answers_alike_for_any_address() -> None:
    known = autoconfig.outlook(PRODUCTION, "zhang.san@alumni.example.edu")
    unknown = autoconfig.outlook(PRODUCTION, "nobody@alumni.example.edu")
    assert known.replace("zhang.san", "X") == unknown.replace("nobody", "X")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"<not xml", "request"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "request"),
        (b"<Autodiscover/>", "EMailAddress"),
        (b"x" * (autoconfig.MAX_REQUEST + 1), "request"),
    ],
)
def test_bad_autodiscover_requests_are_refused(body: bytes, field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        autoconfig.parse_request(body)
    assert caught.value.field == field
    error = ET.fromstring(autoconfig.outlook_error(caught.value.message))
    assert error.findtext(f"{MS}Response/{MS}Error/{MS}ErrorCode") == "600"


def test_autodiscover_json_v1() -> None:
    assert autoconfig.autodiscover_v1(PRODUCTION) == {
        "Protocol": "AutodiscoverV1",
        "Url": "https://mail.alumni.example.edu/autodiscover/autodiscover.xml",
    }


def test_apple_profile_mail_payload() -> None:
    data = autoconfig.apple_profile(PRODUCTION, "zhang.san@alumni.example.edu", "张三")
    profile = plistlib.loads(data)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == "zhang.san@alumni.example.edu"
    assert mail["EmailAccountName"] == "张三"
    assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"]) == (
        "mail.alumni.example.edu",
        993,
    )
    assert (mail["OutgoingMailServerHostName"], mail["OutgoingMailServerPortNumber"]) == (
        "mail.alumni.example.edu",
        465,
    )
    assert mail["IncomingMailServerUseSSL"] is True and mail["OutgoingMailServerUseSSL"] is True
    assert mail["IncomingMailServerAuthentication"] == "EmailAuthPassword"
    assert mail["OutgoingMailServerAuthentication"] == "EmailAuthPassword"
    assert mail["OutgoingPasswordSameAsIncomingPassword"] is True
    assert "IncomingPassword" not in mail  # the password never travels in the profile
    # Identifiers are stable, so installing the profile again replaces the account.
    again = plistlib.loads(
        autoconfig.apple_profile(PRODUCTION, "zhang.san@alumni.example.edu", "x")
    )
    assert again["PayloadUUID"] == profile["PayloadUUID"]
    assert again["PayloadContent"][0]["PayloadUUID"] == mail["PayloadUUID"]
