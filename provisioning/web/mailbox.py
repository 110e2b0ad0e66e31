"""The alumnus's own mailbox in the portal: moving mail from the legacy mailbox (state, last
report, start it with the legacy password) and downloading a copy of the mailbox."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from identity.directory import Directory
from identity.dit import Tree
from identity.errors import ValidationError
from identity.roles import PORTAL
from mailstack.layout import Layout
from provisioning.backups import MailboxBackups
from provisioning.migration import Job, Migrator
from provisioning.store import Store
from provisioning.web import signin
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
Field = Annotated[str, Form()]
_running: set[str] = set()
_lock = threading.Lock()


def last_report(store: Store, uid: str) -> dict[str, object] | None:
    with store.connect() as db:
        row = db.execute("SELECT report FROM migrations WHERE uid = ?", (uid,)).fetchone()
    return json.loads(row[0]) if row and row[0] else None


def _legacy(svc: Services, uid: str) -> dict[str, str]:
    tree = Tree(svc.settings.base_dn)
    with Directory(Layout(svc.settings.state_dir).ldapi_uri) as system:
        entry = system.get(tree.person(uid), ["alumailLegacyAddress", "alumailLegacyState"]) or {}
    return {
        "address": (entry.get("alumailLegacyAddress") or [""])[0],
        "state": (entry.get("alumailLegacyState") or ["not-migrated"])[0],
    }


@router.get("/account/migration")
def migration_page(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    legacy = _legacy(svc, session.uid)
    return svc.page(
        request,
        "migration.html",
        legacy=legacy,
        report=last_report(svc.store, session.uid),
        running=session.uid in _running,
        configured=bool(svc.settings.legacy_imap_host),
        cutoff=svc.settings.legacy_cutoff,
    )


@router.post("/account/migration")
def migration_start(
    request: Request, svc: Svc, csrf: CsrfToken = "", login: Field = "", password: Field = ""
) -> Response:
    svc.csrf.check(request, csrf)
    session = signed_in(request, svc)
    svc.limiter.hit("login-account", f"legacy:{session.uid}", svc.limits.login_account)
    legacy = _legacy(svc, session.uid)
    if not legacy["address"]:
        raise ValidationError("login", "this jAccount holds no legacy mailbox")
    if not login.strip() or not password:
        raise ValidationError("password", "give the login and password of the legacy mailbox")
    with _lock:
        if session.uid in _running:
            raise ValidationError("login", "a migration of this mailbox is running already")
        _running.add(session.uid)
    migrator = Migrator(svc.settings, PORTAL)
    job = Job(session.uid, login.strip(), password)
    threading.Thread(target=_run, args=(svc.store, migrator, job), daemon=True).start()
    return svc.page(
        request,
        "message.html",
        title="Moving your mail",
        note="Your old mail is being copied. Reload the migration page to follow it; mail keeps "
        "arriving in your new mailbox meanwhile.",
        next_link="/account/migration",
    )


def _run(store: Store, migrator: Migrator, job: Job) -> None:
    started = time.time()
    try:
        report = migrator.one(job)
        with store.connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO migrations VALUES (?, ?, ?, ?)",
                (job.uid, started, time.time(), json.dumps(report.as_dict())),
            )
    finally:
        with _lock:
            _running.discard(job.uid)


@router.get("/account/mailbox.tar.gz")
def download(request: Request, svc: Svc) -> Response:
    session = signed_in(request, svc)
    actor = signin.session_actor(svc.settings, session)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 -- removed after the response
        prefix="download-", suffix=".tar.gz", dir=Layout(svc.settings.state_dir).web, delete=False
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
