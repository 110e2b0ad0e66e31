"""The verification harness: proves that an account logs in over IMAP, POP3 and SMTP with its
jAccount password, that mail sent through submission arrives, that the quota root is the
account's quota, and that a wrong password is refused everywhere.

It speaks to the listeners as any mail client would (aioimaplib, poplib, aiosmtplib over TLS).
The one thing it does as the server's operator: after the wrong-password checks it flushes
Dovecot's cache for the account and logs in once more, so slapd sees a successful bind and
clears the failures it counted: running the harness never locks an account.
"""

from __future__ import annotations

import asyncio
import contextlib
import poplib
import secrets
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid

import aioimaplib
import aiosmtplib

from mailstack.settings import Settings

TIMEOUT = 10
DELIVERY_TIMEOUT = 15


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return {
            "check": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
        }


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class Target:
    settings: Settings
    user: str  # the login name (UID or address)
    address: str  # the account's primary address
    password: str
    quota_bytes: int | None
    tls: ssl.SSLContext

    @property
    def host(self) -> str:
        return self.settings.connect_host


def tls_context(cafile: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cafile)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


# -- IMAP ----------------------------------------------------------------------------------------


async def _imap(target: Target, password: str) -> aioimaplib.IMAP4_SSL:
    client = aioimaplib.IMAP4_SSL(
        host=target.host,
        port=target.settings.ports.imaps,
        ssl_context=target.tls,
        timeout=TIMEOUT,
    )
    try:
        await client.wait_hello_from_server()
        response = await client.login(target.user, password)
    except BaseException:
        await _imap_close(client)
        raise
    if response.result != "OK":
        await _imap_close(client)
        raise CheckFailed(f"LOGIN answered {response.result}: {_text(response.lines)}")
    return client


async def _imap_close(client: aioimaplib.IMAP4_SSL) -> None:
    """LOGOUT if the server still listens, and the connection closed whatever happened: a
    transport left open is a ResourceWarning when it is collected, in whatever runs then."""
    with contextlib.suppress(aioimaplib.Abort, asyncio.TimeoutError, OSError):
        await client.logout()
    await _drop(getattr(getattr(client, "protocol", None), "transport", None))


async def _drop(transport: asyncio.BaseTransport | None) -> None:
    """Close ``transport`` now: abort (a TLS close would wait for the server's close_notify,
    past the end of the check's event loop, and leave the socket open), then let the loop run
    once so the socket is really closed before the loop ends."""
    if transport is not None:
        transport.abort()  # type: ignore[attr-defined]
        await asyncio.sleep(0)


async def imap_login(target: Target) -> str:
    client = await _imap(target, target.password)
    await _imap_close(client)
    return f"IMAPS {target.host}:{target.settings.ports.imaps} LOGIN OK"


async def imap_quota(target: Target) -> str:
    client = await _imap(target, target.password)
    try:
        response = await client.getquotaroot("INBOX")
    finally:
        await _imap_close(client)
    text = _text(response.lines)
    limit_kib = _storage_limit(text)
    if limit_kib is None:
        raise CheckFailed(f"no STORAGE limit in GETQUOTAROOT: {text}")
    if target.quota_bytes is not None and limit_kib * 1024 != target.quota_bytes:
        raise CheckFailed(
            f"quota root says {limit_kib} KiB, the account's quota is {target.quota_bytes} bytes"
        )
    return f"STORAGE limit {limit_kib} KiB ({limit_kib * 1024} bytes)"


def _storage_limit(text: str) -> int | None:
    words = text.replace("(", " ").replace(")", " ").split()
    for i, word in enumerate(words):
        if word.upper() == "STORAGE" and i + 2 < len(words) and words[i + 2].isdigit():
            return int(words[i + 2])
    return None


async def imap_find(target: Target, token: str) -> bool:
    client = await _imap(target, target.password)
    try:
        await client.select("INBOX")
        response = await client.search(f'HEADER X-Alumail-Verify "{token}"')
        if response.result != "OK" or not response.lines:
            raise CheckFailed(f"SEARCH answered {response.result}: {_text(response.lines)}")
        ids = [w for w in bytes(response.lines[0]).split() if w.upper() != b"SEARCH"]
        return bool(ids) and all(w.isdigit() for w in ids)
    finally:
        await _imap_close(client)


# -- POP3 ----------------------------------------------------------------------------------------


def _pop3(target: Target, password: str) -> poplib.POP3_SSL:
    client = poplib.POP3_SSL(
        target.host, target.settings.ports.pop3s, context=target.tls, timeout=TIMEOUT
    )
    try:
        client.user(target.user)
        client.pass_(password)
    except poplib.error_proto as exc:
        client.close()
        raise CheckFailed(f"PASS refused: {exc}") from exc
    return client


def pop3_login(target: Target) -> str:
    client = _pop3(target, target.password)
    count, _size = client.stat()
    client.quit()
    return f"POP3S {target.host}:{target.settings.ports.pop3s} login OK, {count} messages"


