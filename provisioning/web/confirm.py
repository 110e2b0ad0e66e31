"""The confirmation step of a destructive action: its form posts once to ask, and the page that
answers posts the same fields again with ``confirmed=yes`` to act. Plain HTML, no JavaScript;
the CSRF token guards both posts, so a page elsewhere cannot skip the question."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request
from fastapi.responses import Response

from provisioning.web.requests import Services

CONFIRM_FIELD = "confirmed"
Confirmed = Annotated[str, Form(alias=CONFIRM_FIELD)]


def confirmed(answer: str) -> bool:
    return answer == "yes"


def ask(
    request: Request,
    svc: Services,
    *,
    question: str,
    consequence: str,
    action: str,
    button: str,
    back: str,
    fields: dict[str, str] | None = None,
) -> Response:
    """The page that asks: ``question`` and ``consequence`` are N_()-marked texts (with their
    values filled), ``action`` the form's own URL, ``back`` where "Cancel" goes."""
    return svc.page(
        request,
        "confirm.html",
        question=question,
        consequence=consequence,
        action=action,
        button=button,
        back=back,
        fields=fields or {},
    )
