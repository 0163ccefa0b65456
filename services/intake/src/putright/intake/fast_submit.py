"""The common case of `POST /v1/complaints`, without FastAPI's per-request machinery.

A landlord's key, a JSON body that validates and a complaint the Code accepts: that is
nearly every submission, and for it FastAPI's routing through every router, dependency
solving and response validation cost more CPU than storing the complaint. This route
sits first in the app, answers that case itself with the same functions the documented
route uses (`Directory`, `new_complaint`, the group-commit writer), and hands anything
else (no or unknown key, a contractor, invalid input, a rule broken) to the documented
route unchanged, so every error is answered exactly as before. It changes nothing
before handing over; it only ever answers 201.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.datastructures import State
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from putright.intake.auth import Scope as KeyScope
from putright.intake.complaints import ComplaintSubmission, NewComplaint, new_complaint
from putright.intake.directory import Directory
from putright.intake.errors import NotFound, RuleViolation
from putright.intake.group_commit import GroupCommit
from putright.intake.middleware import read_body, replay

PATH = "/v1/complaints"
HANDED_OVER = "putright.handed_over"


class FastSubmitRoute(Route):
    """Matches `POST /v1/complaints` unless the request was handed over already."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """No match for a request this route handed to the documented route."""
        if scope.get(HANDED_OVER):
            return Match.NONE, {}
        return super().matches(scope)


class FastSubmit:
    """Answers an ordinary landlord submission with 201, or hands the request to `router`.

    Like the views, it finds the directory, the writer and the clock on the app's state.
    """

    def __init__(self, router: ASGIApp) -> None:
        self.router = router

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        answer = await self._accept(scope["app"].state, scope, body)
        if answer is None:
            await self.router({**scope, HANDED_OVER: True}, replay(body), send)
            return
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    async def _accept(self, state: State, scope: Scope, body: bytes) -> bytes | None:
        """The 201 body for a complaint now stored, or None to hand the request over."""
        directory: Directory = state.directory
        writer: GroupCommit[NewComplaint] = state.complaint_writer
        headers = dict(scope["headers"])
        scheme, _, token = headers.get(b"authorization", b"").partition(b" ")
        if scheme.lower() != b"bearer" or not token:
            return None
        if not headers.get(b"content-type", b"").startswith(b"application/json"):
            return None
        caller = await directory.caller(token.decode("latin-1"))
        if caller is None or not caller.is_landlord or KeyScope.SUBMIT not in caller.scopes:
            return None
        try:
            submission = ComplaintSubmission.model_validate_json(body)
        except ValidationError:
            return None
        if submission.organisation_id not in (None, caller.organisation_id):
            return None
        try:
            landlord = await directory.landlord(caller.organisation_id)
            complaint = new_complaint(landlord, submission, now=state.clock())
        except (NotFound, RuleViolation):
            return None
        await writer.write(complaint)
        return complaint.accepted.model_dump_json().encode()


def fast_submit_route(router: ASGIApp) -> FastSubmitRoute:
    """The route to put first in `router`, which answers whatever it hands over."""
    return FastSubmitRoute(PATH, FastSubmit(router), methods=["POST"], include_in_schema=False)
