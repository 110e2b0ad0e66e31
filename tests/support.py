"""Helpers for tests that start real daemons: free loopback ports, a reachable state
directory, test settings, and running the real ``alumail`` command."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Protocol, TypeVar

from identity.accounts import Account
from identity.roles import ROOT, Actor
from mailstack.settings import Ports, Settings, build, to_values
from provisioning import stack
from provisioning.composition import Composition

U = TypeVar("U")

# The daemons drop privileges: their state must sit below folders every user can search, and
# OpenDKIM refuses keys and configuration below a folder every user can write (such as /tmp).
# pytest's tmp_path is under /tmp, so tests make their own state under a root-owned folder.
TEST_ROOT = Path(os.environ.get("ALUMAIL_TEST_ROOT", "/var/lib/alumail-tests"))


class NewAccount(Protocol):
    """The ``new_account`` fixture: makes a fresh account, returns it with its password."""

    def __call__(self, name: str = ..., password: str = ..., **kw: Any) -> tuple[Account, str]: ...


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in sockets:
            s.close()
    return ports


def state_root(prefix: str) -> Path:
    TEST_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f"alumail-{prefix}-", dir=TEST_ROOT))
    os.chmod(path, 0o755)  # noqa: S103 -- the daemons must reach the state directory
    return path


def test_settings(root: Path, **extra: object) -> Settings:
    names = [f.name for f in fields(Ports)]
    values: dict[str, object] = {
        "domain": "alumni.test.example",
        "state_dir": str(root / "state"),
        "auth.failure_delay": 0,
        "auth.penalty": False,
    }
    values.update({f"ports.{n}": p for n, p in zip(names, free_ports(len(names)), strict=True)})
    values.update(extra)
    return build(values, base=root)


def write_toml(settings: Settings, path: Path) -> Path:
    """The settings file the CLI reads: every setting of ``settings``, so a command run with
    it acts on exactly the stack the test brought up."""
    sections: dict[str, list[str]] = {"": []}
    for key, value in to_values(settings).items():
        section, _, name = key.rpartition(".")
        sections.setdefault(section, []).append(f"{name} = {_toml(value)}")
    lines = list(sections.pop(""))
    for section, entries in sections.items():
        lines += [f"[{section}]", *entries]
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@contextlib.contextmanager
def running_stack(prefix: str, **extra: object) -> Iterator[Settings]:
    """A whole stack brought up by the same code as ``alumail up``, torn down after."""
    root = state_root(prefix)
    settings = test_settings(root, **extra)
    write_toml(settings, root / "alumail.toml")
    try:
        stack.up(settings)
        yield settings
    finally:
        stack.down(settings)
        shutil.rmtree(root, ignore_errors=True)


def alumail(
    settings: Settings, *args: str, stdin: str | None = None, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run the real command line, as a sysadmin would."""
    config = settings.state_dir.parent / "alumail.toml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALUMAIL_")}
    env["ALUMAIL_CONFIG"] = str(config)
    proc = subprocess.run(
        [sys.executable, "-m", "provisioning", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"alumail {' '.join(args)} exited {proc.returncode}:\n{proc.stderr}")
    return proc


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, interval: float = 0.1) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def stack_status(settings: Settings) -> dict[str, Any]:
    """``alumail status`` as the JSON-shaped tree it is: tests read into it by key."""
    return stack.status(settings)


def member_bytes(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    """The content of a regular file in an archive (``extractfile`` is None for the others)."""
    handle = tar.extractfile(member)
    assert handle is not None, f"{member.name} is not a regular file"
    return handle.read()


def which(program: str) -> str:
    found = shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if not found:
        raise AssertionError(f"{program} is not installed: `make install` installs it")
    return found


@contextmanager
def use_case(kind: type[U], settings: Settings, actor: Actor = ROOT) -> Iterator[U]:
    """The use case of class ``kind`` for ``actor`` from a composition root of its own (as one
    CLI command builds it), closed when the block ends."""
    with Composition(settings) as root:
        yield root.build(kind, actor)