def pop3_find(target: Target, token: str) -> bool:
    client = _pop3(target, target.password)
    try:
        count, _ = client.stat()
        for number in range(count, 0, -1):
            _, lines, _ = client.top(number, 0)
            if any(token.encode() in line for line in lines):
                return True
        return False
    finally:
        client.quit()


# -- SMTP ----------------------------------------------------------------------------------------


async def _smtp(target: Target, password: str) -> aiosmtplib.SMTP:
    client = aiosmtplib.SMTP(
        hostname=target.host,
        port=target.settings.ports.submission,
        start_tls=False,
        tls_context=target.tls,
        timeout=TIMEOUT,
    )
    await client.connect()
    try:
        await client.starttls()
        await client.ehlo()
        await client.auth_plain(target.user, password)
    except aiosmtplib.SMTPAuthenticationError as exc:
        await _smtp_close(client)
        raise CheckFailed(f"AUTH refused: {exc.code} {exc.message}") from exc
    except BaseException:
        transport = client.transport
        client.close()  # no connection left open for the collector to warn about
        await _drop(transport)
        raise
    return client


async def _smtp_close(client: aiosmtplib.SMTP) -> None:
    transport = client.transport
    try:
        await client.quit()
    except (aiosmtplib.SMTPException, OSError):
        client.close()
    await _drop(transport)


async def smtp_login(target: Target) -> str:
    client = await _smtp(target, target.password)
    await _smtp_close(client)
    return f"submission {target.host}:{target.settings.ports.submission} STARTTLS + AUTH OK"


async def smtp_send(target: Target, token: str) -> str:
    message = EmailMessage()
    message["From"] = target.address
    message["To"] = target.address
    message["Subject"] = "alumail verification"
    message["Message-ID"] = make_msgid(domain=target.settings.domain)
    message["X-Alumail-Verify"] = token
    message.set_content("This message proves that submission and delivery work.\n")
    client = await _smtp(target, target.password)
    try:
        errors, response = await client.send_message(message)
    finally:
        await _smtp_close(client)
    if errors:
        raise CheckFailed(f"recipients refused: {errors}")
    return f"accepted: {response}"


# -- wrong passwords -----------------------------------------------------------------------------


async def _refused(attempt: Callable[[], Awaitable[object]]) -> str:
    try:
        await attempt()
    except CheckFailed as exc:
        return f"refused ({exc})"
    raise CheckFailed("a wrong password was accepted")


async def run_checks(
    target: Target, *, reset_failures: Callable[[], None] | None = None
) -> list[Check]:
    """Every check, in order; a failure is recorded and the next check still runs."""
    results: list[Check] = []
    token = secrets.token_hex(12)
    wrong = "wrong-" + secrets.token_urlsafe(12)

    async def record(name: str, step: Callable[[], Awaitable[str]]) -> bool:
        start = time.perf_counter()
        try:
            detail = await step()
            ok = True
        except CheckFailed as exc:
            detail, ok = str(exc), False
        except (aioimaplib.Abort, aiosmtplib.SMTPException, poplib.error_proto, OSError) as exc:
            detail, ok = f"{type(exc).__name__}: {exc}", False
        results.append(Check(name, ok, detail, time.perf_counter() - start))
        return ok

    def thread(fn: Callable[..., str], *args: object) -> Callable[[], Awaitable[str]]:
        return lambda: asyncio.to_thread(fn, *args)

    await record("imap login", lambda: imap_login(target))
    await record("pop3 login", thread(pop3_login, target))
    await record("smtp login", lambda: smtp_login(target))
    await record("quota root", lambda: imap_quota(target))
    sent = await record("smtp send", lambda: smtp_send(target, token))

    async def arrives(find: Callable[[Target, str], Awaitable[bool]], proto: str) -> str:
        if not sent:
            raise CheckFailed("nothing was sent")
        deadline = time.monotonic() + DELIVERY_TIMEOUT
        while time.monotonic() < deadline:
            if await find(target, token):
                return f"message {token} found over {proto}"
            await asyncio.sleep(0.1)
        raise CheckFailed(f"message {token} not found over {proto} in {DELIVERY_TIMEOUT} s")

    async def pop3_find_async(t: Target, tok: str) -> bool:
        return await asyncio.to_thread(pop3_find, t, tok)

    await record("delivery (imap)", lambda: arrives(imap_find, "IMAP"))
    await record("delivery (pop3)", lambda: arrives(pop3_find_async, "POP3"))

    await record("wrong password (imap)", lambda: _refused(lambda: _imap(target, wrong)))
    await record(
        "wrong password (pop3)", lambda: _refused(lambda: asyncio.to_thread(_pop3, target, wrong))
    )
    await record("wrong password (smtp)", lambda: _refused(lambda: _smtp(target, wrong)))
    if reset_failures is not None:
        # A real bind after the failures clears slapd's failure count for the account.
        reset_failures()
        await record("login after refusals", lambda: imap_login(target))
    return results


def _text(lines: list[bytes] | list[bytearray]) -> str:
    return " ".join(bytes(line).decode(errors="replace") for line in lines)
