"""DNS records and DKIM, against a local authoritative server the test starts (dnspython; no
query leaves the machine): `alumail dns check` finds what differs, and a message an alumnus
submits reaches the outbound sink signed, verified by dkimpy with the key looked up in DNS."""

from __future__ import annotations

import json
import re
import time

import dkim
import dns.resolver
import pytest

from identity.accounts import Account
from mailstack.settings import Settings
from tests import mail
from tests.dnsserver import serving
from tests.support import NewAccount, alumail, wait_for

pytestmark = pytest.mark.integration


def zone_of(settings: Settings) -> str:
    return alumail(settings, "dns", "--zone", check=True).stdout


def test_dns_zone_lists_every_record_and_parses(live_stack: Settings) -> None:
    records = json.loads(alumail(live_stack, "dns", "--json", check=True).stdout)
    domain = live_stack.domain + "."
    names = {(r["name"], r["type"]) for r in records}
    for service in ("_imaps", "_imap", "_pop3s", "_pop3", "_submissions", "_submission"):
        assert (f"{service}._tcp.{domain}", "SRV") in names
    for expected in [
        (domain, "MX"),
        (f"{live_stack.circles.domain}.", "MX"),
        (f"{live_stack.mail_host}.", "A"),
        (f"autoconfig.{domain}", "CNAME"),
        (f"autodiscover.{domain}", "CNAME"),
        (f"_dmarc.{domain}", "TXT"),
        (f"_mta-sts.{domain}", "TXT"),
        (domain, "TXT"),
    ]:
        assert expected in names
    assert any(n.endswith(f"._domainkey.{domain}") for n, _ in names)
    srv = {r["name"].split(".")[0]: r["value"].split() for r in records if r["type"] == "SRV"}
    assert srv["_imaps"][2] == str(live_stack.ports.imaps)
    assert int(srv["_imaps"][0]) < int(srv["_imap"][0])  # implicit TLS preferred (RFC 8314)
    with serving(zone_of(live_stack), live_stack.domain) as port:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], port
        mx = resolver.resolve(live_stack.domain, "MX")
        circles_mx = resolver.resolve(live_stack.circles.domain, "MX")
    assert [r.to_text() for r in mx] == [f"10 {live_stack.mail_host}."]
    assert [r.to_text() for r in circles_mx] == [f"10 {live_stack.mail_host}."]


def test_dns_check_passes_on_the_published_zone_and_names_differences(live_stack: Settings) -> None:
    zone = zone_of(live_stack)
    with serving(zone, live_stack.domain) as port:
        good = alumail(live_stack, "dns", "check", "--nameserver", "127.0.0.1", "--port", str(port))
    assert good.returncode == 0, good.stdout + good.stderr
    assert "0 differ" in good.stderr
    # A stale MX, and no DKIM key published.
    broken = re.sub(r"\tMX\t10 \S+", "\tMX\t10 old-mx.example.org.", zone)
    broken = "\n".join(line for line in broken.splitlines() if "_domainkey" not in line)
    with serving(broken, live_stack.domain) as port:
        bad = alumail(
            live_stack, "dns", "check", "--nameserver", "127.0.0.1", "--port", str(port), "--json"
        )
    assert bad.returncode == 1
    problems = {(d["type"], d["problem"]) for d in json.loads(bad.stdout)["differences"]}
    assert problems == {("MX", "different"), ("TXT", "missing")}


def sink_message(settings: Settings, subject: str) -> bytes:
    found: list[bytes] = []

    def look() -> bool:
        for path in (settings.state_dir / "outbound").glob("*.eml"):
            raw = path.read_bytes()
            if f"Subject: {subject}".encode() in raw:
                found.append(raw)
        return bool(found)

    assert wait_for(look, 20), f"no '{subject}' at the outbound sink"
    # The sink adds the envelope as X-Alumail-Envelope-* lines on top: not part of what was signed.
    lines = found[0].split(b"\r\n")
    return b"\r\n".join(line for line in lines if not line.startswith(b"X-Alumail-Envelope-"))


def verify(message: bytes, port: int) -> bool:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], port

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        answer = resolver.resolve(name.decode().rstrip("."), "TXT")
        return b"".join(b"".join(r.strings) for r in answer)

    return bool(dkim.verify(message, dnsfunc=dnsfunc))


def submit(settings: Settings, account: Account, password: str, subject: str) -> bytes:
    """Send as an alumnus through submission; the message as the outbound sink kept it."""
    client = mail.submission(settings)
    client.login(account.uid, password)
    client.send_message(mail.message(account.mail, "friend@elsewhere.example.org", subject))
    client.quit()
    return sink_message(settings, subject)


def test_submitted_mail_is_dkim_signed_and_verifies(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    message = submit(live_stack, account, password, f"signed {time.time()}")
    assert b"DKIM-Signature:" in message
    with serving(zone_of(live_stack), live_stack.domain) as port:
        assert verify(message, port)
        tampered = message.replace(b"hello", b"HELLO")
        assert not verify(tampered, port)


def test_dkim_rotation(live_stack: Settings, new_account: NewAccount) -> None:
    before = json.loads(alumail(live_stack, "dkim", "show", "--json", check=True).stdout)
    rotated = alumail(
        live_stack, "dkim", "rotate", "--selector", f"r{int(time.time())}", check=True
    )
    after = json.loads(alumail(live_stack, "dkim", "show", "--json", check=True).stdout)
    assert after["selector"] != before["selector"]
    assert set(after["keys"]) == {*before["keys"], after["selector"]}
    assert after["record"] in rotated.stdout.replace('"', "")
    account, password = new_account()
    message = submit(live_stack, account, password, f"rotated {time.time()}")
    assert f"s={after['selector']};".encode() in message.replace(b"\r\n\t", b"").replace(b" ", b"")
    with serving(zone_of(live_stack), live_stack.domain) as port:
        assert verify(message, port)
    refused = alumail(live_stack, "dkim", "retire", after["selector"])
    assert refused.returncode == 4 and "in use" in refused.stderr
    alumail(live_stack, "dkim", "retire", before["selector"], check=True)
    assert (
        before["selector"]
        not in json.loads(alumail(live_stack, "dkim", "show", "--json", check=True).stdout)["keys"]
    )
