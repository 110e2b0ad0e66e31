import json
from pathlib import Path

import pytest

from identity.roles import ROOT, Actor, Role
from provisioning.audit import AuditLog

pytestmark = pytest.mark.unit


def test_lines_chain_and_never_hold_secrets(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.record(ROOT, "create", "zhang.san", "ok", changes={"password": "Secret-1", "quota": 5})
    log.record(
        Actor("desk.li", Role.HELPDESK),
        "reset-password",
        "admin.wang",
        "denied",
        detail="may not act on staff",
    )
    lines = list(log.lines())
    assert [x["action"] for x in lines] == ["create", "reset-password"]
    assert lines[0]["changes"] == {"password": "changed", "quota": 5}
    assert lines[1]["role"] == "helpdesk" and lines[1]["outcome"] == "denied"
    assert "Secret-1" not in log.path.read_text()
    assert log.verify() is None
    assert [x["target"] for x in log.query(actor="desk.li")] == ["admin.wang"]


def test_editing_a_line_breaks_the_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(4):
        log.record(ROOT, "create", f"user{n}", "ok")
    text = log.path.read_text().splitlines()
    edited = json.loads(text[1])
    edited["target"] = "someone.else"
    text[1] = json.dumps(edited, ensure_ascii=False, sort_keys=True)
    log.path.write_text("\n".join(text) + "\n")
    assert log.verify() == 3  # the line after the edited one no longer links


def test_removing_a_line_breaks_the_chain(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl")
    for n in range(3):
        log.record(ROOT, "create", f"user{n}", "ok")
    lines = log.path.read_text().splitlines()
    log.path.write_text("\n".join([lines[0], lines[2]]) + "\n")
    assert log.verify() == 2
