"""What every request handler of the web service works with, in one module the routers and the
application both import (so no router imports the application): the process's services (the
composition root the application builds once), the use cases' errors a request can end with
before any use case runs, and the signed-in person."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from identity.errors import AlumailError
from identity.passwords import DEFAULT_POLICY
from identity.roles import Actor
from mailstack.publish.clients import client_settings
from mailstack.settings import Settings
from provisioning.collaborators import MailSender
from provisioning.composition import Composition
from provisioning.legacy.holders import PortalMoves
from provisioning.mailer import Outbox
from provisioning.people.accounts import AccountService
from provisioning.people.recovery import Recovery
from provisioning.people.registration import Registration
from provisioning.store import Session, Store
from provisioning.web import language, sessions
from provisioning.web.security import Csrf, Limits, RateLimiter

U = TypeVar("U")


class NotSignedIn(AlumailError):
    """A page or API call that needs a signed-in person (or a token) got none."""


class MustChange(NotSignedIn):
    """A session opened with a temporary password may only change it."""


@dataclass
class Services:
    settings: Settings
    root: Composition
    store: Store
    mailer: MailSender  # through the outbox
    outbox: Outbox
    registration: Registration
    recovery: Recovery
    moves: PortalMoves  # the process's moves of mail under way (one per holder at a time)
    limiter: RateLimiter
    limits: Limits
    csrf: Csrf
    templates: Jinja2Templates

    @contextmanager
    def service(self, kind: type[U], actor: Actor) -> Iterator[U]:
        """The use case of class ``kind`` for ``actor``, on this request's own directory
        connections (closed when the block ends)."""
        with self.root.for_request() as root:
            yield root.build(kind, actor)

    def accounts(self, actor: Actor) -> AbstractContextManager[AccountService]:
        return self.service(AccountService, actor)

    def page(self, request: Request, name: str, status: int = 200, /, **values: Any) -> Response:
        session = sessions.current(request, self.store, self.root.signin)
        if session is not None and "actor" not in values:
            # The header offers what the person's role has: the admin console, or a mailbox
            # (staff have none). The role is read now, as every use of a session reads it.
            with contextlib.suppress(AlumailError):
                values["actor"] = sessions.session_actor(self.root.signin, session)
        context = {
            "csrf_token": self.csrf.token(request),
            "session": session,
            "domain": self.settings.domain,
            "policy": DEFAULT_POLICY.describe(),
            "min_length": DEFAULT_POLICY.min_length,
            "clients": client_settings(self.settings),
            # The webmail, signed in through the provider with no second prompt.
            "mailbox_url": f"{self.settings.webmail_url}/index.php/login/oauth",
            "errors": {},
            "form": {},
            **language.page_values(request),
            **values,
        }
        return self.templates.TemplateResponse(request, name, context, status_code=status)


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def signed_in(request: Request, svc: Services, *, changing_password: bool = False) -> Session:
    session = sessions.current(request, svc.store, svc.root.signin)
    if session is None:
        raise NotSignedIn("sign in first")
    if session.must_change and not changing_password:
        raise MustChange("change the temporary password first")
    return session
