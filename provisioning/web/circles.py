"""The circles' portal pages: the circles home (listed circles, search, kind filter, the three
rankings, a new interest circle), "my circles" (the circles I am in with each board's unread
count, my applications), a circle's page (apply, cancel, leave; its board: posts, replies, edits,
deletes, hiding and pinning) and its management page (applications, members, moderators,
ownership, who reads the board).

Every page runs CircleService as the signed-in person (svc.root), which checks every role and
rule and audits every change: this module parses, calls and presents. A hidden circle is a 404
to a non-member, worded as for an unknown name (the use case reads it through slapd's ACLs).
Leaving, removing a member, handing ownership over and deleting a post ask first
(provisioning/web/confirm.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from identity import names
from identity.circles import Kind, Policy, Visibility
from identity.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from identity.roles import Actor, Role
from provisioning.circles.board import Board, BoardPage, check_page
from provisioning.circles.rankings import Sort, Standing
from provisioning.circles.service import PENDING, CircleService, CircleView
from provisioning.errors import RateLimitedError
from provisioning.i18n import N_
from provisioning.web import sessions
from provisioning.web.confirm import Confirmed, ask, confirmed
from provisioning.web.forms import field_errors
from provisioning.web.requests import Services, services, signed_in
from provisioning.web.security import CSRF_FIELD

router = APIRouter(prefix="/circles", include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
CsrfToken = Annotated[str, Form(alias=CSRF_FIELD)]
Text = Annotated[str, Form()]
OptionalText = Annotated[str | None, Form()]
QUERY_MAX = 100  # a search term longer than any title is not a search
PAGE_SIZE = 50  # circles a page of the home page lists

# What the pages call the stored values.
KIND_NAMES = {Kind.GRADE: N_("grade"), Kind.CLASS: N_("class"), Kind.INTEREST: N_("interest")}
POLICY_NAMES = {
    Policy.OPEN: N_("open: in at once"),
    Policy.APPROVAL: N_("approval: an owner or moderator decides"),
    Policy.INVITE: N_("invitation only"),
}
ROLE_NAMES = {"owner": N_("owner"), "moderator": N_("moderator"), "member": N_("member")}
STATE_NAMES = {
    "pending": N_("waiting for a decision"),
    "approved": N_("approved"),
    "rejected": N_("declined"),
    "cancelled": N_("cancelled"),
}


# -- the order of the home page's list ---------------------------------------------------------

# The one place a listing's order is chosen. The whole list (searched, filtered, paged) is
# ordered here by member count; the three rankings (``RANKINGS``) are read instead from the
# rankings' counters, one index walk for the top ``PAGE_SIZE`` (rankings.py), never by reading
# every circle.
SORTS: dict[str, Callable[[CircleView], tuple[Any, ...]]] = {
    "members": lambda view: (-view.members, view.circle.name),
}
DEFAULT_SORT = "members"
RANKINGS = {
    Sort.POPULARITY: N_("popularity: most members active in the last 30 days"),
    Sort.INTERACTION: N_("interaction: most posts and replies, recent ones weighing more"),
    Sort.MEMBERS: N_("members: most members"),
}
RANKING_LINKS = {
    Sort.POPULARITY: N_("Most active members"),
    Sort.INTERACTION: N_("Most posts"),
    Sort.MEMBERS: N_("Most members"),
}


def ranked(views: Sequence[CircleView], sort: str = DEFAULT_SORT) -> list[CircleView]:
    """``views`` in the order ``sort`` names (one of SORTS)."""
    return sorted(views, key=SORTS[sort])


def matching(views: Sequence[CircleView], query: str) -> list[CircleView]:
    """The circles a search finds: a part of the name, or of the title as written or in pinyin
    (上海 finds 上海校友会 and so does ``shanghai``), case, width and spaces aside."""
    key = names.search_key(query)
    if not key:
        return list(views)
    return [
        v
        for v in views
        if key in names.search_key(v.circle.name) or names.name_matches(query, v.circle.title)
    ]


# -- who is asking ----------------------------------------------------------------------------


def _actor(request: Request, svc: Services) -> Actor:
    session = signed_in(request, svc)
    return sessions.session_actor(svc.root.signin, session)


def _posting(request: Request, svc: Services, csrf: str) -> Actor:
    svc.csrf.check(request, csrf)
    return _actor(request, svc)


def _role_in(view: CircleView, uid: str) -> str:
    circle = view.circle
    if uid in circle.owners:
        return "owner"
    if uid in circle.moderators:
        return "moderator"
    return "member"


# -- home -------------------------------------------------------------------------------------


def _kind(value: str) -> Kind | None:
    if not value:
        return None
    try:
        return Kind(value)
    except ValueError:
        raise ValidationError("kind", N_("must be grade, class or interest")) from None


def _sort(value: str) -> Sort | None:
    if not value:
        return None
    try:
        return Sort(value)
    except ValueError:
        raise ValidationError("sort", N_("must be popularity, interaction or members")) from None


def _home(
    request: Request,
    svc: Services,
    actor: Actor,
    status: int = 200,
    *,
    q: str = "",
    kind: str = "",
    page: str = "1",
    sort: str = "",
    **extra: Any,
) -> Response:
    errors: dict[str, str] = dict(extra.pop("errors", {}))
    number = int(page) if page.isascii() and page.isdigit() and 0 < len(page) < 7 else 0
    if number < 1:
        errors["page"] = N_("must be a whole number from 1")
        status, number = 422, 1
    chosen: Kind | None = None
    try:
        chosen = _kind(kind)
    except ValidationError as error:
        errors.update(field_errors(error))
        status = 422
    by: Sort | None = None
    try:
        by = _sort(sort)
    except ValidationError as error:
        errors.update(field_errors(error))
        status = 422
    if len(q) > QUERY_MAX:
        errors["q"] = N_("must be at most {count} characters").format(count=QUERY_MAX)
        status, q = 422, ""
    standings: dict[str, Standing] = {}
    with svc.service(CircleService, actor) as circles:
        if by is None:
            listed = ranked(matching(circles.find(kind=chosen), q))
        else:
            # A ranking: its top PAGE_SIZE from the counters' index (hidden circles only for
            # their members and staff, as the use case decides), one page, searched within.
            top = circles.ranked(by, limit=PAGE_SIZE, kind=chosen)
            standings = {r.circle.name: r.standing for r in top}
            listed = matching(
                [CircleView(r.circle, r.standing.members, 0, r.is_member) for r in top], q
            )
            number = 1
    start = (number - 1) * PAGE_SIZE
    return svc.page(
        request,
        "circles.html",
        status,
        actor=actor,
        circles=listed[start : start + PAGE_SIZE],
        total=len(listed),
        page=number,
        pages=max(1, -(-len(listed) // PAGE_SIZE)),
        q=q,
        kind=chosen.value if chosen else "",
        sort=by.value if by else "",
        sort_enum=by,
        standings=standings,
        rankings=RANKINGS,
        ranking_links=RANKING_LINKS,
        kinds=KIND_NAMES,
        policies=POLICY_NAMES,
        interest_approval=svc.settings.circles.interest_approval,
        may_create=actor.role is Role.ALUMNUS,
        errors=errors,
        **extra,
    )


@router.get("")
def home(
    request: Request, svc: Svc, q: str = "", kind: str = "", page: str = "1", sort: str = ""
) -> Response:
    return _home(request, svc, _actor(request, svc), q=q, kind=kind, page=page, sort=sort)


@router.post("/new")
def create(
    request: Request,
    svc: Svc,
    csrf: CsrfToken = "",
    name: Text = "",
    title: Text = "",
    description: Text = "",
    policy: Text = "approval",
    hidden: Text = "",
) -> Response:
    """An alumnus creates an interest circle and owns it (it waits for staff when the
    ``[circles] interest_approval`` setting says so)."""
    actor = _posting(request, svc, csrf)
    form = {
        "name": name,
        "title": title,
        "description": description,
        "policy": policy,
        "hidden": hidden,
    }
    try:
        if actor.role is not Role.ALUMNUS:
            raise AccessDeniedError("only alumni create circles on these pages")
        try:
            chosen_policy = Policy(policy)
        except ValueError:
            raise ValidationError(
                "policy", N_("must be open, approval or invitation only")
            ) from None
        with svc.service(CircleService, actor) as circles:
            made = circles.create(
                name.strip(),
                title,
                Kind.INTEREST,
                policy=chosen_policy,
                visibility=Visibility.HIDDEN if hidden else Visibility.LISTED,
                description=description,
            )
    except ValidationError as error:
        return _home(request, svc, actor, 422, form=form, errors=field_errors(error))
    except ConflictError as error:
        if error.message.startswith("name: "):  # the name is taken
            taken = {"name": N_("is taken by another circle")}
            return _home(request, svc, actor, 409, form=form, errors=taken)
        return _home(request, svc, actor, 409, form=form, error=error.message)
    note = (
        N_("The circle {name} is made; it waits for staff to activate it.")
        if made.proposed
        else N_("The circle {name} is made, and you own it.")
    ).format(name=made.name)
    return _circle(request, svc, actor, made.name, notes=[note])


# -- my circles -------------------------------------------------------------------------------


def _mine(
    request: Request, svc: Services, actor: Actor, status: int = 200, **extra: Any
) -> Response:
    with svc.service(Board, actor) as board:
        joined = board.circles.find(mine=True)
        applications = board.circles.my_applications()
        unread = board.unread_counts()
    rows = [
        (view, _role_in(view, actor.name), unread.get(view.circle.name, 0))
        for view in ranked(joined)
    ]
    return svc.page(
        request,
        "circles_mine.html",
        status,
        actor=actor,
        rows=rows,
        applications=applications,
        roles=ROLE_NAMES,
        kinds=KIND_NAMES,
        states=STATE_NAMES,
        **extra,
    )


@router.get("/mine")
def mine(request: Request, svc: Svc) -> Response:
    actor = _actor(request, svc)
    if actor.role is not Role.ALUMNUS:
        return RedirectResponse("/circles", status_code=303)  # staff are in no circle
    return _mine(request, svc, actor)


# -- a circle ---------------------------------------------------------------------------------


def _when(t: float, layout: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A post's time as the page shows it: UTC, the same for every reader."""
    return time.strftime(layout, time.gmtime(t))


