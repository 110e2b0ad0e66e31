"""TLS on every listener, checked with `openssl s_client`: TLS 1.2 and 1.3 with the stack's
certificate, never 1.0 or 1.1 (the probe is first shown able to speak 1.1, against a server
that allows it), and a renewed certificate picked up by `alumail up` without dropping the
connections already open."""

from __future__ import annotations

import hashlib
import imaplib
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from mailstack.keys.tls import tls_files
from mailstack.settings import Settings
from provisioning.people.accounts import AccountService
from tests import mail
from tests.support import (
    alumail,
    free_ports,
    running_stack,
    self_signed_cert,
    stack_status,
    state_root,
    use_case,
    wait_for,
)
from tests.webmail import login

pytestmark = pytest.mark.integration
# (service, STARTTLS protocol for s_client, or None for implicit TLS)
LISTENERS = [
    ("imaps", None),
    ("pop3s", None),
    ("submissions", None),
    ("imap", "imap"),
    ("pop3", "pop3"),
    ("submission", "smtp"),
    ("smtp", "smtp"),
]


def handshake(
    port: int, version: str, *, starttls: str | None = None, ca: Path | None = None
) -> bool:
    """True if a TLS ``version`` (tls1, tls1_1, tls1_2, tls1_3) handshake completes. The client
    is allowed every cipher (SECLEVEL=0) so only the server can refuse an old protocol."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", f"-{version}"]
    if version != "tls1_3":
        cmd += ["-cipher", "DEFAULT@SECLEVEL=0"]
    if starttls:
        cmd += ["-starttls", starttls]
    if ca:
        cmd += ["-CAfile", str(ca), "-verify_return_error"]
    proc = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=20, check=False)
    return proc.returncode == 0 and "Cipher is (NONE)" not in proc.stdout


def test_the_probe_can_speak_tls_1_1() -> None:
    """Control: against a server that allows TLS 1.1, the probe succeeds. Without this the
    refusals below could come from the client, not from our listeners."""
    root = state_root("probe")
    cert, key = self_signed_cert(root, "probe")
    port = free_ports(1)[0]
    server = subprocess.Popen(
        [
            "openssl",
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-naccept",
            "2",
        ],
        stdin=subprocess.PIPE,  # s_server stops when its standard input ends
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: _listening(port), 10)
        assert handshake(port, "tls1_1")
    finally:
        server.kill()
        server.communicate()  # reaps it and closes its standard input
        shutil.rmtree(root, ignore_errors=True)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(("service", "starttls"), LISTENERS)
def test_every_listener_speaks_tls_1_2_and_1_3_only(
    live_stack: Settings, service: str, starttls: str | None
) -> None:
    port = getattr(live_stack.ports, service)
    ca = tls_files(live_stack).ca_cert
    assert handshake(port, "tls1_2", starttls=starttls, ca=ca)
    assert handshake(port, "tls1_3", starttls=starttls, ca=ca)
    assert not handshake(port, "tls1_1", starttls=starttls)
    assert not handshake(port, "tls1", starttls=starttls)


def test_web_service_and_webmail_over_tls_refuse_old_protocols() -> None:
    with running_stack("webtls13", **{"web.tls": True}) as settings:
        ca = tls_files(settings).ca_cert
        for port in (settings.ports.web, settings.ports.webmail):
            assert handshake(port, "tls1_2", ca=ca)
            assert not handshake(port, "tls1_1")
        webmail_over_tls(settings)


def webmail_over_tls(settings: Settings) -> None:
    """Roundcube behind nginx with the stack's certificate: its URL says https, the cookie is
    Secure, a password login works, plain HTTP on the port is refused."""
    with use_case(AccountService, settings) as service:
        service.create("tls.user", "Tls User", "Secure-Webmail-31")
    services = stack_status(settings)["services"]
    url = services["webmail"]["url"]
    assert url == f"https://127.0.0.1:{settings.ports.webmail}/"
    with httpx.Client(base_url=url, verify=mail.tls(settings), timeout=30) as https:
        page = https.get("/")
        assert page.status_code == 200
        assert "secure" in page.headers["set-cookie"].lower()
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert login(https, "tls.user", "Secure-Webmail-31").status_code == 302
    plain = httpx.get(f"http://127.0.0.1:{settings.ports.webmail}/", timeout=10)
    assert plain.status_code == 400  # nginx: a plain HTTP request to an HTTPS port


def served_fingerprint(port: int) -> str:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return hashlib.sha256(der).hexdigest()


def file_fingerprint(cert: Path) -> str:
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(cert.read_text())).hexdigest()


def test_a_renewed_certificate_is_picked_up_without_dropping_connections() -> None:
    """The sysadmin's ACME client renews the chain in place; `alumail up` reloads, the open
    IMAP session carries on, and new connections get the new certificate."""
    certs = state_root("certs")
    cert, key = self_signed_cert(certs, "first")
    live_cert, live_key = certs / "live.crt", certs / "live.key"
    shutil.copy(cert, live_cert)
    shutil.copy(key, live_key)
    live_key.chmod(0o600)
    try:
        with running_stack("renew", **{"tls.cert": str(live_cert), "tls.key": str(live_key)}) as s:
            assert served_fingerprint(s.ports.imaps) == file_fingerprint(cert)
            alumail(
                s,
                "account",
                "create",
                "renew.user",
                "--name",
                "R",
                "--password-stdin",
                stdin="Renewal-Pass-123\n",
                check=True,
            )
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            session = imaplib.IMAP4_SSL("127.0.0.1", s.ports.imaps, ssl_context=context)
            session.login("renew.user", "Renewal-Pass-123")
            session.select("INBOX")
            new_cert, new_key = self_signed_cert(certs, "second")
            shutil.copy(new_cert, live_cert)
            shutil.copy(new_key, live_key)
            up = alumail(s, "up", check=True)
            assert "reloaded dovecot" in up.stderr and "reloaded postfix" in up.stderr
            assert session.noop()[0] == "OK"  # the open session was not dropped
            session.logout()
            assert wait_for(
                lambda: served_fingerprint(s.ports.imaps) == file_fingerprint(new_cert), 10
            )
            assert wait_for(
                lambda: served_fingerprint(s.ports.submissions) == file_fingerprint(new_cert), 10
            )
    finally:
        shutil.rmtree(certs, ignore_errors=True)
