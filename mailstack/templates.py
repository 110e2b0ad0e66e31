"""The Jinja2 environment over configs/: StrictUndefined, so a missing value is an error, never
an empty string in a daemon's config."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jinja2

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(CONFIGS)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 -- daemon configs, not HTML
    )


def render_template(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)
