"""The errors only the daemons' layer raises, kinds of the one tree in identity.errors."""

from identity.errors import DaemonError

__all__ = ["DaemonError"]
