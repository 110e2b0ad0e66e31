"""The unprivileged system user the internet-facing processes (the web service, the outbound
sink) run as, and dropping to it.

Such a process starts as root only to bind its port (443 in production) and to read what root
alone may read (the TLS key); then it becomes ``alumail`` for good, before it touches a request.
What it may still do is what that user may: its own files under the state directory, the
directory as ``cn=web,ou=services`` (slapd maps the user's ldapi peer credentials to that entry),
Dovecot's doveadm server and auth-master sockets (group ``alumail``) and Postfix's submission
socket for local services (group ``postdrop``, Postfix's own "may submit mail" group).
"""

from __future__ import annotations

import grp
import os
import pwd
import subprocess
from dataclasses import dataclass

from identity.errors import ConfigError

SERVICE_USER = "alumail"
# Postfix's group for local mail submission (its public/ sockets and postdrop).
SUBMIT_GROUP = "postdrop"


@dataclass(frozen=True)
class ServiceUser:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary groups


def service_user() -> ServiceUser:
    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError as exc:
        raise ConfigError(
            f"system user '{SERVICE_USER}' is missing: run `make install` (as root) to create it"
        ) from exc
    groups = tuple(
        sorted({g.gr_gid for g in grp.getgrall() if SERVICE_USER in g.gr_mem} - {entry.pw_gid})
    )
    return ServiceUser(SERVICE_USER, entry.pw_uid, entry.pw_gid, groups)


def ensure_service_user() -> list[str]:
    """Create the system user (and its membership of Postfix's submission group) if missing;
    what was done, for the caller to say."""
    done = []
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        _useradd()
        done.append(f"created system user {SERVICE_USER}")
    try:
        submit = grp.getgrnam(SUBMIT_GROUP)
    except KeyError as exc:
        raise ConfigError(
            f"group '{SUBMIT_GROUP}' is missing: Postfix is not installed (run `make install`)"
        ) from exc
    if SERVICE_USER not in submit.gr_mem:
        _run(["usermod", "--append", "--groups", SUBMIT_GROUP, SERVICE_USER])
        done.append(f"added {SERVICE_USER} to group {SUBMIT_GROUP}")
    return done


def _useradd() -> None:
    _run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--home-dir",
            "/nonexistent",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_USER,
        ]
    )


def _run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        raise ConfigError(
            f"system user '{SERVICE_USER}': `{' '.join(cmd)}` failed; create the user with "
            "`make install` (as root)",
            detail=detail,
        ) from exc


def drop_privileges(user: ServiceUser) -> None:
    """Become ``user`` for good (real, effective and saved ids, supplementary groups). Only a
    root process drops; any other process must already be that user."""
    if os.geteuid() != 0:
        if os.getuid() != user.uid:
            raise ConfigError(f"this process must start as root or as {user.name}")
        return
    os.setgroups(list(user.groups))
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)
    os.umask(0o077)
    if 0 in (*os.getresuid(), *os.getresgid()):
        raise ConfigError(f"could not drop root privileges to {user.name}")
