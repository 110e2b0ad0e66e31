"""The production image, built the way `make image` builds it (docker/build.sh: podman with runc,
a Debian base made by debootstrap, a wheelhouse from the host) and run with a container's default
capabilities and the production settings (docker/alumail.toml: every address, standard ports).
The stack inside answers IMAPS, submission and the web service through published loopback ports,
and `alumail verify` passes inside it. One build, one run."""

from __future__ import annotations

import imaplib
import json
import resource
import secrets
import smtplib
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import free_ports, wait_for, which

pytestmark = [pytest.mark.e2e, pytest.mark.image, pytest.mark.timeout(900)]

CHECKOUT = Path(__file__).resolve().parents[2]
TAG = "localhost/alumail:test"
MAIL_HOST = "mail.alumni.example.edu"  # docker/alumail.toml
PASSWORD = "Correct-Horse-42-image"
# The container's published ports (inside: docker/alumail.toml's production ports).
INSIDE = {"imaps": 993, "submission": 587, "web": 443, "webmail": 8443}
# podman's default rlimits are refused on these machines: the same limits as docker/build.sh.
NOFILE = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
LIMITS = ["--ulimit", f"nofile={NOFILE}:{NOFILE}", "--ulimit", "nproc=4096:4096"]


@dataclass(frozen=True)
class Container:
    name: str
    ports: dict[str, int]  # service -> published port on 127.0.0.1


def podman(
    *args: str, stdin: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [which("podman"), "--runtime", "runc", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def image() -> str:
    pip = str(Path(sys.executable).with_name("pip"))
    built = subprocess.run(
        ["bash", str(CHECKOUT / "docker" / "build.sh"), TAG],
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "PIP": pip},
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    return TAG


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[Container]:
    name = f"alumail-test-{secrets.token_hex(4)}"
    ports = dict(zip(INSIDE, free_ports(len(INSIDE)), strict=True))
    published = [f"--publish=127.0.0.1:{ports[s]}:{INSIDE[s]}" for s in INSIDE]
    started = podman("run", "--detach", "--name", name, *LIMITS, *published, image)
    assert started.returncode == 0, started.stderr
    try:
        # The image's own HEALTHCHECK says when every endpoint answers.
        healthy = wait_for(
            lambda: podman("healthcheck", "run", name).returncode == 0, timeout=180, interval=2
        )
        logs = podman("logs", name).stdout
        assert healthy, f"never healthy:\n{logs[-4000:]}\n{podman('healthcheck', 'run', name)}"
        yield Container(name, ports)
    finally:
        podman("rm", "--force", "--volumes", name)


def exec_in(
    container: Container, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return podman("exec", "--interactive", container.name, *args, stdin=stdin)


def test_runtime_image_holds_no_compiler_or_headers_and_runs_root_without_extra_rights(
    container: Container,
) -> None:
    # No compiler, no pip, no development package (a runtime package may still ship a header:
    # iproute2 puts one under /usr/include, and that is no build tool chain).
    found = exec_in(
        container, "sh", "-c",
        "command -v gcc cc c++ make pip; dpkg-query -W -f='${Package}\\n' "
        "| grep -E -- '-dev$|^(gcc|g\\+\\+|cpp|build-essential|python3-pip)(-[0-9.]+)?$'",
    )  # fmt: skip
    assert found.stdout.strip() == "", found.stdout
    caps = exec_in(container, "sh", "-c", "grep CapEff /proc/1/status")
    # podman's defaults: no CAP_SYS_PTRACE (bit 19), no CAP_SYS_ADMIN (bit 21).
    effective = int(caps.stdout.split()[1], 16)
    assert not effective & (1 << 19) and not effective & (1 << 21), caps.stdout


def test_the_stack_in_the_container_verifies_and_answers_through_published_ports(
    container: Container,
) -> None:
    created = exec_in(
        container,
        "alumail", "account", "create", "demo.alumnus", "--name", "Demo Alumnus",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    verified = exec_in(
        container, "alumail", "verify", "demo.alumnus", "--password-stdin", "--json",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True

    # From the host, through the published ports, trusting the stack's own CA.
    ca = exec_in(container, "cat", "/var/lib/alumail/tls/ca.crt")
    assert ca.returncode == 0, ca.stderr
    tls = ssl.create_default_context(cadata=ca.stdout)
    with imaplib.IMAP4_SSL(
        "127.0.0.1", container.ports["imaps"], ssl_context=tls, timeout=30
    ) as imap:
        assert imap.login("demo.alumnus", PASSWORD)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
    with smtplib.SMTP("127.0.0.1", container.ports["submission"], timeout=30) as smtp:
        smtp.starttls(context=tls)
        smtp.ehlo()
        assert smtp.login("demo.alumnus", PASSWORD)[0] == 235
    # The certificate names the mail host and loopback: the portal over TLS answers.
    with urllib.request.urlopen(
        f"https://127.0.0.1:{container.ports['web']}/", context=tls, timeout=30
    ) as page:
        assert page.status == 200
        assert "<html" in page.read().decode().lower()
    # Roundcube behind the container's nginx, over TLS with the same certificate: its login form.
    with urllib.request.urlopen(
        f"https://127.0.0.1:{container.ports['webmail']}/", context=tls, timeout=30
    ) as page:
        assert page.status == 200
        assert 'name="_user"' in page.read().decode()
