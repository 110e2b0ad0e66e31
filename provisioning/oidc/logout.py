"""The end of a person's session at the provider (OpenID Connect Back-Channel Logout 1.0).

``SessionEnd.ended`` is the one place it happens, whatever ended it: a portal logout, an
RP-initiated logout (``/oidc/logout``), or what ends every session of a person (a password
change or reset, a suspension, a deletion: ``Composition.end_sessions``). It revokes every
token of the person, tells each client that held a token still good for them, or their consent,
and registered a ``backchannel_logout_uri``, and has Dovecot forget the token logins it cached.

Each client is told by a POST of form field ``logout_token``: a JWT signed with the provider's
current key for the client's ID-token algorithm (``iss``, ``aud`` = the client, ``iat``, a
short ``exp``, ``jti``, ``sub``, ``events``; never a ``nonce``; no ``sid``, since the provider's
ID tokens carry none). Delivery runs on threads of its own, one per client, so nobody's request
waits for a client: one attempt, ``DELIVERY_TIMEOUT`` seconds at most, no redirect followed;
a failure is logged with the client and the reason, never the token.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlencode

from joserfc import jwt

from provisioning.oidc.keys import SigningKeys
from provisioning.oidc.storage import OidcStore
from provisioning.store import Store

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_TTL = 120  # seconds: the client acts on it at once or not at all
DELIVERY_TIMEOUT = 3.0  # seconds for one client to answer (connect, send, read)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notice:
    """One client to tell that one person's session ended."""

    client_id: str
    uri: str
    sub: str
    alg: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a 3xx is the client's answer, not somewhere to post the token again


class BackChannel:
    """Signs logout tokens and posts them in the background."""

    def __init__(
        self, keys: SigningKeys, issuer: str, *, timeout: float = DELIVERY_TIMEOUT
    ) -> None:
        self.keys = keys
        self.issuer = issuer.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def logout_token(self, notice: Notice) -> str:
        key = self.keys.signing(notice.alg)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": notice.client_id,
            "iat": now,
            "exp": now + LOGOUT_TOKEN_TTL,
            "jti": secrets.token_urlsafe(18),
            "sub": notice.sub,
            "events": {EVENT: {}},
        }
        header = {"alg": notice.alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, key.key, algorithms=[notice.alg])

    def send(self, notices: Iterable[Notice]) -> None:
        """Each notice on a thread of its own (a client that hangs holds up no other)."""
        for notice in notices:
            thread = threading.Thread(
                target=self._deliver, args=(notice,), name="backchannel-logout", daemon=True
            )
            with self._lock:
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def wait(self) -> None:
        """Until every delivery under way has ended (each is bounded by the timeout): a
        command that ends sessions waits before it exits, or its notices would die with it."""
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(self.timeout + 1)

    def _deliver(self, notice: Notice) -> None:
        try:
            body = urlencode({"logout_token": self.logout_token(notice)}).encode()
            request = urllib.request.Request(  # noqa: S310 -- https, or http on loopback (rules)
                notice.uri,
                data=body,
                method="POST",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            )
            with self._opener.open(request, timeout=self.timeout) as answer:
                status = answer.status
        except urllib.error.HTTPError as error:
            status = error.code
        except Exception as error:  # a client's failure must never reach the caller
            log.warning(
                "back-channel logout to client %s failed: %s", notice.client_id, _reason(error)
            )
            return
        if status not in (200, 204):  # 200 by the specification; some frameworks send 204
            log.warning("back-channel logout to client %s: HTTP %s", notice.client_id, status)


def _reason(error: Exception) -> str:
    """What went wrong, without the request (it holds the token)."""
    if isinstance(error, urllib.error.URLError):
        return f"{type(error.reason).__name__}: {error.reason}"
    return type(error).__name__ if not str(error) else f"{type(error).__name__}: {error}"


class SessionEnd:
    """A person's session at the provider ends (see the module's note)."""

    def __init__(
        self,
        store: Store,
        channel: BackChannel,
        *,
        entry_of: Callable[[str], str | None],
        forget_token_logins: Callable[[], None],
    ) -> None:
        self.oidc = OidcStore(store)
        self.channel = channel
        self.entry_of = entry_of  # a uid's entryUUID now (None when there is no such entry)
        self.forget_token_logins = forget_token_logins

    def ended(self, *, uid: str | None = None, entry_uuids: Iterable[str] = ()) -> list[Notice]:
        """The session of the person ``uid`` (by name: every entry that holds tokens under it,
        and the entry that has it now) and of the entries ``entry_uuids`` ends: their tokens
        are revoked, Dovecot forgets the token logins it cached, and the clients concerned are
        told in the background. The notices sent."""
        subjects = dict.fromkeys(entry_uuids)
        if uid is not None:
            subjects.update(dict.fromkeys(self.oidc.subjects_of(uid)))
            now = self.entry_of(uid)
            if now is not None:
                subjects[now] = None
        notices: list[Notice] = []
        for sub in subjects:
            for client in self.oidc.logged_in_clients(sub):
                if client.backchannel_logout_uri:
                    uri, alg = client.backchannel_logout_uri, client.id_token_alg
                    notices.append(Notice(client.client_id, uri, sub, alg))
            self.oidc.revoke_person(sub)
        self.forget_token_logins()
        self.channel.send(notices)
        return notices
