"""Settings: one typed object, read once from ``alumail.toml`` and ``ALUMAIL_*`` variables.

Only the faces (the CLI, the web service from the CLI's values) call :func:`load` or
:func:`build`; everything below them receives a Settings value.

- ``sections.py``: the keys, one frozen dataclass per section, each key with its default, its
  rule and its doc; the rules that relate several keys.
- ``rules.py``: the rule of each kind of value (a port, a DNS name, a size...).
- ``loader.py``: the file, the environment and the flat values exchanged with the web service,
  all derived from the sections' fields.
"""

from mailstack.settings.loader import build, known_keys, load, to_values
from mailstack.settings.sections import (
    DEFAULT_QUOTA,
    Auth,
    Dns,
    Legacy,
    Ports,
    Sessions,
    Settings,
    Tls,
    Web,
    url_host,
)

__all__ = [
    "DEFAULT_QUOTA",
    "Auth",
    "Dns",
    "Legacy",
    "Ports",
    "Sessions",
    "Settings",
    "Tls",
    "Web",
    "build",
    "known_keys",
    "load",
    "to_values",
    "url_host",
]
