"""The alumnus's own mailbox in the portal: moving mail from the legacy mailbox (state, last
report, start it with the legacy password) and downloading a copy of the mailbox."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from identity.dit import Tree
from identity.legacy import LegacyHolder
from identity.roles import PORTAL
from provisioning.i18n import N_
from provisioning.legacy import holders
from provisioning.legacy.migration import Migrator
from provisioning.people.backups import MailboxBackups
from provisioning.web import sessions
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
Field = Annotated[str, Form()]


def _legacy(svc: Services, uid: str) -> LegacyHolder | None:
    with svc.root.for_request() as root:
        return holders.holder(root.connections.system, Tree(svc.settings.base_dn), uid)


@router.get("/account/migration")
def migration_page(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    return svc.page(
        request,
        "migration.html",
        legacy=_legacy(svc, session.uid),
        report=holders.last_report(svc.store, session.uid),
        running=svc.moves.running(session.uid),
        configured=bool(svc.settings.legacy.imap_host),
        cutoff=svc.settings.legacy.cutoff,
    )


@router.post("/account/migration")
def migration_start(
    request: Request, svc: Svc, csrf: CsrfToken = "", login: Field = "", password: Field = ""
) -> Response:
    svc.csrf.check(request, csrf)
    session = signed_in(request, svc)
    svc.limiter.hit("login-account", f"legacy:{session.uid}", svc.limits.login_account)
    svc.moves.start(
        svc.store,
        lambda: svc.service(Migrator, PORTAL),
        _legacy(svc, session.uid),
        session.uid,
        login,
        password,
    )
    return svc.page(
        request,
        "message.html",
        title=N_("Moving your mail"),
        note=N_(
            "Your old mail is being copied. Reload the migration page to follow it; mail keeps "
            "arriving in your new mailbox meanwhile."
        ),
        next_link="/account/migration",
    )


@router.get("/account/mailbox.tar.gz")
def download(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    actor = sessions.session_actor(svc.root.signin, session)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- removed after the response
        prefix="download-", suffix=".tar.gz", dir=svc.root.layout.web, delete=False
    )
    handle.close()
    target = Path(handle.name)
    try:
        with svc.service(MailboxBackups, actor) as backups:
            backups.backup(session.uid, target)
    except BaseException:  # refused or failed: no file is left behind
        target.unlink(missing_ok=True)
        raise
    return FileResponse(
        target,
        media_type="application/gzip",
        filename=f"{session.uid}-mailbox.tar.gz",
        background=BackgroundTask(target.unlink, missing_ok=True),
    )
