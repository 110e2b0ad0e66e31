"""The whole stack as one thing: ``up`` (render, check, swap, start or reload, wait until ready,
bring the directory's base entries in line), ``down`` and ``status``."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from identity import converge
from identity.directory import Directory, can_bind
from identity.dit import WEB_SERVICE, base_entries, group_entry, service_entry, web_service_entry
from identity.errors import ConfigError, DaemonError
from identity.passwords import DEFAULT_POLICY, hash_secret
from mailstack import logs
from mailstack.context import SERVICE_ACCOUNTS, RenderContext, build_context
from mailstack.daemon import Daemon, LeavesOrphans
from mailstack.dovecot import Dovecot
from mailstack.files import FileSpec, changed, ensure_dir, install, write_atomic
from mailstack.layout import Layout
from mailstack.opendkim import OpenDkim
from mailstack.postfix import Postfix
from mailstack.privileges import ensure_service_user
from mailstack.process import log_tail, port_open, terminate, wait_until
from mailstack.sasl_relay import SaslRelay
from mailstack.sender_milter import SenderMilter
from mailstack.settings import Settings
from mailstack.sink import Sink
from mailstack.slapd import Slapd
from mailstack.statelock import DEFAULT_WAIT, state_lock
from mailstack.tls import check_given, ensure_tls, tls_files

REQUIRED_PROGRAMS = (
    "slapd",
    "slapadd",
    "slaptest",
    "dovecot",
    "doveconf",
    "doveadm",
    "postfix",
    "postconf",
    "openssl",
    "opendkim",
    "opendkim-genkey",
)
READY_TIMEOUT = 15


# A daemon that a layer above adds to the stack (the provisioning web service): made from the
# same render context, started after the mail servers, stopped and shown with them.
DaemonFactory = Callable[[RenderContext], Daemon]


@dataclass
class UpReport:
    actions: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.actions)


def daemons(ctx: RenderContext, extra: Sequence[DaemonFactory] = ()) -> list[Daemon]:
    """In start order: the directory first, then the mail servers that read it (and, in the
    embedded stack, the sink Postfix relays outbound mail to), then any ``extra`` ones."""
    stack: list[Daemon] = [
        Slapd(ctx),
        Dovecot(ctx),
        SaslRelay(ctx),
        OpenDkim(ctx),
        SenderMilter(ctx),
        Postfix(ctx),
    ]
    if ctx.settings.outbound == "sink":
        stack.append(Sink(ctx))
    stack += [make(ctx) for make in extra]
    return stack


def preflight(settings: Settings, *, starting: bool = True) -> None:
    if os.geteuid() != 0:
        raise ConfigError("alumail runs the daemons as private instances and must run as root")
    missing = [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=_sbin_path()) is None]
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


def render_all(
    ctx: RenderContext, extra: Sequence[DaemonFactory] = ()
) -> dict[str, list[FileSpec]]:
    return {d.name: d.render() for d in daemons(ctx, extra)}


def up(
    settings: Settings,
    *,
    dry_run: bool = False,
    extra: Sequence[DaemonFactory] = (),
    lock_wait: float = DEFAULT_WAIT,
) -> UpReport:
    """Holds the state directory's lock throughout: a second ``up`` (or ``down``) waits."""
    preflight(settings)
    report = UpReport()
    layout = Layout(settings.state_dir)
    if dry_run:
        return _plan_only(settings, layout, report, extra)

    ensure_dir(layout.root, 0o755)
    # The web service and the sink run as this user (created here if `make install` did not).
    report.actions += ensure_service_user()
    with state_lock(layout.root, "alumail up", wait=lock_wait):
        _up(settings, layout, report, extra)
    return report


def _up(
    settings: Settings, layout: Layout, report: UpReport, extra: Sequence[DaemonFactory]
) -> None:
    report.actions += ensure_tls(settings)
    ctx = build_context(settings)
    stack = daemons(ctx, extra)
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
    started: set[str] = set()
    for daemon in stack:
        todo = pending[daemon.name]
        if todo:
            install(layout.root, todo)
            report.actions.append(f"wrote {', '.join(spec.relpath for spec in todo)}")
        if daemon.pid() is None:
            daemon.start()
            started.add(daemon.name)
            report.actions.append(f"started {daemon.name}")
        elif todo or daemon.stale():
            previous = daemon.pid()
            daemon.apply(todo)
            if daemon.pid() != previous:  # restarted (slapd rebuilds cn=config that way)
                started.add(daemon.name)
            report.actions.append(f"reloaded {daemon.name}")
        if isinstance(daemon, Slapd):
            # The mail daemons bind with their service accounts from their first connection.
            wait_ready([daemon])
            report.actions += ensure_directory(ctx)
    wait_ready(stack)
    for daemon in stack:
        # Mail deferred while a daemon was down goes now, not at Postfix's next queue run.
        if isinstance(daemon, Postfix) and daemon.flush_after(started):
            report.actions.append("flushed Postfix's queue")


