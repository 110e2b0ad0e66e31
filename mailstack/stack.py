"""The whole stack as one thing: ``up`` (make the key material, render, check, swap, start or
reload, wait until ready, seed the directory), ``down`` and ``status``, over the daemons of a
registry (:mod:`mailstack.daemon`)."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from identity.errors import AlumailError, ConfigError
from mailstack import logs
from mailstack.context import RenderContext, build_context, control_context
from mailstack.daemon import Daemon, DaemonEntry, Registry
from mailstack.daemons.dovecot import Dovecot
from mailstack.daemons.nginx import Nginx
from mailstack.daemons.opendkim import OpenDkim
from mailstack.daemons.php_fpm import PROGRAM as PHP_FPM
from mailstack.daemons.php_fpm import PhpFpm
from mailstack.daemons.postfix import Postfix
from mailstack.daemons.sasl_relay import SaslRelay
from mailstack.daemons.sender_milter import SenderMilter
from mailstack.daemons.sink import Sink
from mailstack.daemons.slapd import Slapd
from mailstack.errors import DaemonError
from mailstack.files import FileSpec, changed, ensure_dir, install, write_atomic
from mailstack.keys.material import KEY_PROGRAMS, prepare_keys, read_keys
from mailstack.keys.tls import check_given, tls_files
from mailstack.layout import Layout
from mailstack.mailqueue import queue_report
from mailstack.privileges import ensure_service_user
from mailstack.process import log_tail, port_open, terminate, wait_until
from mailstack.settings import Settings
from mailstack.statelock import DEFAULT_WAIT, state_lock

READY_TIMEOUT = 15


@dataclass
class UpReport:
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def _directory_up(slapd: Slapd, ctx: RenderContext) -> list[str]:
    """The mail daemons bind with their service accounts from their first connection."""
    wait_ready([slapd])
    return slapd.seed()


def _flush_deferred(postfix: Postfix, started: list[DaemonEntry[Any]]) -> list[str]:
    """Mail deferred while a daemon was down goes now, not at Postfix's next queue run."""
    if not any(entry.mail_waits_on for entry in started):
        return []
    return ["flushed Postfix's queue"] if postfix.flush_deferred() else []


def _with_sink(settings: Settings) -> bool:
    return settings.outbound == "sink"


# The mail stack in start order: the directory first, then the mail servers that read it (and,
# in the embedded stack, the sink Postfix relays outbound mail to). A layer above appends its
# own entries (the provisioning web service) and passes the longer registry to the verbs.
MAIL_DAEMONS: Registry = (
    DaemonEntry(
        "slapd",
        Slapd,
        programs=("slapd", "slapadd", "slaptest"),
        mail_waits_on=True,
        after_up=_directory_up,
    ),
    DaemonEntry(
        "dovecot", Dovecot, programs=("dovecot", "doveconf", "doveadm"), mail_waits_on=True
    ),
    DaemonEntry("sasl-relay", SaslRelay),
    DaemonEntry("opendkim", OpenDkim, programs=("opendkim",), mail_waits_on=True),
    DaemonEntry("sender-milter", SenderMilter),
    DaemonEntry("postfix", Postfix, programs=("postfix", "postconf"), after_ready=_flush_deferred),
    DaemonEntry("sink", Sink, runs=_with_sink, mail_waits_on=True),
    # The webmail (Roundcube), a client of Dovecot and Postfix: PHP first, then its listener.
    DaemonEntry("php-fpm", PhpFpm, programs=(PHP_FPM, "php")),
    DaemonEntry("nginx", Nginx, programs=("nginx",)),
)


def entries(settings: Settings, registry: Registry = MAIL_DAEMONS) -> list[DaemonEntry[Any]]:
    """The registry's entries this configuration runs, in start order."""
    return [entry for entry in registry if entry.runs(settings)]


def required_programs(settings: Settings, registry: Registry = MAIL_DAEMONS) -> list[str]:
    programs = [p for entry in entries(settings, registry) for p in entry.programs]
    return list(dict.fromkeys([*programs, *KEY_PROGRAMS]))


def _instances(ctx: RenderContext, registry: Registry) -> list[tuple[DaemonEntry[Any], Daemon]]:
    return [(entry, entry.factory(ctx)) for entry in entries(ctx.settings, registry)]


def daemons(ctx: RenderContext, registry: Registry = MAIL_DAEMONS) -> list[Daemon]:
    """In start order, as the registry declares them."""
    return [daemon for _, daemon in _instances(ctx, registry)]


