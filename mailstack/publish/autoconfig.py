"""The documents mail clients configure themselves from, built from the same settings list the
portal shows (:mod:`mailstack.publish.clients`), so a client is never told a port we do not
listen on.

- Thunderbird / K-9: clientConfig 1.1 XML (``config-v1.1.xml``).
- Outlook: autodiscover POX (request schema 2006, response schema 2006a) and the JSON
  ``AutodiscoverV1`` redirect.
- Apple Mail and iOS: a configuration profile (``com.apple.mail.managed`` payload).

Every answer depends on the address only for the login name it echoes: an unknown address gets
the same document as a known one, so these endpoints never tell which accounts exist.

The texts a person reads in a client (the provider's name, the profile's description) are
marked ``N_()`` and translated by the ``translate`` the caller passes (the web face's gettext in
the reader's language); they are filled with ``str.format`` after translation, and the XML and
plist writers escape what they are filled with.
"""

from __future__ import annotations

import plistlib
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

from identity.errors import ValidationError
from identity.markers import N_
from mailstack.publish.clients import client_settings
from mailstack.settings import Settings

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_REQUEST = 16 * 1024
Translate = Callable[[str], str]


def _english(text: str) -> str:
    return text


@dataclass(frozen=True)
class Server:
    kind: str  # "imap", "pop3", "smtp"
    host: str
    port: int
    socket: str  # "SSL" (implicit TLS) or "STARTTLS"


def servers(settings: Settings) -> list[Server]:
    """The portal's list, in the clients' vocabulary; preferred first (implicit TLS)."""
    return [
        Server(s.protocol.lower(), s.host, s.port, "SSL" if s.implicit_tls else "STARTTLS")
        for s in client_settings(settings)
    ]


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _text(parent: ET.Element, tag: str, value: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = value
    return element


# -- Thunderbird ---------------------------------------------------------------------------------


def thunderbird(settings: Settings, translate: Translate = _english, language: str = "en") -> str:
    """clientConfig 1.1; the username is the placeholder the client fills with the address.
    ``language`` (a BCP 47 tag) is the one ``translate`` speaks: the documentation's lang."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=settings.domain)
    _text(provider, "domain", settings.domain)
    _text(
        provider,
        "displayName",
        translate(N_("Alumni mail ({domain})")).format(domain=settings.domain),
    )
    _text(provider, "displayShortName", translate(N_("Alumni mail")))
    for server in servers(settings):
        tag = "outgoingServer" if server.kind == "smtp" else "incomingServer"
        element = ET.SubElement(provider, tag, type=server.kind)
        _text(element, "hostname", server.host)
        _text(element, "port", str(server.port))
        _text(element, "socketType", server.socket)
        _text(element, "username", "%EMAILADDRESS%")
        # Cleartext only inside TLS: every server above is SSL or STARTTLS, and Dovecot and
        # Postfix refuse AUTH before TLS.
        _text(element, "authentication", "password-cleartext")
    doc = ET.SubElement(provider, "documentation", url=f"{settings.public_url}/account/clients")
    _text(doc, "descr", translate(N_("Mail client settings"))).set("lang", language)
    return _xml(root)


# -- Outlook -------------------------------------------------------------------------------------


def parse_request(body: bytes) -> str:
    """The e-mail address from an autodiscover POX request. The body is small and has no DTD
    (refused before parsing), so no entity can be expanded or fetched."""
    if len(body) > MAX_REQUEST:
        raise ValidationError("request", f"must be at most {MAX_REQUEST} bytes")
    if b"<!" in body:
        raise ValidationError("request", "must not contain a DTD or entity declarations")
    try:
        root = ET.fromstring(body)  # noqa: S314 -- bounded, DTD-free (checked above)
    except ET.ParseError as exc:
        raise ValidationError("request", f"is not well-formed XML: {exc}") from exc
    found = root.find(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}EMailAddress")
    if found is None or not (found.text or "").strip():
        raise ValidationError("EMailAddress", "is missing from the request")
    return found.text.strip()  # type: ignore[union-attr]


def outlook(settings: Settings, address: str) -> str:
    """The 2006a response: implicit-TLS IMAP, POP3 and SMTP. SPA off and SSL on are always
    written out: Outlook reads an absent SPA as on, and would then never log in."""
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=OUTLOOK_NS)
    account = ET.SubElement(response, "Account")
    _text(account, "AccountType", "email")
    _text(account, "Action", "settings")
    for server in servers(settings):
        if server.socket != "SSL":
            continue
        protocol = ET.SubElement(account, "Protocol")
        _text(protocol, "Type", server.kind.upper())
        _text(protocol, "Server", server.host)
        _text(protocol, "Port", str(server.port))
        _text(protocol, "DomainRequired", "off")
        _text(protocol, "LoginName", address)
        _text(protocol, "SPA", "off")
        _text(protocol, "SSL", "on")
        _text(protocol, "AuthRequired", "on")
        if server.kind == "smtp":
            _text(protocol, "UsePOPAuth", "on")
            _text(protocol, "SMTPLast", "off")
    return _xml(root)


def outlook_error(message: str) -> str:
    root = ET.Element("Autodiscover", xmlns=RESPONSE_NS)
    response = ET.SubElement(root, "Response")
    error = ET.SubElement(response, "Error", Time="00:00:00", Id="1")
    _text(error, "ErrorCode", "600")
    _text(error, "Message", "Invalid Request")
    _text(error, "DebugData", message)
    return _xml(root)


def autodiscover_v1(settings: Settings) -> dict[str, str]:
    return {
        "Protocol": "AutodiscoverV1",
        "Url": f"{settings.public_url}/autodiscover/autodiscover.xml",
    }


# -- Apple ---------------------------------------------------------------------------------------


def apple_profile(
    settings: Settings, address: str, display_name: str, translate: Translate = _english
) -> bytes:
    """An unsigned configuration profile with one IMAP account (implicit TLS both ways). The
    password is not in it: the device asks for it when the profile is installed."""
    imap = next(s for s in servers(settings) if s.kind == "imap" and s.socket == "SSL")
    smtp = next(s for s in servers(settings) if s.kind == "smtp" and s.socket == "SSL")
    reverse = ".".join(reversed(settings.domain.split(".")))
    # Stable identifiers: installing the profile again replaces the account, not adds one.
    account_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{address}"))
    profile_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"alumail-profile:{address}"))
    account = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.alumail.mail.{account_uuid}",
        "PayloadUUID": account_uuid,
        "PayloadDisplayName": translate(N_("Mail: {address}")).format(address=address),
        "EmailAccountType": "EmailTypeIMAP",
        "EmailAccountDescription": translate(N_("Alumni mail ({domain})")).format(
            domain=settings.domain
        ),
        "EmailAccountName": display_name,
        "EmailAddress": address,
        "IncomingMailServerHostName": imap.host,
        "IncomingMailServerPortNumber": imap.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "IncomingMailServerUsername": address,
        "OutgoingMailServerHostName": smtp.host,
        "OutgoingMailServerPortNumber": smtp.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerUsername": address,
        "OutgoingPasswordSameAsIncomingPassword": True,
    }
    profile = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{reverse}.alumail.{profile_uuid}",
        "PayloadUUID": profile_uuid,
        "PayloadDisplayName": translate(N_("Alumni mail: {address}")).format(address=address),
        "PayloadDescription": translate(N_("Sets up your alumni mailbox in Mail.")),
        "PayloadOrganization": settings.domain,
        "PayloadRemovalDisallowed": False,
        "PayloadContent": [account],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)
