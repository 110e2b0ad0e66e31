"""alumail installed as a user installs it: `pip install` of the project (a wheel, not editable)
into a fresh venv outside the checkout, run from another working directory. The templates must
come with the package (package data read through importlib.resources), not from the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests import support
from tests.support import state_root, write_toml

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CHECKOUT = Path(__file__).resolve().parents[2]
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "state", "test-output", "*.egg-info", "__pycache__", ".*_cache"
)


def run(cmd: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # Nothing of the checkout or of the test's own settings leaks into the installed program.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALUMAIL_", "PYTHON"))}
    return subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_the_wheel_brings_a_stack_up_outside_the_checkout() -> None:
    root = state_root("install")
    venv, workdir = root / "venv", root / "site"
    workdir.mkdir()
    settings = support.test_settings(workdir)
    write_toml(settings, workdir / "alumail.toml")
    try:
        made = run([sys.executable, "-m", "venv", str(venv)], cwd=root)
        assert made.returncode == 0, made.stderr
        # `pip install .` of a fresh copy of the sources: a checkout's build/ folder (setuptools
        # reuses it) could carry files the project no longer ships.
        source = root / "source"
        shutil.copytree(CHECKOUT, source, ignore=NOT_SOURCE)
        # -v shows the build backend's output: setuptools has nothing to warn about (package
        # discovery, package data), pip's own notes about the host's index aside.
        installed = run([str(venv / "bin" / "pip"), "install", "-v", "."], cwd=source)
        assert installed.returncode == 0, installed.stderr
        build_output = installed.stdout + installed.stderr
        for warning in ("SetuptoolsDeprecationWarning", "SetuptoolsWarning", "would be ignored"):
            assert warning not in build_output, warning
        version = run([str(venv / "bin" / "alumail"), "--version"], cwd=workdir)
        declared = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"]
        assert version.stdout.strip() == f"alumail {declared}", version
        where = run(
            [str(venv / "bin" / "python"), "-c", "import mailstack; print(mailstack.__file__)"],
            cwd=workdir,
        )
        assert where.returncode == 0, where.stderr
        for path in where.stdout.split():
            assert Path(path).is_relative_to(venv), f"{path} does not come from the installed wheel"

        alumail = str(venv / "bin" / "alumail")
        up = run([alumail, "up", "--json", "--demo", "demo.alumnus"], cwd=workdir)
        assert up.returncode == 0, up.stderr
        checks = json.loads(up.stdout)["verification"]
        assert checks, "up --demo ran no verification"
        assert all(check["ok"] for check in checks), checks
        status = json.loads(run([alumail, "status", "--json"], cwd=workdir).stdout)
        assert status["state_dir"] == str(settings.state_dir)
        # Run again for people: how to connect and what to do next, the webmail among it.
        again = run([alumail, "up", "--demo", "demo.alumnus"], cwd=workdir)
        assert again.returncode == 0, again.stderr
        assert f"{settings.webmail_url}/index.php/login/oauth" in again.stdout
        assert "next:" in again.stdout and "demo.alumnus" in again.stdout
        # Nothing changed: said so, and no second run of the harness (another test message).
        assert "nothing to change" in again.stderr and "verification not run" in again.stderr
        for step in (f"{settings.public_url}/helpdesk", "alumail staff add", "alumail roster"):
            assert step in again.stdout, step
        assert "alumail logs" in again.stdout
        assert all(s["running"] for s in status["services"].values()), status["services"]
    finally:
        down = run([str(venv / "bin" / "alumail"), "down"], cwd=workdir)
        shutil.rmtree(root, ignore_errors=True)
    assert down.returncode == 0, down.stderr