def preflight(
    settings: Settings, *, starting: bool = True, registry: Registry = MAIL_DAEMONS
) -> None:
    if os.geteuid() != 0:
        raise ConfigError("alumail runs the daemons as private instances and must run as root")
    programs = required_programs(settings, registry)
    missing = [p for p in programs if shutil.which(p, path=_sbin_path()) is None]
    if missing:
        raise ConfigError(f"missing programs: {', '.join(missing)}: run `make install` first")
    for parent in settings.state_dir.parents:
        if starting and parent.exists() and parent.stat().st_mode & stat.S_IWOTH:
            raise ConfigError(
                f"state_dir: {parent} can be written by every user (mode "
                f"{stat.filemode(parent.stat().st_mode)}); OpenDKIM refuses keys and "
                f"configuration below such a folder. Choose a state_dir elsewhere "
                f"(such as /var/lib/alumail)."
            )
        if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
            raise ConfigError(
                f"state_dir: {parent} is not searchable by other users (mode "
                f"{stat.filemode(parent.stat().st_mode)}); the daemons' users cannot reach "
                f"{settings.state_dir}. Run `chmod o+x {parent}` or choose another state_dir."
            )


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def render_all(ctx: RenderContext, registry: Registry = MAIL_DAEMONS) -> dict[str, list[FileSpec]]:
    return {d.name: d.render() for d in daemons(ctx, registry)}


def up(
    settings: Settings,
    *,
    dry_run: bool = False,
    registry: Registry = MAIL_DAEMONS,
    lock_wait: float = DEFAULT_WAIT,
) -> UpReport:
    """Holds the state directory's lock throughout: a second ``up`` (or ``down``) waits."""
    preflight(settings, registry=registry)
    report = UpReport()
    layout = Layout(settings.state_dir)
    if dry_run:
        return _plan_only(settings, layout, report, registry)

    ensure_dir(layout.root, 0o755)
    # The web service and the sink run as this user (created here if `make install` did not).
    report.actions += ensure_service_user()
    with state_lock(layout.root, "alumail up", wait=lock_wait):
        _up(settings, layout, report, registry)
    return report


def _up(settings: Settings, layout: Layout, report: UpReport, registry: Registry) -> None:
    keys, made = prepare_keys(settings)  # before rendering: the configurations name them
    report.actions += made
    ctx = build_context(settings, keys)
    instances = _instances(ctx, registry)
    stack = [daemon for _, daemon in instances]
    for daemon in stack:
        daemon.prepare()
    logs.tidy(layout.log)  # 0640, and bounded: rotated by size
    for daemon in stack:
        report.actions += _stop_orphans(daemon)
    _check_ports_free(stack)
    rendered = {d.name: d.render() for d in stack}
    pending = {name: changed(layout.root, specs) for name, specs in rendered.items()}
    if any(pending.values()):
        _check_staged(layout, stack, rendered)  # raises before anything is written or reloaded
    started: list[DaemonEntry[Any]] = []
    for entry, daemon in instances:
        todo = pending[daemon.name]
        if todo:
            install(layout.root, todo)
            report.actions.append(f"wrote {', '.join(spec.relpath for spec in todo)}")
        if daemon.pid() is None:
            daemon.start()
            started.append(entry)
            report.actions.append(f"started {daemon.name}")
        elif todo or daemon.stale():
            previous = daemon.pid()
            daemon.apply(todo)
            if daemon.pid() != previous:  # restarted (slapd rebuilds cn=config that way)
                started.append(entry)
            report.actions.append(f"reloaded {daemon.name}")
        if entry.after_up is not None:
            report.actions += entry.after_up(daemon, ctx)
    wait_ready(stack)
    for entry, daemon in instances:
        if entry.after_ready is not None:
            report.actions += entry.after_ready(daemon, started)


def _stop_orphans(daemon: Daemon) -> list[str]:
    """Stop what runs this daemon for our state directory without a pid file naming it (left by
    a crash or by an older alumail): it holds the ports and would outlive ``down``."""
    stopped = []
    for pid in daemon.orphans():
        terminate(pid, timeout=15)
        stopped.append(f"stopped an orphaned {daemon.name} (pid {pid}) that no pid file named")
    return stopped


def _check_ports_free(stack: list[Daemon]) -> None:
    """A daemon about to start needs its ports: say which setting collides, before anything."""
    for daemon in stack:
        if daemon.pid() is not None:
            continue
        for endpoint in daemon.endpoints():
            if port_open(endpoint.host, endpoint.port):
                raise ConfigError(
                    f"ports.{endpoint.service}: {endpoint.host}:{endpoint.port} is already in use "
                    f"by another program; stop it or choose another port"
                )


