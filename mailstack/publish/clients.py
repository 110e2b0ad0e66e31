"""What a mail client needs to know: servers, ports, security and the login name. The portal's
settings page and the welcome mail show it; client autoconfiguration builds on the same list."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from mailstack.settings import Settings


@dataclass(frozen=True)
class ClientSetting:
    protocol: str  # "IMAP", "POP3", "SMTP"
    host: str
    port: int
    security: str  # "SSL/TLS" or "STARTTLS"

    @property
    def implicit_tls(self) -> bool:
        return self.security == "SSL/TLS"

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def client_host(settings: Settings) -> str:
    """The name clients connect to: the mail host, except for a stack that listens on loopback
    only, which clients on this machine reach by its address."""
    if ipaddress.ip_address(settings.listen).is_loopback:
        return settings.connect_host
    return settings.mail_host


def client_settings(settings: Settings) -> list[ClientSetting]:
    """Every server a client may use, preferred first: implicit TLS (RFC 8314), then STARTTLS;
    IMAP before POP3."""
    host, ports = client_host(settings), settings.ports
    return [
        ClientSetting("IMAP", host, ports.imaps, "SSL/TLS"),
        ClientSetting("IMAP", host, ports.imap, "STARTTLS"),
        ClientSetting("POP3", host, ports.pop3s, "SSL/TLS"),
        ClientSetting("POP3", host, ports.pop3, "STARTTLS"),
        ClientSetting("SMTP", host, ports.submissions, "SSL/TLS"),
        ClientSetting("SMTP", host, ports.submission, "STARTTLS"),
    ]
