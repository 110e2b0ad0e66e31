"""Writing rendered files: atomically (``.new`` then rename), only when the content changed, with
the owner and mode each file needs."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import time
from dataclasses import dataclass
from pathlib import Path

from identity.errors import ConfigError

BACKDATE_SECONDS = 10


@dataclass(frozen=True)
class FileSpec:
    """One rendered file. ``relpath`` is relative to the state directory."""

    relpath: str
    text: str
    mode: int = 0o644
    owner: str = "root"
    group: str = "root"


def ensure_dir(path: Path, mode: int = 0o755, owner: str = "root", group: str = "root") -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        # An unprivileged process (the web service) uses the folders root set up for it: it
        # may change neither their owner nor, in folders it does not own, their mode.
        return
    os.chmod(path, mode)
    uid, gid = pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    st = path.stat()
    if (st.st_uid, st.st_gid) != (uid, gid):
        os.chown(path, uid, gid)


def write_atomic(
    path: Path, text: str, *, mode: int = 0o644, owner: str = "root", group: str = "root"
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chown(tmp, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
        os.chmod(tmp, mode)
        # Postfix commands stall ~2 s while main.cf is younger than ~2 s; a file dated a
        # little in the past costs nothing and saves that on every config change.
        past = time.time() - BACKDATE_SECONDS
        os.utime(tmp, (past, past))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def changed(root: Path, specs: list[FileSpec]) -> list[FileSpec]:
    """The specs whose file is missing or differs in content, owner or mode."""
    out = []
    for spec in specs:
        path = root / spec.relpath
        try:
            st = path.stat()
        except FileNotFoundError:
            out.append(spec)
            continue
        if not stat.S_ISREG(st.st_mode):
            # Never removed for the user: a folder here may hold something they put there.
            raise ConfigError(
                f"{path} is where alumail writes a rendered file, but it is not a regular file: "
                "move it away, then run `alumail up` again"
            )
        current = path.read_bytes()  # compared as bytes: a damaged file is just rewritten
        same_owner = (st.st_uid, st.st_gid) == (
            pwd.getpwnam(spec.owner).pw_uid,
            grp.getgrnam(spec.group).gr_gid,
        )
        if current != spec.text.encode() or (st.st_mode & 0o7777) != spec.mode or not same_owner:
            out.append(spec)
    return out


def install(root: Path, specs: list[FileSpec]) -> None:
    for spec in specs:
        write_atomic(
            root / spec.relpath, spec.text, mode=spec.mode, owner=spec.owner, group=spec.group
        )
