"""Request-size limits and `Idempotency-Key` replays, as one plain ASGI middleware."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from uuid import uuid4

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from putright.intake.models import IdempotencyRecord
from putright.shared.events.envelope import utc_now

IDEMPOTENCY_HEADER = b"idempotency-key"
MAX_KEY_LENGTH = 200


class BodyTooLarge(Exception):  # noqa: N818 - a condition, raised internally
    """The request body passed the limit."""


async def _send_json(send: Send, status: int, body: dict[str, Any], replayed: bool = False) -> None:
    await _send_raw(send, status, json.dumps(body).encode(), replayed)


async def _send_raw(send: Send, status: int, body: bytes, replayed: bool = False) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if replayed:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """One pure ASGI middleware for every request: a 413 for any body over `max_bytes`,
    declared or streamed, and replays of POSTs that repeat their `Idempotency-Key`.

    The key is claimed before the request runs, so two concurrent retries cannot both
    act: the second is told the first is still in progress. A key reused with a
    different body is refused. Answers of 5xx release the key, so a retry may succeed.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, engine: AsyncEngine) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise BodyTooLarge
            return message

        key = headers.get(IDEMPOTENCY_HEADER)
        try:
            if scope["method"] == "POST" and key is not None:
                await self._idempotent(scope, limited, send, headers, key)
            else:
                await self.app(scope, limited, send)
        except BodyTooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await _send_json(
            send,
            413,
            {"detail": [{"loc": ["body"], "msg": f"larger than {self.max_bytes} bytes"}]},
        )

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes], key: bytes
    ) -> None:
        if not key or len(key) > MAX_KEY_LENGTH:
            await _send_json(
                send,
                422,
                {"detail": [{"loc": ["header", "Idempotency-Key"], "msg": "1 to 200 characters"}]},
            )
            return
        body = await read_body(receive)
        caller = hashlib.sha256(
            headers.get(b"authorization", b"") + b"|" + headers.get(b"x-admin-token", b"")
        ).hexdigest()
        request_hash = hashlib.sha256(scope["path"].encode() + b"\n" + body).hexdigest()
        claimed = await self._claim(caller, key.decode("latin-1"), request_hash)
        if claimed is not None:
            await self._answer_retry(send, claimed, request_hash)
            return
        await self._run_and_store(scope, body, send, caller, key.decode("latin-1"))

    async def _claim(self, caller: str, key: str, request_hash: str) -> Any:
        """Claim the key; None when claimed now, else the earlier record."""
        table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
        async with self.engine.begin() as connection:
            inserted = await connection.execute(
                insert(table)
                .values(
                    id=uuid4(),
                    caller=caller,
                    key=key,
                    request_hash=request_hash,
                    created_at=utc_now(),
                )
                .on_conflict_do_nothing()
            )
            if inserted.rowcount:
                return None
            return (
                await connection.execute(
                    select(table).where(table.c.caller == caller, table.c.key == key)
                )
            ).one()

    async def _answer_retry(self, send: Send, record: Any, request_hash: str) -> None:
        if record.request_hash != request_hash:
            await _send_json(
                send,
                422,
                {
                    "detail": [
                        {
                            "loc": ["header", "Idempotency-Key"],
                            "msg": "this key was used with a different request",
                            "rule": "idempotency",
                        }
                    ]
                },
            )
        elif record.status_code is None:
            await _send_json(
                send,
                409,
                {
                    "detail": [
                        {
                            "loc": ["header", "Idempotency-Key"],
                            "msg": "a request with this key is still in progress",
                            "rule": "idempotency",
                        }
                    ]
                },
            )
        else:
            await _send_raw(send, record.status_code, record.body or b"", replayed=True)

    async def _run_and_store(
        self, scope: Scope, body: bytes, send: Send, caller: str, key: str
    ) -> None:
        status = 500
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
        where = (table.c.caller == caller, table.c.key == key)
        try:
            await self.app(scope, replay(body), capture)
        finally:
            async with self.engine.begin() as connection:
                if status >= 500:
                    await connection.execute(delete(table).where(*where))
                else:
                    await connection.execute(
                        update(table)
                        .where(*where)
                        .values(status_code=status, body=b"".join(chunks))
                    )


async def read_body(receive: Receive) -> bytes:
    """The whole request body, however many messages it came in."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body: bytes) -> Receive:
    """A `receive` that hands an already-read body to the next app once."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
