"""The reporting service: projections fed by every stream, and the governance views.

Trust boundary: the platform's authenticating ingress sets `X-Putright-Organisation`
to the organisation of the signed-in user and strips any value a client sent. This
service trusts that header and nothing else: a request about any other organisation
is answered 404, as if it did not exist.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Body, Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from faststream.kafka import KafkaBroker
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from putright.reporting import figures, reports
from putright.reporting.figures import Scope
from putright.reporting.models import metadata
from putright.reporting.periods import (
    DateRange,
    Period,
    quarter_of,
    reporting_year,
    reporting_year_of,
)
from putright.reporting.projection import PROJECTED, apply, calendar_for, warm_calendars
from putright.reporting.reports import Section, Viewer
from putright.reporting.settings import ReportingSettings
from putright.shared.calendar import local_date
from putright.shared.events import Event
from putright.shared.events.envelope import utc_now
from putright.shared.runtime import Runtime
from putright.shared.topics import Stream

ORGANISATION_HEADER = "X-Putright-Organisation"
Year = Annotated[
    int | None,
    Query(ge=2015, le=2045, description="The calendar year the reporting year starts in"),
]
Format = Literal["json", "csv"]
templates = Environment(
    loader=PackageLoader("putright.reporting", "templates"),
    autoescape=select_autoescape(default=True),
)


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with _runtime(request).engine.connect() as connection:
        yield connection


ConnectionDep = Annotated[AsyncConnection, Depends(_connection)]


async def _scope(
    organisation_id: UUID,
    connection: ConnectionDep,
    viewer: Annotated[UUID | None, Header(alias=ORGANISATION_HEADER)] = None,
) -> Scope:
    """The viewer's scope; 404 unless the ingress vouches for this very organisation."""
    known = await figures.organisation_kind(connection, organisation_id)
    if viewer != organisation_id or known is None:
        raise HTTPException(404, "no such organisation")
    return Scope(organisation_id, known[1])


ScopeDep = Annotated[Scope, Depends(_scope)]


