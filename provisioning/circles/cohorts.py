"""``circle sync-cohorts``: a grade circle for every graduation year and a class circle for
every class code that the accounts and the roster carry, planned, then applied. Circles that
exist already are left as they are (their owners, policy and title may have been changed by
staff), so a second run has nothing to do. No one is made a member: alumni apply, and their
record approves them at once (provisioning.circles.service)."""

from __future__ import annotations

from dataclasses import dataclass

from identity.accounts import check_class_code, check_graduation_year
from identity.circles import Circle, Kind, Policy, class_name, grade_name
from identity.dit import Tree
from identity.errors import ValidationError
from identity.markers import N_
from provisioning.circles.service import CircleService
from provisioning.people.lookups import require


@dataclass(frozen=True)
class CohortPlan:
    """The circles a sync would add, and how many cohort circles exist already."""

    add: list[Circle]
    present: int

    def as_dict(self) -> dict[str, object]:
        return {
            "add": [
                {
                    "name": c.name,
                    "kind": c.kind.value,
                    "title": c.title,
                    "year": c.year,
                    "class_code": c.class_code,
                }
                for c in self.add
            ],
            "present": self.present,
        }


def grade_circle(year: int) -> Circle:
    # One title for both languages: the directory holds one, and each reads its own half.
    return Circle(
        name=grade_name(year),
        title=f"{year}届 · Class of {year}",
        kind=Kind.GRADE,
        policy=Policy.APPROVAL,
        year=year,
    )


def class_circle(code: str) -> Circle:
    return Circle(
        name=class_name(code),
        title=f"{code}班 · Class {code}",
        kind=Kind.CLASS,
        policy=Policy.APPROVAL,
        class_code=code,
    )


class Cohorts:
    def __init__(self, circles: CircleService) -> None:
        self.circles = circles
        self.tree: Tree = circles.tree

    def plan(self) -> CohortPlan:
        require(self.circles.actor, self.circles.is_staff, N_("sync cohort circles"))
        years, codes = self._records()
        wanted = [grade_circle(y) for y in sorted(years)] + [class_circle(c) for c in sorted(codes)]
        rows = self.circles.writer.search(
            self.tree.circles,
            "(|(alumailCircleKind=grade)(alumailCircleKind=class))",
            ["cn"],
            scope="one",
        )
        existing = {entry["cn"][0].lower() for _, entry in rows}
        return CohortPlan([c for c in wanted if c.name not in existing], len(existing))

    def _records(self) -> tuple[set[int], set[str]]:
        """Years and class codes on accounts and in the roster. A value breaking its rule
        (written before the rule, or straight to the store) is skipped, not made a circle."""
        years: set[int] = set()
        codes: set[str] = set()
        rows = self.circles.writer.search(
            self.tree.people,
            "(|(alumailGraduationYear=*)(alumailClassCode=*))",
            ["alumailGraduationYear", "alumailClassCode"],
            scope="one",
        )
        pairs: list[tuple[object, object]] = [
            (_first(e.get("alumailGraduationYear")), _first(e.get("alumailClassCode")))
            for _, e in rows
        ]
        with self.circles.store.connect() as db:
            pairs += db.execute(
                "SELECT DISTINCT graduation_year, class_code FROM roster "
                "WHERE graduation_year IS NOT NULL OR class_code IS NOT NULL"
            ).fetchall()
        for year, code in pairs:
            try:
                if year is not None:
                    years.add(check_graduation_year(str(year)))
                if code:
                    codes.add(check_class_code(str(code)))
            except ValidationError:
                continue
        return years, codes

    def apply(self, plan: CohortPlan) -> None:
        """Each circle added and audited on its own (circle-create): one that fails stops the
        run with the ones before it in place, and a rerun adds the rest."""
        for circle in plan.add:
            self.circles.create(
                circle.name,
                circle.title,
                circle.kind,
                policy=circle.policy,
                year=circle.year,
                class_code=circle.class_code,
            )


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None
