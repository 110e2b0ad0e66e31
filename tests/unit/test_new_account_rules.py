"""One place makes a new account (plan_account): an import row gets the same account, and the
same refusals, as ``account create`` with the same values."""

from __future__ import annotations

from pathlib import Path

import pytest

from identity.errors import ValidationError
from mailstack.settings import Settings, build
from provisioning.bulk.importer import parse_row
from provisioning.people.accounts import plan_account

pytestmark = pytest.mark.unit

ROW = {
    "uid": "zhang.san",
    "display_name": " 张三 ",
    "given_name": "三",
    "family_name": "",
    "student_number": "5110309001",
    "graduation_year": "2015",
    "recovery_email": "zhang.san@Example.ORG",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return build({}, base=tmp_path)


def test_an_import_row_is_the_account_create_plans(settings: Settings) -> None:
    planned = plan_account(
        settings,
        "zhang.san",
        "张三",
        given_name="三",
        student_number="5110309001",
        graduation_year="2015",
        recovery_email="zhang.san@example.org",
    )
    assert parse_row(2, ROW, settings).account == planned
    assert planned.mail == f"zhang.san@{settings.domain}" and planned.family_name is None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("recovery_email", "someone@{domain}"),
        ("recovery_email", "not an address"),
        ("graduation_year", "1800"),
        ("given_name", "\u0007"),
    ],
)
def test_a_row_is_refused_by_the_rule_account_create_applies(
    settings: Settings, column: str, value: str
) -> None:
    value = value.format(domain=settings.domain)
    with pytest.raises(ValidationError) as by_create:
        plan_account(settings, "zhang.san", "张三", **{column: value})
    with pytest.raises(ValidationError) as by_import:
        parse_row(2, {**ROW, column: value}, settings)
    assert (by_import.value.field, by_import.value.rule) == (column, by_create.value.rule)


def test_an_import_names_the_display_name_column(settings: Settings) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_row(2, {**ROW, "display_name": "  "}, settings)
    assert refused.value.field == "display_name"


def test_an_import_composes_an_empty_display_name_family_name_first(settings: Settings) -> None:
    han = parse_row(2, {**ROW, "display_name": "", "family_name": "张"}, settings)
    assert han.account.display_name == "张三"
    latin = {**ROW, "display_name": "", "given_name": "San", "family_name": "Zhang"}
    assert parse_row(2, latin, settings).account.display_name == "San Zhang"