def _csv(rows: list[dict[str, Any]], filename: str) -> Response:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(jsonable_encoder(rows))
    return Response(
        buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def _respond(name: str, rows: list[dict[str, Any]], form: Format, **about: Any) -> Response:
    if form == "csv":
        return _csv(rows, name)
    return JSONResponse(jsonable_encoder({**about, "rows": rows}))


def create_app(
    settings: ReportingSettings | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    broker: KafkaBroker | None = None,
) -> FastAPI:
    """Build the reporting service around one runtime; `clock` says what "now" is, and a
    `broker` passed in (the embedded mode's in-memory one) replaces Kafka."""
    config = settings or ReportingSettings()
    runtime = Runtime("reporting", config, metadata, broker=broker)
    consumer = runtime.consumer(
        Stream.ORGANISATIONS,
        Stream.COMPLAINTS,
        Stream.DEADLINES,
        Stream.LETTERS,
        description="Projects every stream into reporting's read models.",
    )

    @consumer.on_batch(*PROJECTED)
    async def project(session: AsyncSession, events: Sequence[Event[Any]]) -> None:
        await apply(await session.connection(), events)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        warm_calendars()
        async with runtime.running():
            yield

    app = FastAPI(title="Putright reporting", lifespan=lifespan)
    app.state.runtime = runtime
    runtime.instrument(app)
    base = "/v1/organisations/{organisation_id}"

    def year_of(year: int | None) -> int:
        return year if year is not None else reporting_year_of(local_date(clock()))

    async def viewer(connection: AsyncConnection, scope: Scope) -> Viewer:
        name, _ = await figures.organisation_kind(connection, scope.organisation_id) or ("", None)
        today = local_date(clock())
        calendar = await calendar_for(connection, scope.organisation_id)
        return Viewer(
            scope=scope,
            name=name,
            rule=config.extension_rule,
            today=today,
            due_soon_by=calendar.add(today, config.due_soon_working_days),
            target_percent=config.timeliness_target_percent,
        )

    @app.get(base + "/tsm")
    async def tsm(
        scope: ScopeDep, db: ConnectionDep, year: Year = None, format: Format = "json"
    ) -> Response:
        """CH01 and CH02, stage 1 and 2, strict and extension-accepting, for a reporting year."""
        chosen = year_of(year)
        row = await figures.tsm(
            db, scope=scope, period=reporting_year(chosen), rule=config.extension_rule
        )
        return _respond(
            "tsm", [row], format, organisation_id=scope.organisation_id, reporting_year=chosen
        )

    @app.get(base + "/volumes")
    async def volumes(
        scope: ScopeDep,
        db: ConnectionDep,
        year: Year = None,
        period: Period = Period.MONTH,
        by: Annotated[
            Literal["stage", "category", "channel", "handler", "outcome"], Query()
        ] = "stage",
        format: Format = "json",
    ) -> Response:
        """Complaints per month, quarter or year by stage, category, channel, handler, outcome."""
        chosen = year_of(year)
        rows = await figures.volumes(
            db, scope=scope, period=reporting_year(chosen), every=period, by=by
        )
        stage1 = sum(row["complaints"] for row in rows if row["stage"] == 1)
        stage2 = sum(row["complaints"] for row in rows if row["stage"] == 2)
        return _respond(
            "volumes",
            rows,
            format,
            organisation_id=scope.organisation_id,
            reporting_year=chosen,
            received=stage1 if by != "outcome" else None,
            escalated=stage2 if by != "outcome" else None,
            escalation_rate=round(stage2 * 100 / stage1, 1) if stage1 and by != "outcome" else None,
        )

    def simple_view(name: str, compute: Callable[..., Any]) -> None:
        async def view(
            scope: ScopeDep, db: ConnectionDep, year: Year = None, format: Format = "json"
        ) -> Response:
            chosen = year_of(year)
            rows = await compute(db, scope=scope, period=reporting_year(chosen))
            return _respond(
                name, rows, format, organisation_id=scope.organisation_id, reporting_year=chosen
            )

        view.__doc__ = compute.__doc__
        app.get(base + "/" + name, name=name)(view)

    async def timeliness_rows(
        db: AsyncConnection, *, scope: Scope, period: DateRange
    ) -> list[dict[str, Any]]:
        """Share of each step done within the Code's timescale, stage by stage."""
        return await figures.timeliness(db, scope=scope, period=period, rule=config.extension_rule)

    async def contractor_rows(
        db: AsyncConnection, *, scope: Scope, period: DateRange
    ) -> list[dict[str, Any]]:
        """Stage 1 timeliness per handling organisation, against the landlord's timescales."""
        return await reports.contractor_performance(db, await viewer(db, scope), period)

    async def action_rows(
        db: AsyncConnection, *, scope: Scope, period: DateRange
    ) -> list[dict[str, Any]]:
        """Actions promised in responses: done, outstanding and overdue (6.6, 6.17)."""
        today = local_date(clock())
        return await figures.outstanding_actions(db, scope=scope, period=period, today=today)

    simple_view("timeliness", timeliness_rows)
    simple_view("actions", action_rows)
    simple_view("refusals", figures.refusals)
    simple_view("remedies", figures.remedies)
    simple_view("learning", figures.learning)
    simple_view("letters", figures.letters)
    simple_view("register", figures.register)
    simple_view("contractors", contractor_rows)

    @app.get(base + "/open")
    async def open_steps(scope: ScopeDep, db: ConnectionDep, format: Format = "json") -> Response:
        """Open steps per handler: overdue, and due within the warning window."""
        seen = await viewer(db, scope)
        rows = await figures.open_clocks(
            db, scope=scope, today=seen.today, due_soon_by=seen.due_soon_by
        )
        return _respond(
            "open",
            rows,
            format,
            organisation_id=scope.organisation_id,
            today=seen.today,
            due_soon_by=seen.due_soon_by,
        )

    @app.get(base + "/dashboard", response_class=HTMLResponse)
    async def dashboard(scope: ScopeDep, db: ConnectionDep, year: Year = None) -> HTMLResponse:
        """The dashboard: figures, tables and charts, without JavaScript."""
        data = await reports.dashboard(db, await viewer(db, scope), year_of(year))
        return HTMLResponse(templates.get_template("dashboard.html").render(**data))

    @app.get(base + "/reports/quarterly", response_class=HTMLResponse)
    async def quarterly(
        scope: ScopeDep,
        db: ConnectionDep,
        year: Year = None,
        quarter: Annotated[int | None, Query(ge=1, le=4)] = None,
    ) -> HTMLResponse:
        """The quarterly report for the MRC and governing body (Code 9.7 a–b)."""
        default_year, default_quarter = quarter_of(local_date(clock()))
        data = await reports.quarterly(
            db,
            await viewer(db, scope),
            year if year is not None else default_year,
            quarter or default_quarter,
        )
        return HTMLResponse(templates.get_template("quarterly.html").render(**data))

    async def annual_html(db: AsyncConnection, scope: Scope, year: int | None) -> str:
        data = await reports.annual(db, await viewer(db, scope), year_of(year))
        return templates.get_template("annual.html").render(**data)

    @app.get(base + "/reports/annual", response_class=HTMLResponse)
    async def annual(scope: ScopeDep, db: ConnectionDep, year: Year = None) -> HTMLResponse:
        """The annual complaints performance and service improvement report (Code 8.1)."""
        return HTMLResponse(await annual_html(db, scope, year))

    @app.get(base + "/reports/annual.pdf")
    async def annual_pdf(scope: ScopeDep, db: ConnectionDep, year: Year = None) -> Response:
        """The annual report as a PDF."""
        from weasyprint import HTML

        page = await annual_html(db, scope, year)
        pdf: bytes = await asyncio.to_thread(lambda: HTML(string=page).write_pdf())
        return Response(pdf, media_type="application/pdf")

    @app.put(base + "/reports/annual/{year}/sections/{section}", status_code=204)
    async def write_section(
        scope: ScopeDep,
        db: ConnectionDep,
        year: Annotated[int, Path(ge=2015, le=2045)],
        section: Section,
        body: Annotated[str, Body(embed=True, min_length=1, max_length=50_000)],
    ) -> Response:
        """Store a section of the annual report only the landlord can write."""
        if scope.is_contractor:
            raise HTTPException(403, "only the landlord writes its annual report")
        await reports.save_section(
            db, organisation_id=scope.organisation_id, year=year, section=section, body=body
        )
        await db.commit()
        return Response(status_code=204)

    return app
