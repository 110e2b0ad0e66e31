"""Helpers for tests of the web service: an HTTP client on the running stack, form tokens,
graduates on the roster, and mail the stack sent out (read from the outbound sink)."""

from __future__ import annotations

import contextlib
import dataclasses
import email
import email.policy
import re
import secrets
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypedDict

import httpx
import uvicorn

from identity.roles import ROOT, Role
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.people import roster
from provisioning.people.staff import StaffService
from provisioning.store import Store
from provisioning.web.app import create_app
from provisioning.web.security import Limits
from tests.support import alumail, free_ports, use_case, wait_for

PASSWORD = "Sunrise-over-Minhang-7"
STAFF_PASSWORD = "Staff-Password-55"


class ApiTokens(TypedDict):
    """The staff members' uids by role, and each one's API token."""

    names: dict[str, str]
    admin: str
    helpdesk: str


def staff_tokens(settings: Settings) -> ApiTokens:
    """A new admin and a new helpdesk member, each with an API token issued by the CLI."""
    suffix = secrets.token_hex(3)
    names = {"admin": f"api.admin.{suffix}", "helpdesk": f"api.desk.{suffix}"}
    with use_case(StaffService, settings) as service:
        service.add(names["admin"], "API Admin", Role.ADMIN, STAFF_PASSWORD)
        service.add(names["helpdesk"], "API Desk", Role.HELPDESK, STAFF_PASSWORD)
    issued: dict[str, str] = {}
    for role, uid in names.items():
        proc = alumail(settings, "token", "issue", uid, "--label", f"{role} tests", check=True)
        issued[role] = proc.stdout.strip()
        assert issued[role].startswith("alm_")
    return ApiTokens(names=names, admin=issued["admin"], helpdesk=issued["helpdesk"])


def console_staff(settings: Settings, prefix: str) -> dict[str, str]:
    """A new admin and a new helpdesk member (sign-in names starting with ``prefix``), by
    role: the consoles' tests sign in as them."""
    suffix = secrets.token_hex(2)
    names = {"admin": f"{prefix}.admin.{suffix}", "helpdesk": f"{prefix}.hd.{suffix}"}
    with use_case(StaffService, settings) as service:
        service.add(names["admin"], f"{prefix} admin", Role.ADMIN, STAFF_PASSWORD)
        service.add(names["helpdesk"], f"{prefix} helpdesk", Role.HELPDESK, STAFF_PASSWORD)
    return names


def staff_token(settings: Settings, role: Role) -> str:
    """A new staff member of ``role`` and an API token for them, issued in this process (the
    token command's use case, without the 2 s start-up of the real program)."""
    uid = f"tok.{role.value}.{secrets.token_hex(3)}"
    with Composition(settings) as root:
        root.staff(ROOT).add(uid, f"Token {role.value}", role, STAFF_PASSWORD)
        return root.api_tokens().issue(ROOT, uid, "tests").token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def loopback_address() -> str:
    """A loopback address of its own (all of 127/8 is this host): the service limits sign-ins
    per client address, and the tests' browsers are different people, not one client guessing
    passwords, so a session-long stack does not run out of sign-ins as tests are added."""
    return "127.{}.{}.{}".format(*(secrets.randbelow(250) + 2 for _ in range(3)))


def client(settings: Settings) -> httpx.Client:
    """A browser of its own, from its own loopback address when the service is on IPv4
    loopback (see loopback_address)."""
    transport = None
    if settings.connect_host == "127.0.0.1":
        transport = httpx.HTTPTransport(local_address=loopback_address())
    return httpx.Client(
        base_url=settings.public_url, timeout=30, follow_redirects=False, transport=transport
    )


def form_token(http: httpx.Client, path: str) -> str:
    page = http.get(path)
    assert page.status_code == 200, page.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, f"no form token on {path}"
    return found.group(1)


def graduate(
    settings: Settings,
    tmp: Path,
    *,
    name: str = "Zhang Min",
    birth_date: str = "1993-05-17",
    year: str = "",
    legacy: str = "",
    class_code: str = "",
) -> str:
    """A new graduate on the roster (through the real CSV loader); their student number."""
    number = f"S{secrets.randbelow(10**9):09d}"
    path = tmp / f"roster-{number}.csv"
    path.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address,class_code\n"
        f"{number},{name},{birth_date},{year},{legacy},{class_code}\n",
        encoding="utf-8",
    )
    report = roster.load_csv(Store.for_state(settings.state_dir), path)
    assert report.added == 1, report.as_dict()
    return number


def outbound(settings: Settings) -> Path:
    return settings.state_dir / "outbound"


def mail_to(settings: Settings, address: str, subject: str, timeout: float = 20) -> EmailMessage:
    """The newest message the stack sent to ``address`` with ``subject`` (waits for it)."""
    found: list[EmailMessage] = []

    def look() -> bool:
        for path in sorted(outbound(settings).glob("*.eml"), key=lambda p: p.stat().st_mtime):
            msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if address.lower() in str(msg["X-Alumail-Envelope-To"]).lower() and subject in str(
                msg["Subject"]
            ):
                found.append(msg)
        return bool(found)

    assert wait_for(look, timeout), f"no mail '{subject}' to {address} in the outbound sink"
    return found[-1]


def mails_to(settings: Settings, address: str) -> int:
    count = 0
    for path in outbound(settings).glob("*.eml"):
        head = path.read_bytes().split(b"\r\n\r\n", 1)[0]
        if address.lower().encode() in head.lower():
            count += 1
    return count


def link(message: EmailMessage, path: str) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(
        r"https?://\S+" + re.escape(path) + r"\?token=[A-Za-z0-9_-]+", body.get_content()
    )
    assert found, f"no {path} link in the message"
    return found.group(0)


def token_of(url: str) -> str:
    return url.split("token=", 1)[1]


@contextlib.contextmanager
def in_process(
    settings: Settings, *, limits: Limits | None = None, **changes: Any
) -> Iterator[httpx.Client]:
    """The same application with other settings or limits, served by uvicorn from a thread of
    this process on a free loopback port (the stack's own service keeps running)."""
    changed = dataclasses.replace(settings, **changes)
    port = free_ports(1)[0]
    config = uvicorn.Config(
        create_app(changed, limits=limits),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: server.started, 10)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        thread.join(10)