def _stop_orphans(daemon: Daemon) -> list[str]:
    """Stop what runs this daemon for our state directory without a pid file naming it (left by
    a crash or by an older alumail): it holds the ports and would outlive ``down``."""
    if not isinstance(daemon, LeavesOrphans):
        return []
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
    settings: Settings, layout: Layout, report: UpReport, extra: Sequence[DaemonFactory]
) -> UpReport:
    """What ``up`` would do, refusing what ``up`` would refuse: the given certificate, and
    (once the stack exists) every changed file, checked by its daemon's checker."""
    check_given(settings)
    if not layout.root.exists():
        report.actions.append(f"create state directory {layout.root}")
    ctx = build_context(settings, create_secrets=False) if (layout.secrets).exists() else None
    if ctx is None:
        report.actions.append("create TLS material, service secrets, all configuration files")
        names = [
            "slapd",
            "dovecot",
            "sasl-relay",
            "opendkim",
            "sender-milter",
            "postfix",
            *(getattr(make, "name", "?") for make in extra),
        ]
        report.actions += [f"start {name}" for name in names]
        return report
    stack = daemons(ctx, extra)
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
            log = getattr(daemon, "logfile", None)
            raise DaemonError(
                f"{daemon.name} is running but its listeners did not answer in {timeout:.0f} s",
                detail=log_tail(log) if log else "",
            )


def ensure_directory(ctx: RenderContext) -> list[str]:
    """The base entries, the mail daemons' service accounts and the readers group, as planned
    changes applied over the ldapi socket as root."""
    tree = ctx.tree
    desired = base_entries(tree, ctx.settings.domain, DEFAULT_POLICY)
    for name, description in SERVICE_ACCOUNTS.items():
        desired[tree.service(name)] = service_entry(
            name, hash_secret(ctx.service_passwords[name]), description
        )
    desired[tree.service(WEB_SERVICE)] = web_service_entry(tree)
    desired[tree.readers_group] = group_entry(
        "directory-readers",
        [tree.service(name) for name in SERVICE_ACCOUNTS],
        "May read account entries, never passwords",
    )
    with Directory(ctx.layout.ldapi_uri) as directory:
        changes = converge.plan(directory, desired)
        converge.apply(directory, changes)
        actions = [change.describe() for change in changes]
        # A service secret that no longer binds (restored state, rotated file) is re-set.
        for name in SERVICE_ACCOUNTS:
            dn = tree.service(name)
            if not can_bind(ctx.ldap_uri, dn, ctx.service_passwords[name]):
                directory.replace(dn, {"userPassword": [hash_secret(ctx.service_passwords[name])]})
                actions.append(f"reset the bind secret of {dn}")
    return actions


def down(
    settings: Settings, extra: Sequence[DaemonFactory] = (), *, lock_wait: float = DEFAULT_WAIT
) -> list[str]:
    """Stop every daemon our pid files name, all at once (each waits for its own children),
    then any orphan provably ours (its command line names our configuration)."""
    preflight(settings, starting=False)
    layout = Layout(settings.state_dir)
    if not (layout.secrets.exists()):
        return []
    with state_lock(layout.root, "alumail down", wait=lock_wait):
        ctx = build_context(settings, create_secrets=False)
        stack = daemons(ctx, extra)
        running = [d for d in stack if d.pid() is not None]
        with ThreadPoolExecutor(max_workers=len(running) or 1) as pool:
            for future in [pool.submit(d.stop) for d in running]:
                future.result()
        orphaned = [d for d in stack if _stop_orphans(d) and d not in running]
    return [d.name for d in reversed(running + orphaned)]


def status(settings: Settings, extra: Sequence[DaemonFactory] = ()) -> dict[str, object]:
    layout = Layout(settings.state_dir)
    services: dict[str, object] = {}
    daemon_states: dict[str, object] = {}
    if layout.secrets.exists():
        ctx = build_context(settings, create_secrets=False)
        stack = daemons(ctx, extra)
    else:
        stack = []
    for daemon in stack:
        pid = daemon.pid()
        state: dict[str, object] = {"pid": pid, "running": pid is not None}
        if isinstance(daemon, LeavesOrphans) and (orphans := daemon.orphans()):
            state["orphans"] = orphans  # `up` and `down` stop them
        daemon_states[daemon.name] = state
        for ep in daemon.endpoints():
            services[ep.service] = {
                "host": ep.host,
                "port": ep.port,
                "running": pid is not None and port_open(ep.host, ep.port),
            }
    if not stack:
        for name, port in settings.ports.items():
            services[name] = {"host": settings.connect_host, "port": port, "running": False}
    tls = tls_files(settings)
    return {
        "domain": settings.domain,
        "mail_host": settings.mail_host,
        "state_dir": str(settings.state_dir),
        "ca_cert": str(tls.ca_cert) if tls.ca_cert else None,
        "services": services,
        "daemons": daemon_states,
    }
