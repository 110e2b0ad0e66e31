"""The verbs shared by the outside programs we run as a master with a pid file, that reread
their configuration on a signal (OpenDKIM, nginx, php-fpm): which process is ours, reloading,
stopping. Each daemon says its signal and, where only some of its files need one, which."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from mailstack.files import FileSpec
from mailstack.process import our_pid, terminate


class SignalledDaemon:
    name: str
    config: Path  # the main configuration file: our process is the one started with it
    pidfile: Path
    logfile: Path
    reload_signal: signal.Signals
    stop_timeout: float = 10

    def pid(self) -> int | None:
        return our_pid(self.pidfile, str(self.config))

    def stale(self) -> bool:
        return False  # a signal makes it read what is on disk

    def reloads_for(self, changed: list[FileSpec]) -> bool:
        """Whether these changed files need the signal (any, unless a daemon says otherwise)."""
        return bool(changed)

    def apply(self, changed: list[FileSpec]) -> None:
        pid = self.pid()
        if pid is not None and self.reloads_for(changed):
            os.kill(pid, self.reload_signal)

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout=self.stop_timeout)
