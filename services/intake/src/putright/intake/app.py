"""The intake service: its HTTP API, web form, SMTP mailbox and contractor inbox on one runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from putright.intake import views, webform
from putright.intake.complaints import Clock, Context, complaint_writer
from putright.intake.contractor import ContractorInbox, apply_message
from putright.intake.directory import Directory
from putright.intake.errors import install_error_handlers
from putright.intake.fast_submit import fast_submit_route
from putright.intake.mailbox import ComplaintsMailbox, serve_mailbox
from putright.intake.middleware import RequestGuard
from putright.intake.models import metadata
from putright.intake.settings import IntakeSettings
from putright.shared.events import ContractorMessage
from putright.shared.events.envelope import utc_now
from putright.shared.messaging import subscribe
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream

# Where a validation error's field is one the Code speaks about, name the paragraph.
FIELD_RULES = {
    "definition": "5.6",
    "summary": "5.6",
    "outcomes_sought": "5.6",
    "not_responsible_for": "5.7",
    "explanation": "2.4",
    "extension_working_days": "6.4",
    "consent_recorded_on": "3.6",
}


def contractor_inbox(runtime: Runtime, clock: Clock) -> ContractorInbox:
    """The consumer of the contractor-inbound stream."""
    settings = runtime.settings
    inbox = ContractorInbox(
        name=f"{settings.topic_prefix}.intake.contractor",
        sessions=runtime.sessions,
        processed=runtime.processed,
        broker=runtime.broker,
        max_attempts=settings.consumer_max_attempts,
        backoff_seconds=settings.consumer_retry_backoff_seconds,
        after_commit=runtime.outbox.wake,
    )

    async def apply(message: ContractorMessage) -> None:
        async with runtime.unit_of_work() as session:
            await apply_message(Context(session=session, runtime=runtime, clock=clock), message)

    inbox.apply = apply
    subscribe(
        runtime.broker,
        inbox,
        settings.topics.topic(Stream.CONTRACTOR_INBOUND),
        description="Contractor systems' complaint steps, mapped onto the lifecycle.",
    )
    return inbox


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    detail: list[dict[str, Any]] = []
    for item in error.errors():
        entry = {key: item[key] for key in ("loc", "msg", "type") if key in item}
        rule = next(
            (FIELD_RULES[part] for part in reversed(item["loc"]) if part in FIELD_RULES), None
        )
        if rule:
            entry["rule"] = rule
        detail.append(entry)
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(
    settings: IntakeSettings | None = None,
    *,
    clock: Clock = utc_now,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    """Build the intake service around one runtime; `clock` says what time it is, and a
    `broker` passed in (the embedded mode's in-memory one) replaces Kafka."""
    settings = settings or IntakeSettings()
    runtime = Runtime("intake", settings, metadata, broker=broker)
    if settings.contractor_consumer_enabled:
        contractor_inbox(runtime, clock)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with runtime.running():
            mailbox: asyncio.Server | None = None
            if settings.smtp_enabled:
                mailbox = await serve_mailbox(
                    ComplaintsMailbox(runtime, clock),
                    host=settings.smtp_host,
                    port=settings.smtp_port,
                    max_bytes=settings.smtp_max_message_bytes,
                )
            try:
                yield
            finally:
                if mailbox is not None:
                    mailbox.close()
                    await mailbox.wait_closed()

    app = FastAPI(
        title="Putright intake",
        version="1",
        description=(
            "The one door into Putright: complaints from every channel, and every step "
            "of their lifecycle, checked against the Housing Ombudsman's Complaint "
            "Handling Code and published as events."
        ),
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    runtime.instrument(app)
    app.state.clock = clock
    app.state.complaint_writer = complaint_writer(runtime)
    app.state.directory = Directory(runtime.sessions, ttl_seconds=settings.directory_ttl_seconds)
    install_error_handlers(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in (views.admin, views.api, views.complaints, views.contractor, webform.router):
        app.include_router(router)
    # First, so that it sees POST /v1/complaints before the documented route does.
    app.router.routes.insert(0, fast_submit_route(app.router))
    app.add_middleware(RequestGuard, max_bytes=settings.max_request_bytes, engine=runtime.engine)
    return app
