"""Refusals that name the field and the Code paragraph behind them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse


class RuleViolation(Exception):  # noqa: N818 - it is a violation, not an "error"
    """A command the Code (or intake's own rules) forbids; becomes a 4xx naming the rule."""

    def __init__(
        self,
        msg: str,
        *,
        rule: str,
        loc: Sequence[str | int] = ("body",),
        status_code: int = status.HTTP_422_UNPROCESSABLE_CONTENT,
    ) -> None:
        super().__init__(msg)
        self.status_code = status_code
        self.detail = [{"loc": list(loc), "msg": msg, "rule": rule}]

    @classmethod
    def out_of_order(cls, msg: str, *, rule: str) -> RuleViolation:
        """A step taken when the complaint is not in a state that allows it."""
        return cls(msg, rule=rule, loc=("status",), status_code=status.HTTP_409_CONFLICT)

    def as_dict(self) -> dict[str, Any]:
        """The error body, as the API returns it."""
        return {"detail": self.detail}


class NotFound(Exception):  # noqa: N818 - reads better at the raise site
    """Missing, or outside the caller's scope: the two answer alike so nothing leaks."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what} not found")
        self.what = what


def install_error_handlers(app: FastAPI) -> None:
    """Turn domain refusals into JSON 4xx answers."""

    async def rule_violation(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RuleViolation)
        return JSONResponse(error.as_dict(), status_code=error.status_code)

    async def not_found(_: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, NotFound)
        return JSONResponse({"detail": f"{error.what} not found"}, status_code=404)

    app.add_exception_handler(RuleViolation, rule_violation)
    app.add_exception_handler(NotFound, not_found)
