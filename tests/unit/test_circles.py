"""The circle rules on in-memory collaborators: names, titles, cohort names, who may decide an
application, auto-approval by record, ownership, the application rate limit. What slapd adds
(memberOf, ACLs on hidden circles) is tested on the real stack (tests/integration)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from identity.circles import (
    Circle,
    Kind,
    Policy,
    Visibility,
    check_circle_name,
    check_cohort,
    check_description,
    check_title,
    uids_of,
)
from identity.directory import Credentials
from identity.dit import Tree
from identity.errors import AccessDeniedError, ConflictError, NotFoundError, ValidationError
from identity.roles import ROOT, Actor, Role
from mailstack.settings.sections import Circles
from provisioning.circles.cohorts import Cohorts
from provisioning.circles.service import APPLICATIONS_PER_WINDOW, CircleService
from provisioning.errors import RateLimitedError
from provisioning.web.app import error_body
from tests.unit.fakes import Composed, composed

pytestmark = pytest.mark.unit


@dataclass
class RecordingMailer:
    sent: list[tuple[str, str, str]] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


@pytest.mark.parametrize("name", ["abc", "club.sh-2", "grade-2015", "a" * 48, "007"])
def test_good_names(name: str) -> None:
    assert check_circle_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "3 to 48"),
        ("a" * 49, "3 to 48"),
        ("Club", "lowercase"),
        ("club..x", "single separators"),
        ("-club", "single separators"),
        ("club-", "single separators"),
        ("club x", "single separators"),
        ("上海校友", "single separators"),
        ("postmaster", "reserved"),
        ("placeholder", "reserved"),
    ],
)
def test_bad_names_name_their_rule(name: str, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule) as caught:
        check_circle_name(name)
    assert caught.value.field == "name"


def test_titles_and_descriptions_any_script_no_control_characters() -> None:
    assert check_title("  上海校友会 Shanghai  ") == "上海校友会 Shanghai"
    assert check_description("第一行\r\n第二行") == "第一行\n第二行"
    for bad in ("", "   ", "a\x00b", "a\u200eb", "x" * 81, "a\nb"):
        with pytest.raises(ValidationError) as caught:
            check_title(bad)
        assert caught.value.field == "title"
    with pytest.raises(ValidationError, match="at most 1000"):
        check_description("x" * 1001)


def test_cohort_names_belong_to_their_kinds() -> None:
    assert check_cohort("grade-2015", Kind.GRADE, "2015", None) == (2015, None)
    assert check_cohort("class-f1503101", Kind.CLASS, None, "f1503101") == (None, "F1503101")
    assert check_cohort("club", Kind.INTEREST, None, None) == (None, None)
    with pytest.raises(ValidationError, match="named grade-2016"):
        check_cohort("grade-2015", Kind.GRADE, 2016, None)
    with pytest.raises(ValidationError, match="cohort circles"):
        check_cohort("grade-fans", Kind.INTEREST, None, None)
    with pytest.raises(ValidationError, match="no graduation year"):
        check_cohort("club", Kind.INTEREST, 2015, None)
    with pytest.raises(ValidationError) as caught:
        check_cohort("class-x", Kind.CLASS, None, "x")
    assert caught.value.field == "class_code"


def test_an_entry_always_has_a_member_and_an_owner_and_reads_back() -> None:
    tree = Tree("dc=alumni,dc=example,dc=edu")
    service_owned = Circle("grade-2015", "2015", Kind.GRADE, year=2015).to_entry(tree)
    assert service_owned["member"] == [tree.circle_placeholder]
    assert service_owned["owner"] == [tree.circle_placeholder]
    owned = Circle("club", "Club", Kind.INTEREST, owners=("li.lei",)).to_entry(tree)
    assert tree.person("li.lei") in owned["member"]
    back = Circle.from_entry(tree, owned)
    assert (back.owners, back.members) == (("li.lei",), ("li.lei",))
    assert uids_of(tree, [tree.circle_placeholder, tree.staff_member("x")]) == ()


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.c: Composed = composed(tmp_path)
        self.mailer = RecordingMailer()
        self.tree = self.c.tree

    def service(self, actor: Actor = ROOT) -> CircleService:
        root = self.c.root
        return CircleService(
            root.settings,
            actor,
            connections=root.connections,
            audit=root.audit,
            store=root.store,
            mailer=self.mailer,
        )

    def alumnus(self, uid: str, **values: object) -> Actor:
        self.c.alumnus(uid, "Alumnus-Pass-42", **values)
        return Actor(uid, Role.ALUMNUS, Credentials(self.tree.person(uid), "Alumnus-Pass-42"))

    def members(self, name: str) -> list[str]:
        return self.c.directory.entries[self.tree.circle(name)]["member"]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def test_a_record_proves_a_cohort_and_approves_at_once(world: World) -> None:
    li = world.alumnus("li.lei", alumailGraduationYear=2015, alumailClassCode="F1503101")
    han = world.alumnus("han.mei", alumailGraduationYear=2016)
    world.service().create("grade-2015", "2015", Kind.GRADE, year=2015)
    world.service().create("class-f1503101", "F1503101", Kind.CLASS, class_code="F1503101")
    assert world.service(li).apply("grade-2015").state == "approved"
    assert world.service(li).apply("class-f1503101").state == "approved"
    assert world.service(han).apply("grade-2015").state == "pending"
    assert world.tree.person("li.lei") in world.members("grade-2015")
    assert world.tree.person("han.mei") not in world.members("grade-2015")
    with pytest.raises(ConflictError, match="already"):
        world.service(han).apply("grade-2015")


def test_only_owners_moderators_and_staff_decide(world: World) -> None:
    owner = world.alumnus("owner.a")
    moderator = world.alumnus("mod.b")
    applicant = world.alumnus("app.c")
    other_owner = world.alumnus("owner.d")
    world.service(owner).create("club-a", "A", Kind.INTEREST)
    world.service(other_owner).create("club-d", "D", Kind.INTEREST, policy=Policy.OPEN)
    world.service(moderator).apply("club-d")
    world.service(other_owner).add_moderator("club-d", "mod.b")
    world.service(applicant).apply("club-a", "hello")
    # The applicant, and a moderator of another circle, are refused.
    for actor in (applicant, moderator):
        with pytest.raises(AccessDeniedError, match="may not decide applications"):
            world.service(actor).approve("club-a", "app.c")
    assert world.tree.person("app.c") not in world.members("club-a")
    world.service(owner).reject("club-a", "app.c", "not yet")
    assert world.mailer.sent[-1][0] == "app.c@alumni.example.edu"
    assert "not yet" in world.mailer.sent[-1][2]
    with pytest.raises(NotFoundError, match="no pending application"):
        world.service(owner).approve("club-a", "app.c")
    # Staff decide anywhere.
    world.service(applicant).apply("club-a")
    helpdesk = world.c.staff("desk", Role.HELPDESK)
    world.service(helpdesk).approve("club-a", "app.c")
    assert world.tree.person("app.c") in world.members("club-a")
    trail = world.c.trail()
    assert ("circle-approve", "club-a app.c", "denied") in trail
    assert ("circle-approve", "club-a app.c", "ok") in trail


def test_a_circle_keeps_an_owner(world: World) -> None:
    owner = world.alumnus("owner.a")
    member = world.alumnus("member.b")
    world.service(owner).create("club-a", "A", Kind.INTEREST, policy=Policy.OPEN)
    world.service(member).apply("club-a")
    with pytest.raises(ConflictError, match="hand ownership over first"):
        world.service(owner).leave("club-a")
    with pytest.raises(ConflictError, match="hand ownership over first"):
        world.service(ROOT).remove("club-a", "owner.a")
    with pytest.raises(AccessDeniedError):
        world.service(member).hand_over("club-a", "member.b")
    world.service(owner).hand_over("club-a", "member.b")
    world.service(owner).leave("club-a")
    circle = world.service(member).get("club-a")
    assert (circle.owners, circle.members) == (("member.b",), ("member.b",))


def test_invite_only_and_hidden_circles(world: World) -> None:
    owner = world.alumnus("owner.a")
    other = world.alumnus("other.b")
    world.service(owner).create("club-i", "I", Kind.INTEREST, policy=Policy.INVITE)
    with pytest.raises(AccessDeniedError, match="invitation only"):
        world.service(other).apply("club-i")
    with pytest.raises(AccessDeniedError, match="may not add members"):
        world.service(other).add("club-i", "other.b")
    world.service(owner).add("club-i", "other.b")
    assert world.tree.person("other.b") in world.members("club-i")
    with pytest.raises(ConflictError, match="already"):
        world.service(owner).add("club-i", "other.b")
    world.service(owner).create("club-h", "H", Kind.INTEREST, visibility=Visibility.HIDDEN)
    assert "club-h" not in [v.circle.name for v in world.service(other).find()]
    assert "club-h" in [v.circle.name for v in world.service(owner).find(mine=True)]
    assert "club-h" in [v.circle.name for v in world.service(ROOT).find()]


def test_alumni_create_interest_circles_only_and_own_them(world: World) -> None:
    li = world.alumnus("li.lei", alumailGraduationYear=2015)
    world.alumnus("han.mei")
    with pytest.raises(AccessDeniedError, match="create grade circles"):
        world.service(li).create("grade-2015", "2015", Kind.GRADE, year=2015)
    with pytest.raises(AccessDeniedError, match="someone else the owner"):
        world.service(li).create("club-x", "X", Kind.INTEREST, owner="han.mei")
    made = world.service(li).create("club-x", "X", Kind.INTEREST)
    assert made.owners == ("li.lei",)
    with pytest.raises(ConflictError, match="already exists"):
        world.service(li).create("club-x", "X", Kind.INTEREST)


def test_a_flood_of_applications_is_refused(world: World) -> None:
    li = world.alumnus("li.lei")
    for n in range(APPLICATIONS_PER_WINDOW + 1):
        world.service().create(f"open-{n}", "Open", Kind.INTEREST, policy=Policy.OPEN)
    for n in range(APPLICATIONS_PER_WINDOW):
        world.service(li).apply(f"open-{n}")
    with pytest.raises(RateLimitedError):
        world.service(li).apply(f"open-{APPLICATIONS_PER_WINDOW}")
    assert world.tree.person("li.lei") not in world.members(f"open-{APPLICATIONS_PER_WINDOW}")


def test_sync_cohorts_plans_then_applies_once(world: World) -> None:
    world.alumnus("li.lei", alumailGraduationYear=2015, alumailClassCode="F1503101")
    world.alumnus("han.mei", alumailGraduationYear=2016)
    with world.c.root.store.connect() as db:
        db.execute(
            "INSERT INTO roster (student_number, name, graduation_year, class_code) "
            "VALUES ('S1', 'X', 2017, 'F1703102')"
        )
    cohorts = Cohorts(world.service())
    plan = cohorts.plan()
    assert [c.name for c in plan.add] == [
        "grade-2015",
        "grade-2016",
        "grade-2017",
        "class-f1503101",
        "class-f1703102",
    ]
    cohorts.apply(plan)
    assert cohorts.plan().add == []
    with pytest.raises(AccessDeniedError):
        Cohorts(world.service(world.alumnus("x.y"))).plan()


def test_with_interest_approval_an_alumnus_circle_waits_for_staff(world: World) -> None:
    root = world.c.root
    root.settings = replace(root.settings, circles=Circles(interest_approval=True))
    owner = world.alumnus("owner.a")
    other = world.alumnus("other.b")
    made = world.service(owner).create("club-p", "P", Kind.INTEREST, policy=Policy.OPEN)
    assert made.proposed
    assert "club-p" in [v.circle.name for v in world.service(owner).find()]
    assert "club-p" not in [v.circle.name for v in world.service(other).find()]
    with pytest.raises(ConflictError, match="waits for staff"):
        world.service(other).apply("club-p")
    with pytest.raises(AccessDeniedError):
        world.service(owner).activate("club-p")
    world.service(ROOT).activate("club-p")
    assert world.service(other).apply("club-p").state == "approved"
    # Staff's own new circles never wait.
    assert not world.service(ROOT).create("club-s", "S", Kind.INTEREST).proposed


def test_a_flood_is_a_429_with_retry_after_at_the_web_faces() -> None:
    status, body = error_body(RateLimitedError("too many", retry_after=42))
    assert status == 429 and body["error"] == {"type": "rate_limited", "message": "too many"}
