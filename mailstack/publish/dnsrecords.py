"""Every DNS record the domain needs, computed from the settings and the DKIM key: what a
sysadmin publishes (``alumail dns``), and what ``alumail dns check`` compares a resolver with.

- MX, and A/AAAA for the mail host (``dns.ipv4``/``dns.ipv6``, else the listen address);
- SRV for client discovery (RFC 6186, with RFC 8314's implicit TLS preferred);
- ``autoconfig``, ``autodiscover`` and ``mta-sts`` names for the web service, and
  ``_autodiscover._tcp`` SRV;
- SPF, DKIM, DMARC, MTA-STS (with the policy the service serves) and TLS-RPT.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from identity.markers import N_
from mailstack.errors import DaemonError
from mailstack.settings import Settings

TTL = 3600
MTA_STS_MAX_AGE = 604800  # a week


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, with the trailing dot
    type: str
    value: str  # presentation form; TXT values unquoted
    ttl: int = TTL
    purpose: str = ""  # N_()-marked: the admin console shows it in the reader's language

    def zone_line(self) -> str:
        value = self.value
        if self.type == "TXT":
            # One TXT string holds at most 255 bytes: longer values (DKIM keys) are split.
            value = " ".join(f'"{value[i : i + 255]}"' for i in range(0, len(value), 255))
        return f"{self.name}\t{self.ttl}\tIN\t{self.type}\t{value}"

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def fqdn(name: str) -> str:
    return name.rstrip(".") + "."


def addresses(settings: Settings) -> list[tuple[str, str]]:
    """(type, address) of the mail host: the configured public addresses, else the listen
    address when it is a specific one."""
    found: list[tuple[str, str]] = []
    if settings.dns.ipv4:
        found.append(("A", settings.dns.ipv4))
    if settings.dns.ipv6:
        found.append(("AAAA", settings.dns.ipv6))
    if not found:
        listen = ipaddress.ip_address(settings.listen)
        if not listen.is_unspecified:
            found.append(("A" if listen.version == 4 else "AAAA", str(listen)))
    return found


def mta_sts_policy(settings: Settings) -> str:
    """The policy file served at https://mta-sts.<domain>/.well-known/mta-sts.txt."""
    return (
        "version: STSv1\n"
        f"mode: {settings.dns.mta_sts_mode}\n"
        f"mx: {settings.mail_host}\n"
        f"max_age: {MTA_STS_MAX_AGE}\n"
    )


def records(settings: Settings, dkim_record: tuple[str, str] | None) -> list[Record]:
    """``dkim_record``: (selector, TXT value) of the key in use, if one exists yet."""
    domain, host = fqdn(settings.domain), fqdn(settings.mail_host)
    ports = settings.ports
    report = settings.dns.report_address or f"postmaster@{settings.domain}"
    out = [
        Record(domain, "MX", f"10 {host}", purpose=N_("mail for the domain goes to the mail host")),
        Record(
            fqdn(settings.circles.domain),
            "MX",
            f"10 {host}",
            purpose=N_("mail to circle addresses goes to the mail host"),
        ),
    ]
    for kind, address in addresses(settings):
        out.append(Record(host, kind, address, purpose=N_("the mail host")))
    # RFC 6186 / 8314: implicit TLS first (lower priority value), IMAP before POP3.
    for service, priority, port in (
        ("_imaps._tcp", 0, ports.imaps),
        ("_imap._tcp", 10, ports.imap),
        ("_pop3s._tcp", 20, ports.pop3s),
        ("_pop3._tcp", 30, ports.pop3),
        ("_submissions._tcp", 0, ports.submissions),
        ("_submission._tcp", 10, ports.submission),
    ):
        target = f"{priority} 1 {port} {host}" if port else "0 0 0 ."
        out.append(Record(f"{service}.{domain}", "SRV", target, purpose=N_("client discovery")))
    for name in ("autoconfig", "autodiscover", "mta-sts"):
        out.append(Record(f"{name}.{domain}", "CNAME", host, purpose=N_("the web service")))
    out.append(
        Record(
            f"_autodiscover._tcp.{domain}",
            "SRV",
            f"0 0 {ports.web} {host}",
            purpose=N_("Outlook autodiscover"),
        )
    )
    out.append(Record(domain, "TXT", "v=spf1 mx -all", purpose=N_("SPF: only the MX sends")))
    if dkim_record is not None:
        selector, value = dkim_record
        out.append(
            Record(f"{selector}._domainkey.{domain}", "TXT", value, purpose=N_("DKIM public key"))
        )
    out.append(
        Record(
            f"_dmarc.{domain}",
            "TXT",
            f"v=DMARC1; p=quarantine; adkim=s; aspf=s; rua=mailto:{report}",
            purpose=N_("DMARC"),
        )
    )
    policy_id = hashlib.sha256(mta_sts_policy(settings).encode()).hexdigest()[:20]
    out.append(
        Record(f"_mta-sts.{domain}", "TXT", f"v=STSv1; id={policy_id}", purpose=N_("MTA-STS"))
    )
    out.append(
        Record(
            f"_smtp._tls.{domain}", "TXT", f"v=TLSRPTv1; rua=mailto:{report}", purpose=N_("TLS-RPT")
        )
    )
    return out


def zone(records: Iterable[Record], origin: str) -> str:
    lines = [f"; records for {origin} (alumail dns --zone)", f"$ORIGIN {fqdn(origin)}"]
    lines += [r.zone_line() for r in records]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Difference:
    record: Record
    found: list[str]
    problem: str  # "missing", "different"

    def as_dict(self) -> dict[str, object]:
        return {**self.record.as_dict(), "found": self.found, "problem": self.problem}


def normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind == "TXT":
        return value
    return " ".join(value.lower().split())


# (name, type) -> the values published, in presentation form ([] when there are none)
LookupFunc = Callable[[str, str], list[str]]


def compare(expected: list[Record], lookup: LookupFunc) -> list[Difference]:
    """Differences between what should be published and what ``lookup(name, type)`` returns.
    TXT: our value must be among the name's TXT records (others may share the name); every
    other type: the set of values must be ours exactly."""
    wanted: dict[tuple[str, str], list[Record]] = {}
    for record in expected:
        wanted.setdefault((record.name, record.type), []).append(record)
    differences = []
    for (name, kind), group in wanted.items():
        found = [normalise(kind, v) for v in lookup(name, kind)]
        if kind == "TXT":
            for record in group:
                if normalise(kind, record.value) not in found:
                    differences.append(Difference(record, found, _problem(found)))
            continue
        mine = sorted(normalise(kind, r.value) for r in group)
        if sorted(found) != mine:
            differences += [Difference(record, found, _problem(found)) for record in group]
    return differences


def _problem(found: list[str]) -> str:
    return "different" if found else "missing"


def resolver_lookup(
    nameserver: str | None = None, port: int = 53, timeout: float = 5
) -> LookupFunc:
    """Look records up with dnspython: through ``nameserver`` (an address) when given, else the
    system's resolvers."""
    import dns.exception
    import dns.resolver

    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        resolver.nameservers = [nameserver]
        resolver.port = port
    resolver.lifetime = timeout

    def lookup(name: str, kind: str) -> list[str]:
        try:
            answer = resolver.resolve(name, kind, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return []
        except dns.exception.Timeout as exc:
            raise DaemonError(f"no answer from the DNS resolver for {name} {kind}") from exc
        if answer.rrset is None:
            return []
        if kind == "TXT":
            return [b"".join(r.strings).decode() for r in answer.rrset]
        return [r.to_text() for r in answer.rrset]

    return lookup
