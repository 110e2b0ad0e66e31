"""The tests' helpers, one home each: for tests that start real daemons (free loopback ports, a
reachable state directory, test settings, running the real ``alumail`` command, finding our
processes), and the material several tests make (a fixed render context, a self-signed
certificate, crafted tar archives)."""

from __future__ import annotations

import contextlib
import io
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

from click.testing import CliRunner, Result

from identity.accounts import Account
from identity.dit import Tree
from identity.roles import ROOT, Actor
from mailstack.context import RenderContext
from mailstack.keys.dkim import NO_DKIM_KEY
from mailstack.keys.tls import TlsFiles, tls_files
from mailstack.layout import Layout
from mailstack.settings import Ports, Settings, build, to_values
from provisioning import stack
from provisioning.cli import main
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
def new_stack(prefix: str, **extra: object) -> Iterator[Settings]:
    """The settings of a stack not brought up yet, under a root of its own with the settings
    file the CLI reads beside its state; whatever the test started is stopped after, and the
    root removed."""
    root = state_root(prefix)
    settings = test_settings(root, **extra)
    write_toml(settings, root / "alumail.toml")
    try:
        yield settings
    finally:
        stack.down(settings)
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def running_stack(prefix: str, **extra: object) -> Iterator[Settings]:
    """A whole stack brought up by the same code as ``alumail up``, torn down after."""
    with new_stack(prefix, **extra) as settings:
        stack.up(settings)
        yield settings


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


def cli(settings: Settings, *args: str) -> Result:
    """The command line run in this process (click's runner): the same commands as
    :func:`alumail` without a Python start-up each (about 2 s here)."""
    config = settings.state_dir.parent / "alumail.toml"
    return CliRunner().invoke(main, list(args), env={"ALUMAIL_CONFIG": str(config)})


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


def curl(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Debian's curl against the stack, trusting its CA (IMAP, POP3, SMTP, tokens)."""
    ca = str(tls_files(settings).ca_cert)
    return subprocess.run(
        [which("curl"), "--silent", "--show-error", "--max-time", "20", "--cacert", ca, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def self_addressed(folder: Path, account: Account, subject: str) -> Path:
    """A message file from ``account`` to itself."""
    message = folder / "message.eml"
    message.write_text(
        f"From: {account.mail}\r\nTo: {account.mail}\r\nSubject: {subject}\r\n\r\nhello\r\n"
    )
    return message


def curl_send(
    settings: Settings, account: Account, message: Path, *login: str
) -> subprocess.CompletedProcess[str]:
    """``message`` from ``account`` to itself through submission (STARTTLS), curl logging in
    with ``login`` (``-u UID:PASSWORD``, or ``--user UID: --oauth2-bearer TOKEN``)."""
    return curl(
        settings,
        "--ssl-reqd",
        *login,
        f"smtp://{settings.connect_host}:{settings.ports.submission}",
        "--mail-from",
        account.mail,
        "--mail-rcpt",
        account.mail,
        "--upload-file",
        str(message),
    )


@contextmanager
def use_case(kind: type[U], settings: Settings, actor: Actor = ROOT) -> Iterator[U]:
    """The use case of class ``kind`` for ``actor`` from a composition root of its own (as one
    CLI command builds it), closed when the block ends."""
    with Composition(settings) as root:
        yield root.build(kind, actor)


def our_processes(marker: str) -> list[int]:
    """Every live process whose command line or environment names ``marker`` (a state
    directory): what a stack left running, pid file or not."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            data = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if state != "Z" and marker.encode() in data:
            found.append(int(entry.name))
    return found


def fixed_render_context(settings: Settings) -> RenderContext:
    """A render context that reads nothing from the machine: fixed ids and secrets, no key
    material yet (the paths it will have, no fingerprint, no DKIM key)."""
    layout = Layout(settings.state_dir)
    return RenderContext(
        settings=settings,
        layout=layout,
        tree=Tree(settings.base_dn),
        tls=TlsFiles(layout.server_cert, layout.server_key, layout.ca_cert),
        dkim=NO_DKIM_KEY,
        service_passwords={"dovecot": "dovecot-secret", "postfix": "postfix-secret"},
        introspection_secret="introspection-secret",
        webmail_secret="webmail-secret",
        vmail_uid=5000,
        vmail_gid=5000,
        service_uid=5001,
        service_gid=5002,
    )


def self_signed_cert(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for CN ``name`` (and 127.0.0.1) with its private key (0600), both PEM."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True,
        check=True,
    )
    key.chmod(0o600)
    return cert, key


# -- crafted tar archives ---------------------------------------------------------------------

TarMember = tuple[tarfile.TarInfo, bytes | None]  # an entry and its content (None: not a file)


def tar_member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", **fields: object
) -> TarMember:
    """One member as an archive from elsewhere could hold it: ``fields`` set any header field
    (mode, linkname, uname, pax_headers...)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mtime = 1_500_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info, (data if kind == tarfile.REGTYPE else None)


def write_tar(
    path: Path, *members: TarMember, fmt: int = tarfile.PAX_FORMAT, **options: Any
) -> Path:
    """A gzipped tar of ``members``, written exactly as given (nothing checked or normalised)."""
    with tarfile.open(path, "w:gz", format=fmt, **options) as tar:
        for info, data in members:
            tar.addfile(info, None if data is None else io.BytesIO(data))
    return path


def symlink_chain(*beyond: str) -> list[TarMember]:
    """CVE-2025-4517: long symlinks whose resolution exceeds PATH_MAX, so ``filter="data"`` on
    CPython 3.11.7 sees ``Maildir/escape`` inside the destination while it points two levels
    above it (then into ``beyond``), and a file ``planted`` written through it."""
    comp, steps, path = "d" * 247, "abcdefghijklmnop", "Maildir"
    members = [tar_member("Maildir", tarfile.DIRTYPE)]
    for step in steps:
        members.append(tar_member(f"{path}/{comp}", tarfile.DIRTYPE))
        members.append(tar_member(f"{path}/{step}", tarfile.SYMTYPE, linkname=comp))
        path = f"{path}/{comp}"
    long_link = "/".join(["Maildir", *steps, "l" * 254])
    members.append(tar_member(long_link, tarfile.SYMTYPE, linkname="/".join([".."] * len(steps))))
    escape = "/".join([*steps, "l" * 254, "..", "..", *beyond])
    members.append(tar_member("Maildir/escape", tarfile.SYMTYPE, linkname=escape))
    members.append(tar_member("Maildir/escape/planted", data=b"owned\n"))
    return members
