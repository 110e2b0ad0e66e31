"""Small process helpers shared by the daemon modules: running a command, pid files, waiting."""

from __future__ import annotations

import os
import pty
import resource
import select
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from identity.errors import AlumailError
from mailstack.errors import DaemonError
from mailstack.logs import open_log


def run(
    cmd: Sequence[str],
    *,
    error: type[AlumailError] = DaemonError,
    what: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 60,
    strict: bool = False,
    terminal: bool = False,
) -> str:
    """Run ``cmd``; its stdout on success, ``error`` carrying its output on failure.

    ``strict``: a ``warning:`` on stderr is a failure too (postconf warns and exits 0).
    ``terminal``: its stderr is a pseudo-terminal, for programs that write their messages to
    stderr only when it is one (postfix(1); elsewhere they go to a syslog that may not exist).
    """
    try:
        if terminal:
            returncode, stdout, stderr = _run_on_terminal(cmd, env, timeout)
        else:
            proc = subprocess.run(
                list(cmd), capture_output=True, text=True, env=env, timeout=timeout, check=False
            )
            returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    except FileNotFoundError as exc:
        raise DaemonError(f"{cmd[0]} is not installed (run `make up` or `make install`)") from exc
    except subprocess.TimeoutExpired as exc:
        raise DaemonError(f"{what or cmd[0]} did not finish in {timeout:.0f} s") from exc
    warned = strict and any("warning:" in line for line in stderr.splitlines())
    if returncode != 0 or warned:
        output = (stderr if warned else stderr + stdout).strip()
        outcome = f"failed (exit {returncode})" if returncode else "reported warnings"
        raise error(f"{what or cmd[0]} {outcome}", detail=output)
    return stdout


def _run_on_terminal(
    cmd: Sequence[str], env: dict[str, str] | None, timeout: float
) -> tuple[int, str, str]:
    """Run ``cmd`` with its stderr on a new pseudo-terminal: (exit code, stdout, stderr)."""
    leader, follower = pty.openpty()
    try:
        with subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=env,
        ) as proc:
            os.close(follower)
            follower = -1
            stdout, stderr = _drain(proc, leader, time.monotonic() + timeout)
            returncode = proc.wait()
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    # A terminal turns each newline into CR LF.
    return (
        returncode,
        stdout.decode(errors="replace"),
        stderr.decode(errors="replace").replace("\r\n", "\n"),
    )


def _drain(proc: subprocess.Popen[bytes], leader: int, deadline: float) -> tuple[bytes, bytes]:
    """Read the command's stdout pipe and its terminal until both are closed (the terminal
    reports EIO once every process holding it has gone)."""
    assert proc.stdout is not None
    streams = {proc.stdout.fileno(): bytearray(), leader: bytearray()}
    open_fds = set(streams)
    while open_fds:
        left = deadline - time.monotonic()
        if left <= 0:
            proc.kill()
            raise subprocess.TimeoutExpired(proc.args, 0)
        ready, _, _ = select.select(list(open_fds), [], [], left)
        for fd in ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the terminal's last holder has closed it
                chunk = b""
            if chunk:
                streams[fd] += chunk
            else:
                open_fds.discard(fd)
    return bytes(streams[proc.stdout.fileno()]), bytes(streams[leader])


