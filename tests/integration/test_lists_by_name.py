"""Pinyin order beyond the helpdesk, against the session's real stack: `alumail account list
--sort name` and GET /api/v1/accounts?sort=name list Han names by their pinyin among the
others, and paging by offset keeps that order; `alumail roster list` and GET /api/v1/roster list
the roster's graduates (staff only; the unregistered ones alone if asked), found by Han name,
pinyin, Latin name or student number, without birth dates."""

from __future__ import annotations

import json
import secrets
import string
from pathlib import Path

import pytest

from identity.names import sort_key
from identity.roles import Role
from mailstack.settings import Settings
from provisioning.composition import Composition
from provisioning.people import roster
from tests.support import NewAccount, cli
from tests.web import bearer, client, staff_token

pytestmark = pytest.mark.integration
NAMES = ("张伟", "Bob", "安娜", "Zhao Lei", "王芳")


def tag() -> str:
    """A word no other test's names hold: the searches below find only this test's people."""
    return "q" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(7))


def test_accounts_listed_by_name_page_in_that_order(
    live_stack: Settings, new_account: NewAccount
) -> None:
    word = tag()
    made = {new_account(name=f"{name} {word}")[0].uid: f"{name} {word}" for name in NAMES}
    by_name = sorted(made, key=lambda uid: (sort_key(made[uid]), uid))
    listed = cli(live_stack, "account", "list", "--search", word, "--sort", "name", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [a["uid"] for a in json.loads(listed.stdout)] == by_name
    assert [made[uid].split()[0] for uid in by_name] == ["安娜", "Bob", "王芳", "张伟", "Zhao"]
    by_name_args = ("account", "list", "--search", word, "--sort", "name", "--json")
    pages = [
        cli(live_stack, *by_name_args, "--limit", "2", "--offset", str(offset))
        for offset in (0, 2, 4)
    ]
    assert [a["uid"] for p in pages for a in json.loads(p.stdout)] == by_name
    by_uid = cli(live_stack, "account", "list", "--search", word, "--json")
    assert [a["uid"] for a in json.loads(by_uid.stdout)] == sorted(made)  # the default
    wrong = cli(live_stack, "account", "list", "--sort", "pinyin")
    assert wrong.exit_code == 2 and "'uid'" in wrong.stderr and "'name'" in wrong.stderr
    token = staff_token(live_stack, Role.HELPDESK)
    with client(live_stack) as http:
        api = [
            http.get(
                "/api/v1/accounts",
                params={"search": word, "sort": "name", "limit": 3, "offset": offset},
                headers=bearer(token),
            ).json()["accounts"]
            for offset in (0, 3)
        ]
    assert [a["uid"] for page in api for a in page] == by_name


def on_roster(settings: Settings, tmp: Path, word: str) -> dict[str, str]:
    """This test's graduates through `alumail roster import`: {student number: name}."""
    rows = {
        f"R{secrets.randbelow(10**9):09d}": name for name in ("张伟", "安娜", "王芳", "欧阳娜娜")
    }
    path = tmp / "roster.csv"
    path.write_text(
        "student_number,name,birth_date,graduation_year,legacy_address,latin_name\n"
        + "".join(f"{n},{name},1990-01-02,2012,,Latin {word}\n" for n, name in rows.items()),
        encoding="utf-8",
    )
    done = cli(settings, "roster", "import", str(path))
    assert done.exit_code == 0, done.stderr
    return rows


def test_the_roster_is_listed_for_staff_by_name_or_number(
    live_stack: Settings, tmp_path: Path
) -> None:
    word = tag()
    rows = on_roster(live_stack, tmp_path, word)
    zhang = next(n for n, name in rows.items() if name == "张伟")
    with Composition(live_stack) as root:
        assert roster.mark_registered(root.store, zhang, f"zw.{word}")
    listed = cli(live_stack, "roster", "list", "--search", word, "--sort", "name", "--json")
    assert listed.exit_code == 0, listed.stderr
    found = json.loads(listed.stdout)
    assert [g["name"] for g in found] == ["安娜", "欧阳娜娜", "王芳", "张伟"]
    assert all("birth_date" not in g and "legacy_address" not in g for g in found)
    assert next(g for g in found if g["name"] == "张伟")["registered_uid"] == f"zw.{word}"
    waiting = cli(live_stack, "roster", "list", "--search", word, "--unregistered", "--json")
    assert [g["student_number"] for g in json.loads(waiting.stdout)] == sorted(
        n for n in rows if n != zhang
    )
    for query in ("欧阳娜娜", "ouyang nana", "OuyangNana"):
        one = cli(live_stack, "roster", "list", "--search", query, "--json")
        assert any(g["name"] == "欧阳娜娜" for g in json.loads(one.stdout)), query
    table = cli(live_stack, "roster", "list", "--search", zhang)
    assert table.exit_code == 0 and zhang in table.stdout and "1990" not in table.stdout
    tokens = {r.value: staff_token(live_stack, r) for r in (Role.ADMIN, Role.HELPDESK)}
    with client(live_stack) as http:
        pages = [
            http.get(
                "/api/v1/roster",
                params={"search": word, "sort": "name", "limit": 2, "offset": offset},
                headers=bearer(tokens["helpdesk"]),
            )
            for offset in (0, 2)
        ]
        unregistered = http.get(
            "/api/v1/roster",
            params={"search": zhang, "unregistered": "true"},
            headers=bearer(tokens["admin"]),
        )
        anonymous = http.get("/api/v1/roster")
        refused = http.get(
            "/api/v1/roster", params={"search": " "}, headers=bearer(tokens["admin"])
        )
    assert [g["name"] for p in pages for g in p.json()["graduates"]] == [g["name"] for g in found]
    assert unregistered.json() == {"graduates": []}
    assert anonymous.status_code == 401
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "search"
