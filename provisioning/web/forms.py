"""The shape the console's form handlers share: act, or show the same page again with each
refusal under its field (422 for a broken rule, 409 for a conflict and, where the form names
something that must exist, 404 for what is not there). Any other error goes on to the
application's error page."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from fastapi.responses import Response

from identity.errors import ConflictError, FieldErrors, NotFoundError, ValidationError

T = TypeVar("T")
# The page again, with (status, {field: rule}).
Rerender = Callable[[int, dict[str, str]], Response]


def field_errors(error: ValidationError) -> dict[str, str]:
    return error.errors if isinstance(error, FieldErrors) else {error.field: error.rule}


def conflict_rule(error: ConflictError | NotFoundError) -> str:
    """A conflict's (or an absence's) words without the field's name the use case puts first
    (the page shows the field's label)."""
    field, _, rule = error.message.partition(": ")
    return rule if rule else field


def attempt(
    act: Callable[[], T],
    rerender: Rerender,
    *,
    conflict_field: str = "uid",
    missing_field: str | None = None,
    renamed: Mapping[str, str] | None = None,
) -> T | Response:
    """``act()``'s result, or ``rerender``'s page naming what was refused: a rule under its
    field (``renamed`` maps a use case's field name to the form's), a conflict under
    ``conflict_field``, a NotFoundError under ``missing_field`` when given."""
    try:
        return act()
    except ValidationError as error:
        names = renamed or {}
        return rerender(422, {names.get(k, k): v for k, v in field_errors(error).items()})
    except ConflictError as error:
        return rerender(409, {conflict_field: conflict_rule(error)})
    except NotFoundError as error:
        if missing_field is None:
            raise
        return rerender(404, {missing_field: conflict_rule(error)})
