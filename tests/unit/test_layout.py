"""Every path under the state directory is named on ``Layout``: no module joins a literal name
onto the state directory itself, and the names stay those existing state directories use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from mailstack import stack as mail
from mailstack.layout import Layout
from provisioning import stack
from tests.unit.test_render import fixed_context

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
STATE_DIR_NAMES = {"state_dir", "root"}


def _is_layout_log(node: ast.expr) -> bool:
    """``layout.log``, ``self.layout.log``, ``ctx.layout.log``."""
    if not (isinstance(node, ast.Attribute) and node.attr == "log"):
        return False
    owner = node.value
    return getattr(owner, "attr", getattr(owner, "id", None)) == "layout"


def _invented_paths(source: Path) -> list[str]:
    """``X / "name"`` where X is the state directory (``state_dir``, ``root``, ``….root``) or
    its log folder."""
    found = []
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            continue
        left, right = node.left, node.right
        name = left.attr if isinstance(left, ast.Attribute) else getattr(left, "id", None)
        if (name in STATE_DIR_NAMES or _is_layout_log(left)) and isinstance(right, ast.Constant):
            found.append(f"{source.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_invents_a_path_under_the_state_directory() -> None:
    sources = [*(REPO / "mailstack").rglob("*.py"), *(REPO / "provisioning").rglob("*.py")]
    assert len(sources) > 20
    invented = [
        hit for source in sources if source.name != "layout.py" for hit in _invented_paths(source)
    ]
    assert invented == []


def test_the_layout_keeps_the_paths_existing_state_directories_use() -> None:
    layout = Layout(Path("/state"))
    relative = {
        "ldap": "ldap",
        "slapd_d": "ldap/slapd.d",
        "slapd_d_stamp": "ldap/slapd.d.source",
        "ldap_data": "ldap/data",
        "archive": "archive",
        "transfer": "transfer",
        "tmp": "tmp",
        "postfix": "postfix",
        "postfix_queue": "postfix/queue",
        "dovecot": "dovecot",
        "dovecot_state": "dovecot/state",
        "outbound": "outbound",
        "web": "web",
        "web_db": "web/service.db",
        "web_key": "web/key",
        "audit": "audit",
        "audit_log": "audit/audit.jsonl",
        "dkim": "dkim",
    }
    assert {name: str(getattr(layout, name)) for name in relative} == {
        name: f"/state/{path}" for name, path in relative.items()
    }


def test_every_daemon_logs_to_the_file_named_after_it() -> None:
    ctx = fixed_context()
    logfiles = {d.name: getattr(d, "logfile", None) for d in mail.daemons(ctx, stack.DAEMONS)}
    assert logfiles == {name: ctx.layout.root / "log" / f"{name}.log" for name in logfiles}
    assert Layout(Path("/state")).logfile("slapd") == Path("/state/log/slapd.log")
