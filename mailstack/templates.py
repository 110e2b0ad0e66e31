"""The Jinja2 environment over the ``configs`` package: StrictUndefined, so a missing value is an
error, never an empty string in a daemon's config. The templates are package data read through
importlib.resources, so they are found wherever alumail is installed (a wheel, an image), not
only in a checkout."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import jinja2

TEMPLATES = "configs"


def _source(name: str) -> str | None:
    """A template's text, or None (jinja2's TemplateNotFound) when the package has no such file."""
    path = files(TEMPLATES)
    for part in jinja2.loaders.split_template_path(name):  # refuses ".." as FileSystemLoader does
        path = path.joinpath(part)
    return path.read_text(encoding="utf-8") if path.is_file() else None


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_source),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 -- daemon configs, not HTML
    )


def render_template(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)


def package_file(name: str) -> str:
    """A file shipped among the templates that is installed as it is (no rendering)."""
    text = _source(name)
    if text is None:
        raise FileNotFoundError(f"{TEMPLATES}/{name}")
    return text
