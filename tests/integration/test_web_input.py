"""Bad input at the web faces gets a 4xx naming the field, before any directory call: a UID,
alias or search term that breaks its rule never becomes part of a DN or a filter, and no answer
carries a DN or the directory's diagnostic (issue 10, Low; the outbox half of item 4)."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from pathlib import Path

import pytest

from identity.roles import Role
from mailstack.settings import Settings
from provisioning.people.staff import StaffService
from tests.support import NewAccount, alumail, use_case
from tests.web import PASSWORD, client, form_token, graduate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin_token(live_stack: Settings) -> str:
    uid = f"input.admin.{secrets.token_hex(2)}"
    with use_case(StaffService, live_stack) as service:
        service.add(uid, "Input Admin", Role.ADMIN, "Staff-Password-55")
    return alumail(live_stack, "token", "issue", uid, "--label", "input", check=True).stdout.strip()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("POST", "/api/v1/accounts/%2C/reset-password", "uid"),
        ("POST", "/api/v1/accounts/%2C/suspend", "uid"),
        ("POST", "/api/v1/accounts/a%2Cou%3Dstaff/unlock", "uid"),
        ("GET", "/api/v1/accounts/%2C/status", "uid"),
        ("GET", "/api/v1/accounts/%2C", "uid"),
        ("DELETE", "/api/v1/accounts/%2C", "uid"),
        ("DELETE", "/api/v1/accounts/alum0001/aliases/a%2Cb%40example.org", "alias"),
        ("GET", "/api/v1/accounts?search=%20%20%20", "search"),
        ("GET", "/api/v1/accounts?search=zz%00", "search"),
    ],
)
def test_invalid_path_and_query_values_get_422_naming_the_field(
    live_stack: Settings, admin_token: str, method: str, path: str, field: str
) -> None:
    with client(live_stack) as http:
        answer = http.request(method, path, headers={"Authorization": f"Bearer {admin_token}"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert live_stack.base_dn not in answer.text and "ou=" not in answer.text


def test_blank_search_is_invalid_input_on_the_command_line(live_stack: Settings) -> None:
    proc = alumail(live_stack, "account", "list", "--search", "   ")
    assert proc.returncode == 4, proc.stderr
    assert "search" in proc.stderr and "Traceback" not in proc.stderr


def test_a_recovery_address_that_cannot_be_mailed_is_refused_on_the_page(
    live_stack: Settings, new_account: NewAccount
) -> None:
    account, password = new_account()
    with client(live_stack) as http:
        http.post(
            "/login",
            data={
                "csrf_token": form_token(http, "/login"),
                "login": account.uid,
                "password": password,
            },
        )
        answer = http.post(
            "/account",
            data={
                "csrf_token": form_token(http, "/account"),
                "display_name": account.display_name,
                "recovery_email": "a\n@example.org",
            },
        )
    assert answer.status_code == 422, answer.text
    assert "recovery_email" in answer.text or "line breaks" in answer.text


def test_a_registration_whose_address_cannot_be_mailed_is_refused_on_the_page(
    live_stack: Settings, tmp_path: Path
) -> None:
    number = graduate(live_stack, tmp_path)
    uid = f"reg{secrets.token_hex(3)}"
    with client(live_stack) as http:
        answer = http.post(
            "/register",
            data={
                "csrf_token": form_token(http, "/register"),
                "student_number": number,
                "name": "Zhang Min",
                "birth_date": "1993-05-17",
                "graduation_year": "",
                "uid": uid,
                "password": PASSWORD,
                "password_again": PASSWORD,
                "recovery_email": "a\n@example.org",
            },
        )
    assert answer.status_code == 422, answer.text


def _whole(answer: bytes) -> bool:
    """The answer's head and as much body as its Content-Length says."""
    head, found, body = answer.partition(b"\r\n\r\n")
    length = re.search(rb"(?im)^content-length: *(\d+)", head)
    return bool(found) and len(body) >= (int(length.group(1)) if length else 0)


def _post_raw(
    live_stack: Settings, path: str, head: str, body_chunks: Iterable[bytes]
) -> tuple[int, bytes]:
    """Send a request byte by byte as a client would, stop when the server answers."""
    import socket

    with socket.create_connection((live_stack.connect_host, live_stack.ports.web), timeout=20) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest arrived
        answer = b""
        while not _whole(answer):
            more = s.recv(65536)
            if not more:
                break
            answer += more
    status = int(answer.split(b" ", 2)[1])
    return status, answer


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/login", "/register"])
def test_an_oversized_body_gets_413_before_it_is_read(live_stack: Settings, path: str) -> None:
    """No client, signed in or not, makes the service buffer a body larger than any form or
    API call needs: a declared length over the limit is refused at once, a chunked body as
    soon as it passes the limit (before: read whole, 150 MB took 500 MB of memory)."""
    size = 8 << 20
    status, answer = _post_raw(
        live_stack,
        path,
        f"Content-Type: application/json\r\nContent-Length: {size}\r\n",
        (b"a" * 65536 for _ in range(size // 65536)),
    )
    assert status == 413, answer


def test_an_oversized_chunked_body_gets_413_once_it_passes_the_limit(live_stack: Settings) -> None:
    """The API reads a JSON body before it checks the token: a chunked body without a
    declared length is counted as it arrives (the forms refuse earlier, on their token)."""
    path, size = "/api/v1/accounts", 8 << 20
    chunk = b"a" * 65536
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    status, answer = _post_raw(
        live_stack,
        path,
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
        (framed for _ in range(size // 65536)),
    )
    assert status == 413, answer


@pytest.mark.parametrize(
    ("path", "language", "kind", "words"),
    [
        ("/login", "zh-CN,zh;q=0.9", b"text/html", "太大"),
        ("/admin/roster", "en", b"text/html", "at most 16 MB"),
        ("/api/v1/accounts", "zh-CN", b"application/json", "at most 1048576 bytes"),
    ],
)
def test_a_person_is_told_in_a_page_and_a_program_in_json(
    live_stack: Settings, path: str, language: str, kind: bytes, words: str
) -> None:
    """The refusal of a body too large for its address is the site's page in the browser's
    language for people, the API's JSON for programs; either way the body is never read."""
    size = 32 << 20
    status, answer = _post_raw(
        live_stack,
        path,
        f"Accept-Language: {language}\r\nContent-Type: multipart/form-data; boundary=x\r\n"
        f"Content-Length: {size}\r\n",
        (b"a" * 65536 for _ in range(4)),
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    assert status == 413, answer
    assert b"content-type: " + kind in head.lower(), head
    assert words in body.decode(), body
