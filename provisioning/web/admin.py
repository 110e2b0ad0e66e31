"""The admin console: the stack's status, the accounts (search, an account's page, create,
display name and quota, aliases, suspend and resume, delete with the mailbox archived) and the
staff (list, add with a role, change the role, remove).

Admins only (Role.ADMIN; the host's root is an admin too but signs in on the command line):
helpdesk staff and alumni get 403 on every page. Staff sign in on the portal's sign-in page;
every action runs as the signed-in admin through the same use cases as ``alumail account`` and
the REST API, judged by slapd's ACLs too, and audited. Each destructive action (suspend,
delete, removing an alias or a staff member) asks first (provisioning/web/confirm.py).
"""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from identity.accounts import Account, AccountStatus, check_display_name, check_uid
from identity.errors import (
    AccessDeniedError,
    FieldErrors,
    NotFoundError,
    ValidationError,
)
from identity.passwords import generate_password
from identity.quota import format_size, parse_quota
from identity.roles import Actor, Role
from mailstack.mailqueue import queue_report
from mailstack.process import port_open
from provisioning.i18n import N_
from provisioning.people import api_tokens
from provisioning.people.helpdesk import Helpdesk
from provisioning.people.staff import StaffService
from provisioning.web import sessions
from provisioning.web.confirm import Confirmed, ask, confirmed
from provisioning.web.console import search_page
from provisioning.web.forms import attempt, field_errors
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD

router = APIRouter(prefix="/admin", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
Text = Annotated[str, Form()]
RESULTS = 50


def admin_actor(request: Request, svc: Services) -> Actor:
    session = signed_in(request, svc)
    actor = sessions.session_actor(svc.root.signin, session)
    if not actor.can_administer():
        raise AccessDeniedError(N_("the admin console is for admins"))
    return actor


def posting_admin(request: Request, svc: Services, csrf: str) -> Actor:
    """The admin who sent a console form, its CSRF token checked first."""
    svc.csrf.check(request, csrf)
    return admin_actor(request, svc)


# -- status ------------------------------------------------------------------------------------


def _service_urls(svc: Services) -> dict[str, str]:
    return {"web": svc.settings.public_url, "webmail": svc.settings.webmail_url}


@router.get("")
def status(request: Request, svc: Svc) -> Response:
    """Each service's port answering or not (what ``alumail status`` also probes; the pid files
    are root's, which this unprivileged service cannot read), the mail queue as ``alumail
    status`` reads it (Postfix's showq socket, which the service's postdrop group reaches:
    mailstack/mailqueue.py says why that way), and the disk use of the state directory's file
    system."""
    actor = admin_actor(request, svc)
    host, urls = svc.settings.connect_host, _service_urls(svc)
    rows = [
        {
            "name": name,
            "port": port,
            "running": port_open(host, port),
            "url": urls.get(name, f"{host}:{port}"),
        }
        for name, port in svc.settings.ports.items()
    ]
    disk = shutil.disk_usage(svc.settings.state_dir)
    return svc.page(
        request,
        "admin.html",
        actor=actor,
        services=rows,
        disk_used=round(disk.used / 2**30, 1),
        disk_total=round(disk.total / 2**30, 1),
        disk_percent=round(100 * disk.used / disk.total) if disk.total else 0,
        state_dir=str(svc.settings.state_dir),
        queue=queue_report(svc.root.layout, time.time()),
    )


# -- accounts ----------------------------------------------------------------------------------


@router.get("/accounts")
def accounts(request: Request, svc: Svc, q: str = "") -> Response:
    actor = admin_actor(request, svc)
    paths = ("/admin/accounts", "/admin/accounts")
    return search_page(request, svc, actor, q, "admin_accounts.html", paths)


def _create_page(request: Request, svc: Services, status: int = 200, **values: Any) -> Response:
    return svc.page(request, "admin_create.html", status, **values)


@router.get("/accounts/new")
def new_account(request: Request, svc: Svc) -> Response:
    return _create_page(request, svc, actor=admin_actor(request, svc))


@router.post("/accounts/new")
def create(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    uid: Text = "",
    name: Text = "",
    password: Text = "",
    quota: Text = "",
) -> Response:
    actor = posting_admin(request, svc, csrf)
    form = {"uid": uid, "name": name, "quota": quota}
    generated = not password
    chosen = generate_password() if generated else password

    def create_it() -> Account:
        with svc.accounts(actor) as service:
            return service.create(uid.strip(), name, chosen, quota=quota.strip() or None)

    created = attempt(
        create_it,
        lambda status, errors: _create_page(
            request, svc, status, actor=actor, form=form, errors=errors
        ),
        renamed={"display_name": "name"},  # the use case's name for the form's "name"
    )
    if isinstance(created, Response):
        return created
    return _account_page(
        request,
        svc,
        actor,
        created.uid,
        note=N_("Account created."),
        temporary=chosen if generated else None,
    )


def _account_page(
    request: Request, svc: Services, actor: Actor, uid: str, status: int = 200, **extra: Any
) -> Response:
    check_uid(uid)
    with svc.service(Helpdesk, actor) as desk:
        state = desk.status(uid)
        account = desk.accounts.get(uid)
        recent = desk.accounts.audit.query(target=uid)[-10:]
    return svc.page(
        request,
        "admin_account.html",
        status,
        actor=actor,
        account=account,
        state=state,
        recent=list(reversed(recent)),
        **{
            "edit_form": {
                "name": account.display_name,
                "quota": format_size(account.quota),
            },
            **extra,
        },
    )


@router.get("/accounts/{uid}")
def account(request: Request, svc: Svc, uid: str) -> Response:
    return _account_page(request, svc, admin_actor(request, svc), uid)


@router.post("/accounts/{uid}/edit")
def edit(
    request: Request,
    svc: Svc,
    uid: str,
    csrf: CsrfToken = "",
    name: Text = "",
    quota: Text = "",
) -> Response:
    actor = posting_admin(request, svc, csrf)

    def save() -> None:
        # Both fields are checked before either changes: nothing half-done.
        with svc.accounts(actor) as service:
            current = service.get(uid)
            errors: dict[str, str] = {}
            try:
                check_display_name(name)
            except ValidationError as error:
                errors["name"] = error.rule
            try:
                parse_quota(quota)
            except ValidationError as error:
                errors["quota"] = error.rule
            if errors:
                raise FieldErrors(errors)
            if name != current.display_name:
                service.modify(uid, display_name=name)
            service.set_quota(uid, quota)

    refused = attempt(
        save,
        lambda status, errors: _account_page(
            request,
            svc,
            actor,
            uid,
            status,
            errors=errors,
            edit_form={"name": name, "quota": quota},
        ),
    )
    if isinstance(refused, Response):
        return refused
    return _account_page(request, svc, actor, uid, note=N_("Saved."))


@router.post("/accounts/{uid}/aliases")
def add_alias(
    request: Request, svc: Svc, uid: str, csrf: CsrfToken = "", alias: Text = ""
) -> Response:
    actor = posting_admin(request, svc, csrf)

    def add_it() -> bool:
        with svc.accounts(actor) as service:
            return service.add_alias(uid, alias.strip())

    added = attempt(
        add_it,
        lambda status, errors: _account_page(
            request, svc, actor, uid, status, errors=errors, form={"alias": alias}
        ),
        conflict_field="alias",
    )
    if isinstance(added, Response):
        return added
    note = N_("Alias added.") if added else N_("The account had this alias already.")
    return _account_page(request, svc, actor, uid, note=note)


# What each destructive action asks before it acts: the question, what follows, the button.
QUESTIONS = {
    "suspend": (
        N_("Suspend {uid}?"),
        N_("No sign-in and no mail delivery until the account is resumed; their sessions end."),
        N_("Suspend"),
    ),
    "delete": (
        N_("Delete {uid}?"),
        N_(
            "The account and its mailbox go; the mail is kept as an archive in the state "
            "directory. The address is not given to anyone else until the archive is removed."
        ),
        N_("Delete the account"),
    ),
    "remove-alias": (
        N_("Remove the alias {alias} of {uid}?"),
        N_("Mail to this address is refused from now on."),
        N_("Remove the alias"),
    ),
}


@router.post("/accounts/{uid}/resume")
def resume(request: Request, svc: Svc, uid: str, csrf: CsrfToken = "") -> Response:
    """Resuming gives access back: nothing to ask."""
    actor = posting_admin(request, svc, csrf)
    with svc.accounts(actor) as service:
        done = service.set_status(uid, AccountStatus.ACTIVE)
    note = N_("Account active.") if done else N_("The account was active already.")
    return _account_page(request, svc, actor, uid, note=note)


@router.post("/accounts/{uid}/{action}")
def destructive(
    request: Request,
    svc: Svc,
    uid: str,
    action: str,
    csrf: CsrfToken = "",
    alias: Text = "",
    answer: Confirmed = "",
) -> Response:
    actor = posting_admin(request, svc, csrf)
    if action not in QUESTIONS:
        raise NotFoundError(f"no admin action {action!r}")
    if not confirmed(answer):
        with svc.accounts(actor) as service:
            service.get(uid)  # an account this admin may see, or 404 now
        question, consequence, button = QUESTIONS[action]
        return ask(
            request,
            svc,
            question=question.format(uid=uid, alias=alias),
            consequence=consequence,
            action=f"/admin/accounts/{uid}/{action}",
            button=button,
            back=f"/admin/accounts/{uid}",
            fields={"alias": alias} if action == "remove-alias" else None,
        )
    with svc.accounts(actor) as service:
        if action == "delete":
            archive = service.delete(uid)
            deleted = (
                N_("{uid} deleted; the mailbox is archived in {archive}.").format(
                    uid=uid, archive=archive
                )
                if archive
                else N_("{uid} deleted; there was no mailbox to archive.").format(uid=uid)
            )
            return svc.page(
                request,
                "admin_accounts.html",
                q="",
                results=[],
                unregistered=[],
                notes=[deleted],
                actor=actor,
            )
        if action == "suspend":
            done = service.set_status(uid, AccountStatus.SUSPENDED)
            note = N_("Account suspended.") if done else N_("The account was suspended already.")
        else:
            done = service.remove_alias(uid, alias)
            note = N_("Alias removed.") if done else N_("The account had no such alias.")
    return _account_page(request, svc, actor, uid, note=note)


# -- staff -------------------------------------------------------------------------------------

ROLE_NAMES = {Role.ADMIN.value: N_("admin"), Role.HELPDESK.value: N_("helpdesk")}


def _staff_page(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    with svc.service(StaffService, actor) as staff:
        members = staff.members()
    return svc.page(
        request,
        "admin_staff.html",
        status,
        actor=actor,
        members=members,
        roles=ROLE_NAMES,
        **extra,
    )


def _role(value: str) -> Role:
    if value not in ROLE_NAMES:
        raise ValidationError("role", N_("must be admin or helpdesk"))
    return Role(value)


@router.get("/staff")
def staff_list(request: Request, svc: Svc) -> Response:
    return _staff_page(request, svc, admin_actor(request, svc))


@router.post("/staff")
def staff_add(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    uid: Text = "",
    name: Text = "",
    role: Text = "",
    password: Text = "",
) -> Response:
    actor = posting_admin(request, svc, csrf)
    form = {"uid": uid, "name": name, "role": role}
    generated = not password
    chosen = generate_password() if generated else password

    def add_member() -> None:
        with svc.service(StaffService, actor) as staff:
            staff.add(uid.strip(), name, _role(role), chosen)

    refused = attempt(
        add_member,
        lambda status, errors: _staff_page(request, svc, actor, status, form=form, errors=errors),
    )
    if isinstance(refused, Response):
        return refused
    return _staff_page(
        request,
        svc,
        actor,
        note=N_("Staff member {uid} added.").format(uid=uid.strip()),
        temporary=chosen if generated else None,
    )


@router.post("/staff/{uid}/role")
def staff_role(
    request: Request, svc: Svc, uid: str, csrf: CsrfToken = "", role: Text = ""
) -> Response:
    actor = posting_admin(request, svc, csrf)
    with svc.service(StaffService, actor) as staff:
        changed = staff.set_role(uid, _role(role))
    note = N_("Role changed.") if changed else N_("The member had this role already.")
    return _staff_page(request, svc, actor, note=note)


@router.post("/staff/{uid}/remove")
def staff_remove(
    request: Request, svc: Svc, uid: str, csrf: CsrfToken = "", answer: Confirmed = ""
) -> Response:
    actor = posting_admin(request, svc, csrf)
    check_uid(uid)
    if not confirmed(answer):
        return ask(
            request,
            svc,
            question=N_("Remove the staff member {uid}?").format(uid=uid),
            consequence=N_(
                "Their sign-in and API tokens stop at once; the audit trail keeps what they did."
            ),
            action=f"/admin/staff/{uid}/remove",
            button=N_("Remove the staff member"),
            back="/admin/staff",
        )
    with svc.service(StaffService, actor) as staff:
        staff.remove(uid)
    # As `alumail staff remove`: its tokens are refused anyway (bound to the removed entry).
    api_tokens.revoke_all(svc.store, uid)
    return _staff_page(request, svc, actor, note=N_("Staff member {uid} removed.").format(uid=uid))


# -- audit trail -------------------------------------------------------------------------------

AUDIT_SHOWN = 100
AUDIT_MAX = 1000


def _shown_count(text: str) -> int:
    if not text:
        return AUDIT_SHOWN
    if not text.isdigit() or not 1 <= int(text) <= AUDIT_MAX:
        raise ValidationError("limit", N_("must be a number from 1 to {max}").format(max=AUDIT_MAX))
    return int(text)


@router.get("/audit")
def audit(
    request: Request,
    svc: Svc,
    actor: str = "",
    action: str = "",
    target: str = "",
    limit: str = "",
) -> Response:
    """The newest actions first, filtered as ``alumail audit --actor --action --target``
    filters them (the same query)."""
    admin = admin_actor(request, svc)
    form = {"actor": actor, "action": action, "target": target, "limit": limit}
    try:
        shown = _shown_count(limit.strip())
    except ValidationError as error:
        return svc.page(
            request,
            "admin_audit.html",
            422,
            actor=admin,
            form=form,
            errors=field_errors(error),
            lines=[],
        )
    lines = svc.root.audit.query(
        actor=actor.strip() or None, action=action.strip() or None, target=target.strip() or None
    )
    return svc.page(
        request,
        "admin_audit.html",
        actor=admin,
        form=form,
        lines=list(reversed(lines[-shown:])),
        total=len(lines),
    )


@router.get("/audit/verify")
def audit_verify(request: Request, svc: Svc) -> Response:
    """The hash chain checked as ``alumail audit --verify`` checks it, and the actions that
    began with no outcome recorded."""
    admin = admin_actor(request, svc)
    broken = svc.root.audit.verify()
    unfinished = svc.root.audit.unfinished() if broken is None else []
    return svc.page(
        request,
        "admin_audit.html",
        actor=admin,
        form={},
        lines=list(reversed(unfinished)),
        verified=True,
        broken=broken,
    )