def _board_page(board: Board, name: str, page: str) -> tuple[BoardPage | None, dict[str, str]]:
    """The board's page ``page`` if the actor reads it (None if not: members only, unless the
    owners made a listed open circle's board public), and a refused page number under 'page'
    (the first page shown instead). Reading the first page moves the member's unread position
    to its newest post; the markers shown are of what was newer than it before."""
    errors: dict[str, str] = {}
    try:
        number = check_page(page)
    except ValidationError as error:
        errors, number = field_errors(error), 1
    try:
        return board.page(name, number), errors
    except AccessDeniedError:
        return None, errors


def _circle(
    request: Request,
    svc: Services,
    actor: Actor,
    name: str,
    status: int = 200,
    /,
    *,
    page: str = "1",
    **extra: Any,
) -> Response:
    errors: dict[str, str] = dict(extra.pop("errors", {}))
    with svc.service(Board, actor) as board:
        circles = board.circles
        view = circles.show(name)
        moderates = circles.may_moderate(view.circle)
        pending = actor.role is Role.ALUMNUS and any(
            a.circle == name and a.state == PENDING for a in circles.my_applications()
        )
        shown, page_errors = _board_page(board, name, page)
    if page_errors:
        errors.update(page_errors)
        status = 422
    return svc.page(
        request,
        "circle.html",
        status,
        actor=actor,
        view=view,
        c=view.circle,
        role=_role_in(view, actor.name) if view.is_member else "",
        pending=pending,
        moderates=moderates,
        board=shown,
        may_post=view.is_member,
        me=actor.name,
        when=_when,
        may_apply=(
            actor.role is Role.ALUMNUS
            and not view.is_member
            and not pending
            and not view.circle.proposed
            and view.circle.policy is not Policy.INVITE
        ),
        roles=ROLE_NAMES,
        kinds=KIND_NAMES,
        policies=POLICY_NAMES,
        errors=errors,
        **extra,
    )


