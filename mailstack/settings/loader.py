"""Settings from ``alumail.toml`` and ``ALUMAIL_*`` variables, every rule checked.

The keys, sections and variables are not listed here: they are the fields of
:class:`~mailstack.settings.sections.Settings` and its sections.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from identity.errors import ConfigError
from mailstack.files import open_regular
from mailstack.settings.sections import Section, Settings, is_section

ENV_PREFIX = "ALUMAIL_"
DEFAULT_FILE = "alumail.toml"
MAX_FILE_BYTES = 1024 * 1024  # a settings file is a few hundred bytes; refuse a runaway one


def _keys(kind: type[Settings] | type[Section]) -> tuple[str, ...]:
    """The keys of ``kind``: its fields that are settings (they carry a rule)."""
    return tuple(f.name for f in fields(kind) if "rule" in f.metadata)


def _sections() -> dict[str, type[Section]]:
    return {f.name: f.metadata["section"] for f in fields(Settings) if is_section(f)}


def known_keys() -> dict[str, tuple[str, ...]]:
    """Every key alumail knows, by section ("" for the top level)."""
    known = {"": _keys(Settings)}
    known.update({name: _keys(kind) for name, kind in _sections().items()})
    return known


def load(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``path`` (or ``ALUMAIL_CONFIG``, or ./alumail.toml if present) and ``env``."""
    env = env or {}
    if path is None and env.get(ENV_PREFIX + "CONFIG"):
        path = Path(env[ENV_PREFIX + "CONFIG"])
    if path is None and Path(DEFAULT_FILE).is_file():
        path = Path(DEFAULT_FILE)
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        raw = _read_toml(path)
        base = path.resolve().parent
    values = _flatten(raw, str(path))
    values.update(_from_env(env))
    return build(values, base=base)


def build(values: Mapping[str, Any], *, base: Path | None = None) -> Settings:
    """Settings from flat ``{"domain": ..., "ports.imap": ...}`` values, every rule checked.
    A relative path is taken from ``base`` (the settings file's folder)."""
    base = base or Path.cwd()
    known = known_keys()
    given: dict[str, dict[str, Any]] = {section: {} for section in known}
    for key, value in values.items():
        section, _, name = key.rpartition(".")
        if name not in known.get(section, ()):
            raise ConfigError(f"{key}: unknown setting")
        given[section][name] = value
    top = _parsed(Settings, given[""], "", base)
    sections: dict[str, Any] = {
        name: kind(**_parsed(kind, given[name], f"{name}.", base))
        for name, kind in _sections().items()
    }
    return Settings(**top, **sections).checked()


def _parsed(
    kind: type[Settings] | type[Section], given: Mapping[str, Any], prefix: str, base: Path
) -> dict[str, Any]:
    """The keys of ``kind``: each given value through its rule, else the default; paths
    taken from ``base``."""
    parsed: dict[str, Any] = {}
    for f in fields(kind):
        if "rule" not in f.metadata:
            continue
        value = f.metadata["rule"](prefix + f.name, given[f.name]) if f.name in given else f.default
        if isinstance(value, Path):
            value = (base / value).resolve()
        parsed[f.name] = value
    return parsed


def to_values(settings: Settings) -> dict[str, Any]:
    """The flat values :func:`build` makes ``settings`` from (paths absolute), so another
    process (the web service) gets exactly these settings."""
    values: dict[str, Any] = {}
    for section, keys in known_keys().items():
        holder = getattr(settings, section) if section else settings
        for key in keys:
            value = getattr(holder, key)
            if value is None or value == "":
                continue
            if isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            values[f"{section}.{key}" if section else key] = value
    return values


def _read_toml(path: Path) -> dict[str, Any]:
    """The parsed settings file, or a ConfigError naming the file and what is wrong with it."""
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"settings file {path} does not exist") from exc
    except OSError as exc:
        raise ConfigError(f"settings file {path} cannot be read: {exc.strerror}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"settings file {path} is larger than {MAX_FILE_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"settings file {path} is not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})"
        ) from exc
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"settings file {path} is not valid TOML: {exc}") from exc
    except RecursionError as exc:  # tomllib recurses once per level of nested arrays/tables
        raise ConfigError(f"settings file {path} nests values too deeply") from exc


def _flatten(raw: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """``{"ports": {"imap": 1}}`` as ``{"ports.imap": 1}``."""
    sections = _sections()
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in sections:
                raise ConfigError(f"{key}: unknown section in {origin}")
            for sub, subvalue in value.items():
                flat[f"{key}.{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``ALUMAIL_<KEY>`` for a top-level key, ``ALUMAIL_<SECTION>_<KEY>`` for a key in a
    section, as flat values; any other ``ALUMAIL_`` variable but ``ALUMAIL_CONFIG`` is an
    error."""
    known = known_keys()
    flat: dict[str, Any] = {}
    for var, value in env.items():
        if not var.startswith(ENV_PREFIX) or var == ENV_PREFIX + "CONFIG":
            continue
        name = var[len(ENV_PREFIX) :].lower()
        try:
            value.encode("utf-8")  # undecodable bytes reach us as lone surrogates
        except UnicodeEncodeError as exc:
            raise ConfigError(f"{var}: is not valid UTF-8 text (environment)") from exc
        for section, keys in known.items():
            if section and name.startswith(section + "_") and name[len(section) + 1 :] in keys:
                flat[f"{section}.{name[len(section) + 1 :]}"] = value
                break
        else:
            if name not in known[""]:
                raise ConfigError(f"{var}: unknown setting (environment)")
            flat[name] = value
    return flat
