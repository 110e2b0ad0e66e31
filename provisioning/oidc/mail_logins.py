"""The access tokens Dovecot accepted, forgotten by Dovecot the moment they expire.

Dovecot's oauth2 passdb asks the provider about a token once, then keeps the answer in its auth
cache for ``auth.cache_ttl`` (5 minutes by default), longer than is left of most tokens it sees.
Dovecot 2.3 has no per-entry lifetime and no way to leave one passdb out of its cache, but its
key for a token is the login name and the token joined (src/auth/passdb-oauth2.c ``%u%w``), which
its auth-master socket flushes alone. So each time the provider answers Dovecot's introspection
that a token carrying ``mail`` is active, the token is noted here, in this process's memory only
(never written, never logged), and one thread flushes its entry when it expires: the next login
with it asks the provider again and is refused. A token first seen in its last ``GRACE``
seconds is flushed ``GRACE`` seconds after it was seen, so that Dovecot has stored the answer by
then: an expired token is refused at most ``GRACE`` seconds after its expiry.

An access token revoked by itself (RFC 7009, the token in hand) is flushed alone at once
(``cut``). Other cuts before expiry (a refresh token revoked with its grant, a logout, an app
withdrawn, a replayed refresh token or code, a suspension or a password change) flush the whole
cache where they happen (``cut_all``): they name no token value, they are rare, and the command
line, another process, has no list of tokens. The web service also
flushes it when it starts, since a restart forgets the list."""

from __future__ import annotations

import heapq
import logging
import threading
import time

from identity.errors import AlumailError
from provisioning.collaborators import MailboxAdmin

log = logging.getLogger(__name__)
GRACE = 1.0


class TokenLogins:
    def __init__(self, mailboxes: MailboxAdmin) -> None:
        self.mailboxes = mailboxes
        self._due: list[tuple[float, str, str]] = []  # (when, login, token), soonest first
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def accepted(self, login: str, token: str, expires: float) -> None:
        """Dovecot was told ``token`` is ``login``'s and active until ``expires``."""
        when = max(expires, time.time() + GRACE)
        with self._wake:
            if self._closed:
                return
            heapq.heappush(self._due, (when, login, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="token-expiry", daemon=True)
                self._thread.start()
            self._wake.notify()

    def pending(self) -> int:
        """How many tokens wait for their expiry here."""
        with self._wake:
            return len(self._due)

    def cut(self, login: str, token: str) -> None:
        """One access token was revoked: its entry goes now (its expiry finds nothing)."""
        self.mailboxes.flush_token_login(login, token)

    def cut_all(self) -> None:
        """Every cached token login goes (with every other cached login: Dovecot cannot single
        out the tokens of a person or a grant)."""
        self.mailboxes.flush_token_logins()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and (not self._due or self._due[0][0] > time.time()):
                    self._wake.wait(self._due[0][0] - time.time() if self._due else None)
                if self._closed:
                    return
                due = []
                while self._due and self._due[0][0] <= time.time():
                    due.append(heapq.heappop(self._due))
            for _, login, token in due:
                try:
                    self.mailboxes.flush_token_login(login, token)
                except (AlumailError, ValueError) as exc:  # Dovecot stopped: its cache too
                    log.warning("an expired token's login was not flushed from Dovecot: %s", exc)
