"""The admin console's data pages: the alumni roster (what ``alumail roster status`` counts, and
a CSV uploaded through ``alumail roster import``'s use case, with its report row by row), the
API tokens (``alumail token list|issue|revoke``) and the holders of a legacy mailbox
(``alumail legacy status|set``, and the reminders ``legacy remind --dry-run`` would send today).

Admins only, as the rest of the console (provisioning/web/admin.py): every action runs as the
signed-in admin through the same use cases and audit lines as the CLI; revoking a token asks
first. Moving a holder's mail is not started here: the one background mover (PortalMoves) signs
in to the legacy server with the holder's own password, which an admin does not have; admins
run ``alumail migrate`` with the legacy server's master login.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response

from identity.dit import Tree
from identity.errors import NotFoundError, ValidationError
from identity.legacy import LegacyHolder, LegacyState
from identity.roles import Actor
from provisioning.i18n import N_
from provisioning.legacy import holders
from provisioning.legacy.reminders import Reminder
from provisioning.people import api_tokens, roster
from provisioning.people.api_tokens import Issued
from provisioning.people.roster import RosterReport
from provisioning.people.staff import StaffService
from provisioning.web.admin import admin_actor, posting_admin
from provisioning.web.confirm import Confirmed, ask, confirmed
from provisioning.web.forms import attempt
from provisioning.web.requests import Services, services
from provisioning.web.security import CSRF_FIELD

T = TypeVar("T")
router = APIRouter(prefix="/admin", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
Text = Annotated[str, Form()]
ROSTER_PATH = "/admin/roster"
# The multipart body around a roster file of UPLOAD_MAX_BYTES (its boundaries, the CSRF token,
# the dry-run box) and room to say "too large" on the page for a file somewhat over it; past
# this the body limit (provisioning/web/security.py) refuses it before it is read.
ROSTER_BODY_MAX = 2 * roster.UPLOAD_MAX_BYTES
# Report rows shown: every refused row, and the others among the first ROWS_SHOWN lines.
ROWS_SHOWN = 500


class Page(Protocol):
    def __call__(
        self, request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
    ) -> Response: ...


def shown(page: Page) -> Callable[[Request, Services], Response]:
    """The GET route of a data page: ``page`` as it stands, to an admin."""

    def show(request: Request, svc: Svc) -> Response:
        return page(request, svc, admin_actor(request, svc))

    return show


def submitted(
    request: Request,
    svc: Services,
    csrf: str,
    page: Page,
    form: dict[str, str],
    act: Callable[[Actor], T],
    **options: Any,
) -> tuple[Actor, T | Response]:
    """A data page's form: the admin who sent it, and ``act``'s result or ``page`` again with
    the form as sent and what was refused under its field (``options``: forms.attempt's)."""
    actor = posting_admin(request, svc, csrf)
    return actor, attempt(
        lambda: act(actor),
        lambda status, errors: page(request, svc, actor, status, form=form, errors=errors),
        **options,
    )


# -- roster ------------------------------------------------------------------------------------


def _roster_page(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    return svc.page(
        request,
        "admin_roster.html",
        status,
        actor=actor,
        counts=roster.counts(svc.store),
        columns=(*roster.COLUMNS, *roster.OPTIONAL_COLUMNS),
        max_mib=roster.UPLOAD_MAX_BYTES // 2**20,
        **extra,
    )


def report_rows(report: RosterReport) -> list[dict[str, Any]]:
    """The report as the page's table, in the file's order: every refused row (outcome
    ``refused``, its field and rule), and the others among the first ROWS_SHOWN lines."""
    refused = [
        {"line": line, "outcome": "refused", "field": column, "rule": reason}
        for line, column, reason in report.errors
    ]
    good = [
        {"line": line, "outcome": outcome, "field": "", "rule": ""}
        for line, outcome in report.rows
        if line <= ROWS_SHOWN + 1  # the header is line 1
    ]
    return sorted([*refused, *good], key=lambda row: int(row["line"]))


# The outcomes as the page names them, after an import and after a dry run.
OUTCOMES = {
    "added": N_("added"),
    "updated": N_("updated"),
    "unchanged": N_("unchanged"),
    "refused": N_("refused"),
}
CHECKED_OUTCOMES = {**OUTCOMES, "added": N_("would be added"), "updated": N_("would be updated")}


router.add_api_route("/roster", shown(_roster_page), methods=["GET"])


@router.post("/roster")
def roster_upload(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    file: Annotated[UploadFile | None, File()] = None,
    dry_run: Text = "",
) -> Response:
    """The uploaded CSV through ``alumail roster import``'s use case (``--dry-run`` when the
    box is ticked). A file refused whole (too large, empty, binary, not UTF-8, not the
    roster's columns) changes nothing and says why under the file field."""
    checking = dry_run == "yes"

    def load(actor: Actor) -> RosterReport:
        if file is None or not file.filename:
            raise ValidationError("file", N_("choose a CSV file of the roster"))
        # One byte more than allowed is enough to know it is too large.
        data = file.file.read(roster.UPLOAD_MAX_BYTES + 1)
        return svc.root.roster().load_upload(actor, data, file.filename, dry_run=checking)

    actor, report = submitted(
        request,
        svc,
        csrf,
        _roster_page,
        {"dry_run": dry_run},
        load,
        renamed={"header": "file"},  # a file without the roster's columns: refused whole
    )
    if isinstance(report, Response):
        if file is not None and (file.size or 0) > roster.UPLOAD_MAX_BYTES:
            report.status_code = 413  # the page says so under the file field
        return report
    return _roster_page(
        request,
        svc,
        actor,
        form={"dry_run": dry_run},
        report=report,
        rows=report_rows(report),
        rows_cut=len(report.rows) > ROWS_SHOWN,
        outcomes=CHECKED_OUTCOMES if checking else OUTCOMES,
        dry_run=checking,
        filename=file.filename if file else "",
    )


# -- API tokens --------------------------------------------------------------------------------


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _tokens_page(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    with svc.service(StaffService, actor) as staff:
        members = [m["uid"] for m in staff.members()]
    tokens = [
        {
            "id": t.id,
            "uid": t.uid,
            "label": t.label,
            "created": _when(t.created),
            "last_used": _when(t.last_used),
            "revoked": _when(t.revoked),
        }
        for t in reversed(api_tokens.listing(svc.store))  # the newest first
    ]
    return svc.page(
        request, "admin_tokens.html", status, actor=actor, tokens=tokens, members=members, **extra
    )


router.add_api_route("/tokens", shown(_tokens_page), methods=["GET"])


@router.post("/tokens")
def token_issue(
    request: Request, svc: Svc, csrf: CsrfToken = "", uid: Text = "", label: Text = ""
) -> Response:
    """As ``alumail token issue UID --label TEXT``: the token is shown this once."""
    form = {"uid": uid, "label": label}

    def issue(actor: Actor) -> Issued:
        return svc.root.api_tokens().issue(actor, uid.strip(), label)

    actor, issued = submitted(request, svc, csrf, _tokens_page, form, issue, missing_field="uid")
    if isinstance(issued, Response):
        return issued
    response = _tokens_page(
        request,
        svc,
        actor,
        note=N_("Token {id} issued to {uid}.").format(id=issued.info.id, uid=issued.info.uid),
        issued=issued.token,
    )
    response.headers["Cache-Control"] = "no-store"  # the token is on this page only
    return response


@router.post("/tokens/{token_id}/revoke")
def token_revoke(
    request: Request, svc: Svc, token_id: str, csrf: CsrfToken = "", answer: Confirmed = ""
) -> Response:
    """As ``alumail token revoke ID``, after asking."""
    actor = posting_admin(request, svc, csrf)
    known = {t.id: t for t in api_tokens.listing(svc.store)}
    if token_id not in known:  # before asking about a token that is not there
        raise NotFoundError(f"no API token with id '{token_id}'")
    if not confirmed(answer):
        token = known[token_id]
        return ask(
            request,
            svc,
            question=N_("Revoke the token {id} ({label}) of {uid}?").format(
                id=token.id, label=token.label, uid=token.uid
            ),
            consequence=N_("Scripts that use it are refused from now on; this cannot be undone."),
            action=f"/admin/tokens/{token_id}/revoke",
            button=N_("Revoke the token"),
            back="/admin/tokens",
        )
    changed = svc.root.api_tokens().revoke(actor, token_id)
    note = (
        N_("Token {id} revoked.") if changed else N_("The token {id} was revoked already.")
    ).format(id=token_id)
    return _tokens_page(request, svc, actor, note=note)


# -- legacy holders ----------------------------------------------------------------------------

STATES = {
    LegacyState.NOT_MIGRATED.value: N_("not migrated"),
    LegacyState.MIGRATING.value: N_("migrating"),
    LegacyState.MIGRATED.value: N_("migrated"),
    LegacyState.FAILED.value: N_("failed"),
    LegacyState.BACKED_UP.value: N_("backed up"),
}


def _legacy_page(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    """Every holder as ``alumail legacy status`` lists them, read as the admin (slapd's ACLs
    judge the read), the counts per state, and the reminders due today when a cutoff is set."""
    tree = Tree(svc.settings.base_dn)
    cutoff = svc.settings.legacy.cutoff
    due: list[Reminder] = []
    with svc.root.for_request() as root:
        found: list[LegacyHolder] = holders.holders(root.connections.as_actor(actor), tree)
        if cutoff:
            due = root.reminders().due(datetime.date.today())
    counts: dict[str, int] = {}
    for holder in found:
        counts[holder.state] = counts.get(holder.state, 0) + 1
    moving = {h.uid for h in found if svc.moves.running(h.uid)}
    shown = {"holders": found, "counts": counts, "cutoff": cutoff, "due": due, "running": moving}
    return svc.page(
        request, "admin_legacy.html", status, actor=actor, states=STATES, **shown, **extra
    )


router.add_api_route("/legacy", shown(_legacy_page), methods=["GET"])


@router.post("/legacy")
def legacy_set(
    request: Request, svc: Svc, csrf: CsrfToken = "", uid: Text = "", address: Text = ""
) -> Response:
    """As ``alumail legacy set UID ADDRESS``, written as the admin."""

    def record(actor: Actor) -> str:
        with svc.root.for_request() as root:
            return holders.record_holder(
                root.connections.as_actor(actor),
                Tree(svc.settings.base_dn),
                root.audit,
                actor,
                uid.strip(),
                address,
            )

    form = {"uid": uid, "address": address}
    actor, recorded = submitted(request, svc, csrf, _legacy_page, form, record, missing_field="uid")
    if isinstance(recorded, Response):
        return recorded
    note = N_("{uid} holds the legacy mailbox {address}.").format(uid=uid.strip(), address=recorded)
    return _legacy_page(request, svc, actor, note=note)