@router.get("/{name}")
def circle_page(request: Request, svc: Svc, name: str, page: str = "1") -> Response:
    return _circle(request, svc, _actor(request, svc), name, page=page)


@router.post("/{name}/apply")
def apply(
    request: Request, svc: Svc, name: str, csrf: CsrfToken = "", message: Text = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    form = {"message": message}
    try:
        with svc.service(CircleService, actor) as circles:
            done = circles.apply(name, message)
    except ValidationError as error:
        return _circle(request, svc, actor, name, 422, form=form, errors=field_errors(error))
    except RateLimitedError as error:
        minutes = max(1, (error.retry_after + 59) // 60)
        page = _circle(
            request,
            svc,
            actor,
            name,
            429,
            form=form,
            error=N_(
                "You have sent many applications in the last hour: try again in {minutes} minutes."
            ).format(minutes=minutes),
        )
        page.headers["Retry-After"] = str(error.retry_after)
        return page
    except ConflictError as error:
        return _circle(request, svc, actor, name, 409, form=form, error=error.message)
    note = (
        N_("You are a member of this circle now.")
        if done.state != PENDING
        else N_("Your application is sent: it waits for an owner or moderator.")
    )
    return _circle(request, svc, actor, name, notes=[note])


@router.post("/{name}/cancel")
def cancel(request: Request, svc: Svc, name: str, csrf: CsrfToken = "") -> Response:
    actor = _posting(request, svc, csrf)
    with svc.service(CircleService, actor) as circles:
        circles.cancel(name)
    return _mine(request, svc, actor, notes=[N_("Your application is withdrawn.")])


@router.post("/{name}/leave")
def leave(
    request: Request, svc: Svc, name: str, csrf: CsrfToken = "", answer: Confirmed = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    if not confirmed(answer):
        with svc.service(CircleService, actor) as circles:
            view = circles.show(name)  # a circle this person sees, or 404 now
        return ask(
            request,
            svc,
            question=N_("Leave the circle {title}?").format(title=view.circle.title),
            consequence=N_(
                "You stop being a member; to come back you apply again, as anyone would."
            ),
            action=f"/circles/{name}/leave",
            button=N_("Leave the circle"),
            back=f"/circles/{name}",
        )
    try:
        with svc.service(CircleService, actor) as circles:
            circles.leave(name)
    except ConflictError as error:
        return _circle(request, svc, actor, name, 409, error=error.message)
    return _mine(request, svc, actor, notes=[N_("You have left {name}.").format(name=name)])


# -- the board --------------------------------------------------------------------------------


def _on_board(
    request: Request,
    svc: Services,
    actor: Actor,
    name: str,
    act: Callable[[Board], object],
    note: str,
    *,
    form: dict[str, str],
    prefix: str = "",
) -> Response:
    """The circle's page after ``act`` with ``note``; or with what was refused: a rule under
    its field (``prefix`` names which form: a reply's or an edit's), 422; a conflict 409; a post
    not there 404. A refusal of the actor's role is the site's 403 page."""
    try:
        with svc.service(Board, actor) as board:
            act(board)
    except ValidationError as error:
        errors = {f"{prefix}{k}": v for k, v in field_errors(error).items()}
        return _circle(request, svc, actor, name, 422, form=form, errors=errors)
    except (ConflictError, NotFoundError) as error:
        code = 409 if isinstance(error, ConflictError) else 404
        return _circle(request, svc, actor, name, code, form=form, error=error.message)
    return _circle(request, svc, actor, name, notes=[note])


@router.post("/{name}/posts")
def new_post(
    request: Request,
    svc: Svc,
    name: str,
    csrf: CsrfToken = "",
    subject: Text = "",
    body: Text = "",
) -> Response:
    actor = _posting(request, svc, csrf)
    return _on_board(
        request,
        svc,
        actor,
        name,
        lambda board: board.post(name, subject, body),
        N_("Your post is on the board."),
        form={"subject": subject, "body": body},
    )


@router.post("/{name}/posts/{post_id}/reply")
def reply(
    request: Request, svc: Svc, name: str, post_id: str, csrf: CsrfToken = "", body: Text = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    return _on_board(
        request,
        svc,
        actor,
        name,
        lambda board: board.reply(name, post_id, body),
        N_("Your reply is on the board."),
        form={"reply_to": post_id, "reply_body": body},
        prefix="reply_",
    )


@router.post("/{name}/posts/{post_id}/edit")
def edit_post(
    request: Request,
    svc: Svc,
    name: str,
    post_id: str,
    csrf: CsrfToken = "",
    body: Text = "",
    subject: OptionalText = None,
) -> Response:
    """The author's new text (a reply's form sends no subject: replies have none)."""
    actor = _posting(request, svc, csrf)
    return _on_board(
        request,
        svc,
        actor,
        name,
        lambda board: board.edit(name, post_id, body, subject=subject),
        N_("Your changes are saved."),
        form={"edit_of": post_id, "edit_subject": subject or "", "edit_body": body},
        prefix="edit_",
    )


@router.post("/{name}/posts/{post_id}/delete")
def delete_post(
    request: Request,
    svc: Svc,
    name: str,
    post_id: str,
    csrf: CsrfToken = "",
    answer: Confirmed = "",
) -> Response:
    actor = _posting(request, svc, csrf)
    if not confirmed(answer):
        with svc.service(CircleService, actor) as circles:
            view = circles.show(name)  # a circle this person sees, or 404 now
        return ask(
            request,
            svc,
            question=N_("Delete your post from the board of {title}?").format(
                title=view.circle.title
            ),
            consequence=N_(
                "Its text is removed for good; a note that it was deleted stays, "
                "and so do the replies to it."
            ),
            action=f"/circles/{name}/posts/{post_id}/delete",
            button=N_("Delete the post"),
            back=f"/circles/{name}",
        )
    return _on_board(
        request,
        svc,
        actor,
        name,
        lambda board: board.delete(name, post_id),
        N_("Your post is deleted."),
        form={},
    )


Moderation = Literal["hide", "unhide", "pin", "unpin"]
MODERATION_NOTES = {
    "hide": N_("The post is hidden: only owners, moderators and staff see it."),
    "unhide": N_("The post is shown again."),
    "pin": N_("The post is pinned to the top of the board."),
    "unpin": N_("The post is no longer pinned."),
}


@router.post("/{name}/posts/{post_id}/{action}")
def moderate(
    request: Request,
    svc: Svc,
    name: str,
    post_id: str,
    action: Moderation,
    csrf: CsrfToken = "",
) -> Response:
    """Owners, moderators and staff hide or pin a post (each audited by the use case)."""
    actor = _posting(request, svc, csrf)

    def act(board: Board) -> None:
        if action in ("hide", "unhide"):
            board.hide(name, post_id, hidden=action == "hide")
        else:
            board.pin(name, post_id, pinned=action == "pin")

    return _on_board(request, svc, actor, name, act, MODERATION_NOTES[action], form={})


# -- managing a circle ------------------------------------------------------------------------


def _manage(
    request: Request,
    svc: Services,
    actor: Actor,
    name: str,
    status: int = 200,
    /,
    **extra: Any,
) -> Response:
    with svc.service(CircleService, actor) as circles:
        applications = circles.applications(name)  # owners, moderators, staff; else 403
        view = circles.show(name)
        owns = circles.may_own(view.circle)
        public_board = Board(circles).is_public(name)
    return svc.page(
        request,
        "circle_manage.html",
        status,
        actor=actor,
        view=view,
        c=view.circle,
        applications=applications,
        members=[(uid, _role_in(view, uid)) for uid in view.circle.members],
        owns=owns,
        public_board=public_board,
        may_be_public=view.circle.policy is Policy.OPEN and not view.circle.hidden,
        roles=ROLE_NAMES,
        **extra,
    )


@router.get("/{name}/manage")
def manage(request: Request, svc: Svc, name: str) -> Response:
    return _manage(request, svc, _actor(request, svc), name)


def _acted(
    request: Request,
    svc: Services,
    actor: Actor,
    name: str,
    act: Callable[[CircleService], None],
    note: str,
    *,
    field: str,
    form: dict[str, str] | None = None,
    landing: Callable[..., Response] | None = None,
) -> Response:
    """The management page after ``act`` (or ``landing``, called as _manage is), with
    ``note``; or the management page with what was refused under ``field`` (a rule 422, a
    conflict 409, something not there 404)."""
    try:
        with svc.service(CircleService, actor) as circles:
            act(circles)
    except ValidationError as error:
        errors = {field if k == "uid" else k: v for k, v in field_errors(error).items()}
        return _manage(request, svc, actor, name, 422, form=form or {}, errors=errors)
    except (ConflictError, NotFoundError) as error:
        circles_status = 409 if isinstance(error, ConflictError) else 404
        return _manage(
            request, svc, actor, name, circles_status, form=form or {}, error=error.message
        )
    return (landing or _manage)(request, svc, actor, name, notes=[note])


@router.post("/{name}/applications/{uid}/approve")
def approve(request: Request, svc: Svc, name: str, uid: str, csrf: CsrfToken = "") -> Response:
    actor = _posting(request, svc, csrf)
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.approve(name, uid),
        N_("{uid} is a member now, and is told by mail.").format(uid=uid),
        field="uid",
    )


@router.post("/{name}/applications/{uid}/reject")
def reject(
    request: Request, svc: Svc, name: str, uid: str, csrf: CsrfToken = "", reason: Text = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.reject(name, uid, reason),
        N_("The application of {uid} is declined, and they are told by mail.").format(uid=uid),
        field="reason",
        form={"reason": reason, "reason_for": uid},
    )


@router.post("/{name}/members")
def add_member(
    request: Request, svc: Svc, name: str, csrf: CsrfToken = "", member_uid: Text = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    added = member_uid.strip().lower()
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.add(name, added),
        N_("{uid} is a member now.").format(uid=added),
        field="member_uid",
        form={"member_uid": member_uid},
    )


@router.post("/{name}/members/{uid}/remove")
def remove_member(
    request: Request, svc: Svc, name: str, uid: str, csrf: CsrfToken = "", answer: Confirmed = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    if not confirmed(answer):
        with svc.service(CircleService, actor) as circles:
            view = circles.show(name)
            if not circles.may_moderate(view.circle):
                raise AccessDeniedError(f"{actor} may not remove members of '{name}'")
        return ask(
            request,
            svc,
            question=N_("Remove {uid} from {title}?").format(uid=uid, title=view.circle.title),
            consequence=N_("They stop being a member; they may apply again."),
            action=f"/circles/{name}/members/{uid}/remove",
            button=N_("Remove the member"),
            back=f"/circles/{name}/manage",
        )
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.remove(name, uid),
        N_("{uid} is no longer a member.").format(uid=uid),
        field="member_uid",
    )


@router.post("/{name}/moderators")
def add_moderator(
    request: Request, svc: Svc, name: str, csrf: CsrfToken = "", moderator_uid: Text = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    chosen = moderator_uid.strip().lower()
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.add_moderator(name, chosen),
        N_("{uid} moderates the circle now.").format(uid=chosen),
        field="moderator_uid",
        form={"moderator_uid": moderator_uid},
    )


@router.post("/{name}/moderators/{uid}/remove")
def remove_moderator(
    request: Request, svc: Svc, name: str, uid: str, csrf: CsrfToken = ""
) -> Response:
    actor = _posting(request, svc, csrf)
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.remove_moderator(name, uid),
        N_("{uid} no longer moderates the circle.").format(uid=uid),
        field="moderator_uid",
    )


@router.post("/{name}/owner")
def hand_over(
    request: Request,
    svc: Svc,
    name: str,
    csrf: CsrfToken = "",
    owner_uid: Text = "",
    answer: Confirmed = "",
) -> Response:
    actor = _posting(request, svc, csrf)
    chosen = owner_uid.strip().lower()
    if not confirmed(answer):
        with svc.service(CircleService, actor) as circles:
            view = circles.show(name)
            if not circles.may_own(view.circle):
                raise AccessDeniedError(f"{actor} may not hand over ownership of '{name}'")
        if not chosen:
            return _manage(
                request, svc, actor, name, 422, errors={"owner_uid": N_("must not be empty")}
            )
        return ask(
            request,
            svc,
            question=N_("Hand {title} over to {uid}?").format(uid=chosen, title=view.circle.title),
            consequence=N_(
                "{uid} becomes the circle's only owner; its owners now stay members, "
                "without the owner's rights."
            ).format(uid=chosen),
            action=f"/circles/{name}/owner",
            button=N_("Hand the circle over"),
            back=f"/circles/{name}/manage",
            fields={"owner_uid": chosen},
        )
    return _acted(
        request,
        svc,
        actor,
        name,
        lambda circles: circles.hand_over(name, chosen),
        N_("{uid} owns the circle now.").format(uid=chosen),
        field="owner_uid",
        form={"owner_uid": owner_uid},
        # A former owner may manage it no more: their circle's page says it is done.
        landing=_circle,
    )


@router.post("/{name}/board")
def board_readers(
    request: Request, svc: Svc, name: str, csrf: CsrfToken = "", public: Text = ""
) -> Response:
    """Owners and staff choose who reads the board: members only, or (a listed open circle)
    any alumnus too (the board's ``public_board``)."""
    actor = _posting(request, svc, csrf)
    opened = public == "yes"

    def act(circles: CircleService) -> None:
        Board(circles).set_public(name, opened)

    return _acted(
        request,
        svc,
        actor,
        name,
        act,
        N_("Any alumnus may read the board now; only members post.")
        if opened
        else N_("Only members read the board now."),
        field="public",
    )
