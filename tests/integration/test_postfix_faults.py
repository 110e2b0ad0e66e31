"""Three faults that stopped Postfix inside a container: the production listen address, the
checker's silent refusal, and recognising our own master process without the right to read its
environment (a container's default capabilities lack CAP_SYS_PTRACE)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from identity.errors import ConfigError
from mailstack.context import RenderContext
from mailstack.daemons.postfix import Postfix
from mailstack.layout import Layout
from mailstack.process import read_pid
from mailstack.settings import Settings, build
from tests.support import fixed_render_context, state_root, which

# podman's default capabilities for a container (podman 4, containers.conf's default_capabilities)
CONTAINER_CAPABILITIES = [
    "chown",
    "dac_override",
    "fowner",
    "fsetid",
    "kill",
    "net_bind_service",
    "setfcap",
    "setgid",
    "setpcap",
    "setuid",
    "sys_chroot",
]


def context(root: Path, **values: object) -> RenderContext:
    settings = build({"domain": "alumni.test.example", "state_dir": str(root), **values}, base=root)
    return fixed_render_context(settings)


def main_cf(ctx: RenderContext) -> dict[str, str]:
    text = next(s.text for s in Postfix(ctx).render() if s.relpath.endswith("/main.cf"))
    pairs = (line.split(" = ", 1) for line in text.splitlines() if " = " in line)
    return {key: value for key, value in pairs if not key.startswith("#")}


@pytest.mark.unit
@pytest.mark.parametrize(("listen", "expected"), [("0.0.0.0", "all"), ("::", "all")])
def test_every_address_is_all_for_postfix(listen: str, expected: str) -> None:
    """Postfix refuses inet_interfaces = 0.0.0.0 ("no local interface found for 0.0.0.0")."""
    assert main_cf(context(Path("/srv/alumail"), listen=listen))["inet_interfaces"] == expected


@pytest.mark.unit
def test_one_address_stays_that_address() -> None:
    ctx = context(Path("/srv/alumail"), listen="127.0.0.1")
    assert main_cf(ctx)["inet_interfaces"] == "127.0.0.1"


@pytest.mark.integration
def test_postfix_check_says_why_it_refused() -> None:
    """postfix(1) writes its reason only to syslog, its log file, or a terminal: the error must
    carry it all the same. A queue directory that does not exist is refused by `postfix check`
    alone (postconf accepts it)."""
    root = state_root("pfcheck")
    try:
        ctx = context(root / "state")
        staging = root / "staging"
        for spec in Postfix(ctx).render():
            path = staging / spec.relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(spec.text)
        with pytest.raises(ConfigError) as refused:
            Postfix(ctx).check(staging)
        assert "postfix check failed" in str(refused.value)
        assert f"chdir({ctx.layout.postfix_queue})" in refused.value.detail
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.integration
def test_our_postfix_is_recognised_with_container_capabilities(live_stack: Settings) -> None:
    """Run the recognition as a container's root would (podman's default capabilities): Postfix's
    master is still found, so `up` does not wait for it in vain."""
    queue = Layout(live_stack.state_dir).postfix_queue
    master = read_pid(queue / "pid" / "master.pid")
    assert master is not None
    drop = ",".join(["-all", *(f"+{cap}" for cap in CONTAINER_CAPABILITIES)])
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from mailstack.context import control_context\n"
        "from mailstack.daemons.postfix import Postfix\n"
        "from mailstack.settings import load\n"
        "pid = int(sys.argv[1])\n"
        "try:\n"
        "    Path(f'/proc/{pid}/environ').read_bytes()\n"
        "    print('environ readable')\n"
        "except PermissionError:\n"
        "    print('environ unreadable')\n"
        "print(Postfix(control_context(load(Path(sys.argv[2])))).pid())\n"
    )
    config = live_stack.state_dir.parent / "alumail.toml"
    proc = subprocess.run(
        [
            which("setpriv"),
            "--bounding-set",
            drop,
            "--inh-caps",
            "-all",
            sys.executable,
            "-c",
            probe,
            str(master),
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    # The probe really lacked the right the old recognition needed.
    assert proc.stdout.splitlines() == ["environ unreadable", str(master)]
