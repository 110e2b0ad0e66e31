"""The composition root: the one place that builds, from Settings, what the use cases are
handed (directory connections, mailbox administration, the audit log, the service store, the
mailer, the layout), and the use cases themselves. Built once per process: by the CLI for its
command (provisioning.cli.base), by the web service at start-up (provisioning.web.app), which
opens fresh directory connections for each request (for_request).

Use cases never build a collaborator themselves; tests hand them in-memory ones
(tests/unit/fakes.py) through the keyword arguments here."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from identity.dit import Tree
from identity.roles import Actor
from mailstack.keys.dkim import DkimKeys
from mailstack.layout import Layout
from mailstack.mailbox.mailboxes import DoveadmMailboxes
from mailstack.settings import Settings
from provisioning.audit import AuditLog
from provisioning.bulk.importer import Importer
from provisioning.circles.board import Board
from provisioning.circles.cohorts import Cohorts
from provisioning.circles.service import CircleService
from provisioning.collaborators import Connections, MailboxAdmin, MailSender
from provisioning.connections import DirectoryConnections
from provisioning.legacy.migration import Migrator
from provisioning.legacy.reminders import CutoffReminders
from provisioning.mailer import Mailer
from provisioning.oidc.clients import Clients
from provisioning.oidc.keys import SigningKeys as OidcSigningKeys
from provisioning.oidc.logout import BackChannel, SessionEnd
from provisioning.operations.signing_keys import SigningKeys
from provisioning.people.accounts import AccountService
from provisioning.people.api_tokens import ApiTokens
from provisioning.people.backups import MailboxBackups
from provisioning.people.helpdesk import Helpdesk
from provisioning.people.passwords import Passwords
from provisioning.people.roster import RosterImport
from provisioning.people.signin import SignIn
from provisioning.people.staff import StaffService
from provisioning.store import Store

U = TypeVar("U")


class Composition:
    def __init__(
        self,
        settings: Settings,
        *,
        connections: Connections | None = None,
        mailboxes: MailboxAdmin | None = None,
        audit: AuditLog | None = None,
        mailer: MailSender | None = None,
        store: Store | None = None,
        session_end: SessionEnd | None = None,
    ) -> None:
        self.settings = settings
        self.layout = Layout(settings.state_dir)
        # Connections opened here are closed here (close()); handed ones by whoever made them.
        self._opened: DirectoryConnections | None = None
        if connections is None:
            connections = self._opened = DirectoryConnections(self.layout.ldapi_uri)
        self.connections: Connections = connections
        self.mailboxes: MailboxAdmin = (
            mailboxes if mailboxes is not None else DoveadmMailboxes(self.layout)
        )
        self.audit = audit if audit is not None else AuditLog(self.layout.audit_log)
        self._mailer = mailer
        self._store = store
        self._session_end = session_end
        self._channel: BackChannel | None = None

    # -- collaborators built on first use (a CLI command needs few of them) -------------------

    @functools.cached_property
    def store(self) -> Store:
        return self._store or Store.for_state(self.settings.state_dir)

    @functools.cached_property
    def mailer(self) -> MailSender:
        return self._mailer or Mailer(self.settings)

    @functools.cached_property
    def signin(self) -> SignIn:
        """Sign-in, for the CLI's ``--actor``, web sessions and API tokens. It runs before any
        use case and, in the web service, on every request's thread: each check opens short
        connections of its own (or uses handed-in ones, as a request's root or a test has)."""
        return SignIn(Tree(self.settings.base_dn), self.audit, self._short_connections)

    @contextmanager
    def _short_connections(self) -> Iterator[Connections]:
        if self._opened is None:  # handed in: used as they are, closed by whoever made them
            yield self.connections
            return
        connections = DirectoryConnections(self.layout.ldapi_uri)
        try:
            yield connections
        finally:
            connections.close()

    @functools.cached_property
    def passwords(self) -> Passwords:
        return Passwords(
            self.settings, self.connections, self.mailboxes, self.audit, self.end_sessions
        )

    def end_sessions(self, uid: str) -> None:
        """Every browser session of ``uid`` ends (a password changed or reset, a suspension, a
        deletion), and so does their session at the OpenID Connect provider (session_end:
        their tokens revoked, back-channel logouts sent, Dovecot's cached token logins
        forgotten). The store is opened only when one must (a CLI command that suspends nobody
        leaves the web service's file alone)."""
        self.store.close_sessions_of(uid)
        self.session_end.ended(uid=uid)

    @functools.cached_property
    def session_end(self) -> SessionEnd:
        """The one place a person's session at the provider ends (provisioning/oidc/logout.py):
        portal and RP-initiated logouts, and end_sessions."""
        if self._session_end is not None:
            return self._session_end
        channel = BackChannel(self.oidc_keys, self.settings.public_url)
        self._channel = channel  # waited for at close()
        return SessionEnd(
            self.store,
            channel,
            entry_of=self._entry_of,
            forget_token_logins=self.mailboxes.flush_token_logins,
        )

    def _entry_of(self, uid: str) -> str | None:
        state = self.signin.account_state(uid)
        return state.standing.entry_uuid if state is not None else None

    # -- use cases -----------------------------------------------------------------------------

    def accounts(self, actor: Actor) -> AccountService:
        return AccountService(
            self.settings,
            actor,
            connections=self.connections,
            mailboxes=self.mailboxes,
            audit=self.audit,
            passwords=self.passwords,
            end_sessions=self.end_sessions,
        )

    def circles(self, actor: Actor) -> CircleService:
        return CircleService(
            self.settings,
            actor,
            connections=self.connections,
            audit=self.audit,
            store=self.store,
            mailer=self.mailer,
        )

    def board(self, actor: Actor) -> Board:
        return Board(self.circles(actor))

    def cohorts(self, actor: Actor) -> Cohorts:
        return Cohorts(self.circles(actor))

    def helpdesk(self, actor: Actor) -> Helpdesk:
        return Helpdesk(self.accounts(actor), self.passwords, self.store)

    def staff(self, actor: Actor) -> StaffService:
        return StaffService(self.accounts(actor))

    def backups(self, actor: Actor) -> MailboxBackups:
        return MailboxBackups(self.accounts(actor))

    def api_tokens(self) -> ApiTokens:
        return ApiTokens(self.store, self.audit, self.signin.token_binding)

    def roster(self) -> RosterImport:
        return RosterImport(self.store, self.audit)

    def reminders(self) -> CutoffReminders:
        return CutoffReminders(
            self.settings, self.store, self.connections.system, self.mailer, self.audit
        )

    def signing_keys(self) -> SigningKeys:
        return SigningKeys(DkimKeys(self.layout), self.audit, self.settings.domain)

    def importer(self, actor: Actor) -> Importer:
        return Importer(self.settings, actor, connections=self.connections, audit=self.audit)

    def migrator(self, actor: Actor, **options: Any) -> Migrator:
        """Copies mail from the legacy server (``options``: the master login, TLS checking)."""
        return Migrator(
            self.settings,
            actor,
            connections=self.connections,
            mailboxes=self.mailboxes,
            audit=self.audit,
            **options,
        )

    def oidc_clients(self, actor: Actor) -> Clients:
        """The OpenID Connect provider's client registry, as ``actor`` may manage it."""
        return Clients(self.store, self.audit, actor)

    @functools.cached_property
    def oidc_keys(self) -> OidcSigningKeys:
        """The provider's signing keys (made on first use)."""
        return OidcSigningKeys(self.layout.oidc_keys)

    def build(self, kind: type[U], actor: Actor) -> U:
        """The use case of class ``kind`` for ``actor`` (for faces that name the class)."""
        factories: dict[type[Any], Callable[[Actor], object]] = {
            AccountService: self.accounts,
            Helpdesk: self.helpdesk,
            StaffService: self.staff,
            MailboxBackups: self.backups,
            Migrator: self.migrator,
            Importer: self.importer,
            Clients: self.oidc_clients,
            CircleService: self.circles,
            Board: self.board,
        }
        return cast(U, factories[kind](actor))

    # -- lifetime ------------------------------------------------------------------------------

    @contextmanager
    def for_request(self) -> Iterator[Composition]:
        """The same collaborators with directory connections of their own, closed at the end
        (a web request: one bind per actor per request, none kept between requests, so a
        restarted slapd is simply reached again; or work a request leaves running in the
        background, which closes them when it ends)."""
        connections = DirectoryConnections(self.layout.ldapi_uri)
        try:
            yield Composition(
                self.settings,
                connections=connections,
                mailboxes=self.mailboxes,
                audit=self.audit,
                mailer=self.mailer,
                store=self.store,
                session_end=self.session_end,
            )
        finally:
            connections.close()

    def close(self) -> None:
        """Waits for back-channel logouts under way (each bounded by its timeout): a command
        ends before its notices otherwise. The web service's requests never wait: they run on
        for_request's roots, which share the process's."""
        if self._channel is not None:
            self._channel.wait()
        if self._opened is not None:
            self._opened.close()
        if self._store is None and "store" in self.__dict__:  # built here: its connections
            self.store.close()

    def __enter__(self) -> Composition:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