def start_daemon(
    cmd: Sequence[str],
    logfile: Path,
    *,
    what: str,
    env: dict[str, str] | None = None,
    timeout: float = 30,
    running: Callable[[], bool] | None = None,
    wait: float = 10,
) -> None:
    """Run a command that forks a daemon. Its output goes to the daemon's log file, not to a
    pipe: the daemon inherits the descriptors and would hold a pipe open for ever. With
    ``running``, wait up to ``wait`` seconds for it to say the daemon runs (its pid file)."""
    with os.fdopen(open_log(logfile), "ab") as log:
        size = log.seek(0, os.SEEK_END)
        try:
            proc = subprocess.run(
                list(cmd),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise DaemonError(f"{what} did not finish in {timeout:.0f} s") from exc
    if proc.returncode != 0:
        with open(logfile, "rb") as log:
            log.seek(size)
            output = log.read().decode(errors="replace").strip()
        raise DaemonError(f"{what} failed (exit {proc.returncode})", detail=output)
    if running is not None and not wait_until(running, wait):
        raise DaemonError(f"{what}: not running after {wait:.0f} s", detail=log_tail(logfile))


def read_pid(pidfile: Path) -> int | None:
    try:
        text = pidfile.read_text().strip().split()[0]
        return int(text)
    except (FileNotFoundError, IndexError, ValueError):
        return None


def _stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (state, parent, ...), or []."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return []
    return stat.rsplit(")", 1)[1].split()


def state_of(pid: int) -> str | None:
    """The process's state letter (R, S, Z, ...), or None when there is no such process."""
    fields = _stat(pid)
    return fields[0] if fields else None


def parent_of(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def alive(pid: int) -> bool:
    """True for a live process. A zombie counts as stopped: PID 1 here reaps late."""
    return state_of(pid) not in (None, "Z", "X")


def mentions(pid: int, marker: str) -> bool:
    """True if the process's command line names ``marker`` (our state directory): we only ever
    signal processes that are provably ours. Only the command line: /proc/PID/environ and
    /proc/PID/exe of a root daemon are unreadable without CAP_SYS_PTRACE, which a container's
    default capabilities lack."""
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def holds_lock(pid: int, path: Path) -> bool:
    """True if ``pid`` holds a lock on the file ``path``. Read from /proc/locks, which needs no
    ptrace right (unlike /proc/PID/fd), so it works with a container's default capabilities.
    Matched by inode number: on overlayfs the lock's device is the upper layer's, not stat's."""
    try:
        inode = str(path.stat().st_ino)
        table = Path("/proc/locks").read_text()
    except (FileNotFoundError, PermissionError):
        return False
    for line in table.splitlines():
        # "3: FLOCK  ADVISORY  WRITE 13494 fe:00:1716375 0 EOF"; a waiter's line has "->"
        # after the number and holds nothing.
        fields = line.split()
        if len(fields) < 6 or fields[1] == "->":
            continue
        if fields[4] == str(pid) and fields[5].rsplit(":", 1)[-1] == inode:
            return True
    return False


def argv(pid: int) -> list[str]:
    try:
        data = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    return [part.decode(errors="replace") for part in data.split(b"\0") if part]


def program(pid: int) -> str:
    """The name of the program a process runs (its first argument's base name), or ""."""
    args = argv(pid)
    return os.path.basename(args[0]) if args else ""


def processes_with(*arguments: str, program: str = "") -> list[int]:
    """Live processes whose command line holds every one of ``arguments`` as a whole argument
    (the daemon's configuration path) and, given ``program``, runs that program (the name of
    its first argument): provably ours even when no pid file names them (an orphan left by a
    crash, or by two commands that once started the same daemon at the same time)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        args = argv(pid)
        if not args or not set(arguments) <= set(args[1:]):
            continue
        if program and os.path.basename(args[0]) != program:
            continue
        if alive(pid):
            found.append(pid)
    return sorted(found)


def titled(title: str, marker: str) -> list[int]:
    """Live processes whose command line begins with ``title`` and names ``marker`` (our
    configuration). nginx and php-fpm replace their arguments with one title ("nginx: master
    process nginx -c PATH"), which :func:`processes_with` cannot split into arguments."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if cmdline.startswith(title.encode()) and marker.encode() in cmdline and alive(pid):
            found.append(pid)
    return sorted(found)


def our_pid(pidfile: Path, marker: str) -> int | None:
    pid = read_pid(pidfile)
    if pid is not None and alive(pid) and mentions(pid, marker):
        return pid
    return None


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def terminate(pid: int, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout``."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_until(lambda: not alive(pid), timeout):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        wait_until(lambda: not alive(pid), 5)


def raise_fd_limit(wanted: int) -> None:
    """Raise this process's open-file limit to ``wanted`` (root may raise the hard limit too),
    so daemons started from it inherit it. Never lowers it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return
        except (ValueError, OSError):
            wanted = hard  # not root, or above the kernel's nr_open: as far as allowed
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_since(path: Path, offset: int) -> str:
    """What was written to ``path`` after byte ``offset``."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