def _plan_only(
    settings: Settings, layout: Layout, report: UpReport, registry: Registry
) -> UpReport:
    """What ``up`` would do, refusing what ``up`` would refuse: the given certificate, and
    (once the stack exists) every changed file, checked by its daemon's checker."""
    check_given(settings)
    if not layout.root.exists():
        report.actions.append(f"create state directory {layout.root}")
    if not layout.secrets.exists():
        report.actions.append("create TLS material, service secrets, all configuration files")
        report.actions += [f"start {entry.name}" for entry in entries(settings, registry)]
        return report
    ctx = build_context(settings, read_keys(settings), create_secrets=False)
    stack = daemons(ctx, registry)
    rendered = {d.name: d.render() for d in stack}
    if any(changed(layout.root, specs) for specs in rendered.values()):
        _check_staged(layout, stack, rendered)
    for daemon in stack:
        todo = changed(layout.root, rendered[daemon.name])
        if todo:
            report.actions.append(f"write {', '.join(spec.relpath for spec in todo)}")
        if daemon.pid() is None:
            report.actions.append(f"start {daemon.name}")
        elif todo or daemon.stale():
            report.actions.append(f"reload {daemon.name}")
    return report


def _check_staged(layout: Layout, stack: list[Daemon], rendered: dict[str, list[FileSpec]]) -> None:
    """Every daemon's checker runs on a staging copy of the complete new configuration."""
    ensure_dir(layout.staging, 0o755)
    staging = Path(tempfile.mkdtemp(prefix="check-", dir=layout.staging))
    os.chmod(staging, 0o755)  # noqa: S103 -- the daemons' checkers run as their own users
    try:
        for daemon in stack:
            for spec in rendered[daemon.name]:
                write_atomic(
                    staging / spec.relpath,
                    spec.text,
                    mode=spec.mode,
                    owner=spec.owner,
                    group=spec.group,
                )
        for daemon in stack:
            daemon.check(staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def wait_ready(stack: list[Daemon], timeout: float = READY_TIMEOUT) -> None:
    for daemon in stack:
        if not wait_until(daemon.ready, timeout):
            raise DaemonError(
                f"{daemon.name} is running but its listeners did not answer in {timeout:.0f} s",
                detail=log_tail(daemon.logfile),
            )


def down(
    settings: Settings, registry: Registry = MAIL_DAEMONS, *, lock_wait: float = DEFAULT_WAIT
) -> list[str]:
    """Stop every daemon our pid files name, all at once (each waits for its own children),
    then any orphan provably ours (its command line names our configuration)."""
    preflight(settings, starting=False, registry=registry)
    layout = Layout(settings.state_dir)
    if not (layout.secrets.exists()):
        return []
    with state_lock(layout.root, "alumail down", wait=lock_wait):
        stack = daemons(control_context(settings), registry)
        running = [d for d in stack if d.pid() is not None]
        with ThreadPoolExecutor(max_workers=len(running) or 1) as pool:
            for future in [pool.submit(d.stop) for d in running]:
                future.result()
        orphaned = [d for d in stack if _stop_orphans(d) and d not in running]
    return [d.name for d in reversed(running + orphaned)]


def health(
    settings: Settings, registry: Registry = MAIL_DAEMONS, *, skip: tuple[str, ...] = ()
) -> dict[str, bool]:
    """Whether each daemon this configuration runs answers, by its own readiness check (its
    listeners, its sockets), asked of all at once: a stopped daemon costs a probe's timeout."""
    stack = [d for d in daemons(control_context(settings), registry) if d.name not in skip]

    def answers(daemon: Daemon) -> bool:
        try:
            return bool(daemon.ready())
        except (AlumailError, OSError):
            return False

    with ThreadPoolExecutor(max_workers=len(stack) or 1) as pool:
        return dict(zip([d.name for d in stack], pool.map(answers, stack), strict=True))


def status(settings: Settings, registry: Registry = MAIL_DAEMONS) -> dict[str, object]:
    layout = Layout(settings.state_dir)
    services: dict[str, object] = {}
    daemon_states: dict[str, object] = {}
    stack = daemons(control_context(settings), registry) if layout.secrets.exists() else []
    for daemon in stack:
        pid = daemon.pid()
        state: dict[str, object] = {"pid": pid, "running": pid is not None}
        if orphans := daemon.orphans():
            state["orphans"] = orphans  # `up` and `down` stop them
        daemon_states[daemon.name] = state
        for ep in daemon.endpoints():
            service: dict[str, object] = {
                "host": ep.host,
                "port": ep.port,
                "running": pid is not None and port_open(ep.host, ep.port),
            }
            if ep.url:
                service["url"] = ep.url
            services[ep.service] = service
    if not stack:
        for name, port in settings.ports.items():
            services[name] = {"host": settings.connect_host, "port": port, "running": False}
    tls = tls_files(settings)
    return {
        "mail_queue": queue_report(layout, time.time()),
        "domain": settings.domain,
        "mail_host": settings.mail_host,
        "state_dir": str(settings.state_dir),
        "ca_cert": str(tls.ca_cert) if tls.ca_cert else None,
        "services": services,
        "daemons": daemon_states,
    }
