"""What the dashboard and the governance reports show, gathered from the figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from putright.reporting import figures
from putright.reporting.charts import Series, bar_chart
from putright.reporting.figures import Row, Scope
from putright.reporting.models import report_section
from putright.reporting.periods import (
    DateRange,
    Period,
    bucket_label,
    quarter_range,
    reporting_year,
    year_label,
)
from putright.reporting.settings import ExtensionRule
from putright.reporting.sql import insert

STEP_NAMES = {
    (1, "acknowledgement"): "Stage 1 acknowledged",
    (1, "response"): "Stage 1 responded",
    (2, "acknowledgement"): "Stage 2 acknowledged",
    (2, "response"): "Stage 2 responded",
}
SHORT_REASON_NAMES = {
    "issue_over_twelve_months": "Over 12 months",
    "legal_proceedings": "Legal action",
    "already_considered": "Already considered",
}
REASON_NAMES = {
    "issue_over_twelve_months": "Issue arose over 12 months ago",
    "legal_proceedings": "Legal proceedings started",
    "already_considered": "Already considered under the policy",
}


class Section(StrEnum):
    """Parts of the annual report (Code 8.1, 8.2) the landlord writes; the data cannot."""

    SELF_ASSESSMENT = "self_assessment"  # 8.1 a
    COMMENTARY = "commentary"  # 8.1 b, the qualitative analysis
    OMBUDSMAN_FINDINGS = "ombudsman_findings"  # 8.1 c
    OMBUDSMAN_ANNUAL_REPORT = "ombudsman_annual_report"  # 8.1 e
    OTHER_OMBUDSMAN_REPORTS = "other_ombudsman_reports"  # 8.1 f
    GOVERNING_BODY_RESPONSE = "governing_body_response"  # 8.2


@dataclass(frozen=True)
class Viewer:
    """Who is looking, at what, with which extension rule."""

    scope: Scope
    name: str
    rule: ExtensionRule
    today: date
    due_soon_by: date
    target_percent: float


def month_starts(period: DateRange) -> list[date]:
    """The first day of every month in a range."""
    months, day = [], period.start.replace(day=1)
    while day <= period.end:
        months.append(day)
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return months


def _by_period(
    rows: list[Row], labels: list[str], stage: int, key: str | None = None
) -> list[float]:
    totals = dict.fromkeys(labels, 0.0)
    for row in rows:
        if row["stage"] == stage and (key is None or row["key"] == key) and row["period"] in totals:
            totals[row["period"]] += row["complaints"]
    return [totals[label] for label in labels]


def _totals(rows: list[Row], stage: int) -> list[tuple[str, int]]:
    totals: dict[str, int] = {}
    for row in rows:
        if row["stage"] == stage:
            totals[row["key"]] = totals.get(row["key"], 0) + row["complaints"]
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


async def _labelled_handlers(connection: AsyncConnection, rows: list[Row]) -> list[Row]:
    ids = {row["handler"] for row in rows if isinstance(row.get("handler"), UUID)}
    names = await figures.organisation_names(connection, ids)
    for row in rows:
        row["handler_name"] = names.get(str(row.get("handler")), "—")
    return rows


def _timeliness_chart(rows: list[Row], target: float) -> Any:
    labels = [STEP_NAMES[(row["stage"], row["step"])] for row in rows]
    return bar_chart(
        "Share of steps done within the Code's timescale (%)",
        labels,
        [
            Series("Within timescale (%)", [row["percent_strict"] or 0 for row in rows]),
            Series(
                "Within timescale, counting extensions (%)",
                [row["percent_accepting"] or 0 for row in rows],
            ),
        ],
        target=target,
        target_label=f"local target {target:g}%",
        maximum=100,
    )


async def core(connection: AsyncConnection, viewer: Viewer, period: DateRange) -> dict[str, Any]:
    """The figures every page shares, for one period."""
    scope = viewer.scope
    timeliness = await figures.timeliness(connection, scope=scope, period=period, rule=viewer.rule)
    by_category = await figures.volumes(
        connection, scope=scope, period=period, every=Period.YEAR, by="category"
    )
    by_outcome = await figures.volumes(
        connection, scope=scope, period=period, every=Period.YEAR, by="outcome"
    )
    refusals = await figures.refusals(connection, scope=scope, period=period)
    remedies = await figures.remedies(connection, scope=scope, period=period)
    stage1 = sum(count for _, count in _totals(by_category, 1))
    stage2 = sum(count for _, count in _totals(by_category, 2))
    return {
        "period": period,
        "stage1_received": stage1,
        "stage2_received": stage2,
        "escalation_rate": round(stage2 * 100 / stage1, 1) if stage1 else None,
        "categories": {1: _totals(by_category, 1), 2: _totals(by_category, 2)},
        "outcomes": {1: _totals(by_outcome, 1), 2: _totals(by_outcome, 2)},
        "timeliness": [
            {**row, "name": STEP_NAMES[(row["stage"], row["step"])]} for row in timeliness
        ],
        "timeliness_chart": _timeliness_chart(timeliness, viewer.target_percent),
        "refusals": [
            {**row, "name": REASON_NAMES.get(row["reason"], row["reason"])} for row in refusals
        ],
        "refusals_chart": bar_chart(
            "Complaints and escalations refused, by reason",
            [
                f"{SHORT_REASON_NAMES.get(row['reason'], row['reason'])} (stage {row['stage']})"
                for row in refusals
            ],
            [Series("Refused", [row["refused"] for row in refusals])],
        ),
        "remedies": remedies,
        "remedies_chart": bar_chart(
            "Remedies offered, by kind",
            [row["kind"].replace("_", " ") for row in remedies],
            [
                Series("Offered", [row["offered"] for row in remedies]),
                Series("Done", [row["done"] for row in remedies]),
            ],
        ),
        "compensation_offered": sum(
            (row["compensation_offered_gbp"] for row in remedies), Decimal(0)
        ),
        "compensation_paid": sum((row["compensation_paid_gbp"] for row in remedies), Decimal(0)),
        "learning": await figures.learning(connection, scope=scope, period=period),
    }


async def dashboard(connection: AsyncConnection, viewer: Viewer, year: int) -> dict[str, Any]:
    """The dashboard of one reporting year."""
    period = reporting_year(year)
    monthly = await figures.volumes(
        connection, scope=viewer.scope, period=period, every=Period.MONTH, by="stage"
    )
    labels = [bucket_label(Period.MONTH, month) for month in month_starts(period)]
    open_steps = await _labelled_handlers(
        connection,
        await figures.open_clocks(
            connection, scope=viewer.scope, today=viewer.today, due_soon_by=viewer.due_soon_by
        ),
    )
    return {
        **(await core(connection, viewer, period)),
        "viewer": viewer,
        "year": year,
        "year_label": year_label(year),
        "tsm": await figures.tsm(connection, scope=viewer.scope, period=period, rule=viewer.rule),
        "monthly_chart": bar_chart(
            "Complaints received each month",
            [label[:3] for label in labels],
            [
                Series("Stage 1", _by_period(monthly, labels, 1)),
                Series("Stage 2", _by_period(monthly, labels, 2)),
            ],
        ),
        "monthly": list(
            zip(labels, _by_period(monthly, labels, 1), _by_period(monthly, labels, 2), strict=True)
        ),
        "open_steps": open_steps,
        "contractors": await contractor_performance(connection, viewer, period),
    }


async def contractor_performance(
    connection: AsyncConnection, viewer: Viewer, period: DateRange
) -> list[Row]:
    """Each handling organisation's timeliness, against its landlord's timescales."""
    rows = await figures.timeliness(
        connection, scope=viewer.scope, period=period, rule=viewer.rule, by_handler=True
    )
    rows = [
        row
        for row in rows
        if row["handler"] != viewer.scope.organisation_id or viewer.scope.is_contractor
    ]
    rows = [row for row in rows if row["stage"] == 1]
    for row in rows:
        row["name"] = STEP_NAMES[(row["stage"], row["step"])]
    return await _labelled_handlers(connection, rows)


async def quarterly(
    connection: AsyncConnection, viewer: Viewer, year: int, quarter: int
) -> dict[str, Any]:
    """The MRC and governing body's quarterly report (9.7 a–b)."""
    period = quarter_range(year, quarter)
    # The trend covers this quarter and the three before it.
    first_year, first_quarter = divmod(year * 4 + quarter - 1 - 3, 4)
    trend = DateRange(quarter_range(first_year, first_quarter + 1).start, period.end)
    by_quarter = await figures.volumes(
        connection, scope=viewer.scope, period=trend, every=Period.QUARTER, by="category"
    )
    labels = sorted({row["period"] for row in by_quarter})
    categories = sorted({row["key"] for row in by_quarter if row["stage"] == 1})
    return {
        **(await core(connection, viewer, period)),
        "viewer": viewer,
        "title": f"Reporting year {year_label(year)}, quarter {quarter}",
        "trend_labels": labels,
        "trend": [
            (category, _by_period(by_quarter, labels, 1, category)) for category in categories
        ],
        "trend_chart": bar_chart(
            "Stage 1 complaints by quarter",
            labels,
            [Series("Stage 1", _by_period(by_quarter, labels, 1))],
        ),
    }


async def annual(connection: AsyncConnection, viewer: Viewer, year: int) -> dict[str, Any]:
    """The annual complaints performance and service improvement report (8.1 a–f)."""
    period = reporting_year(year)
    return {
        **(await core(connection, viewer, period)),
        "viewer": viewer,
        "year": year,
        "year_label": year_label(year),
        "tsm": await figures.tsm(connection, scope=viewer.scope, period=period, rule=viewer.rule),
        "contractors": await contractor_performance(connection, viewer, period),
        "sections": await sections(connection, viewer.scope.organisation_id, year),
    }


async def sections(connection: AsyncConnection, organisation_id: UUID, year: int) -> dict[str, str]:
    """The sections the landlord has written for a year's report."""
    result = await connection.execute(
        select(report_section.c.section, report_section.c.body).where(
            report_section.c.organisation_id == organisation_id,
            report_section.c.reporting_year == year,
        )
    )
    return {row.section: row.body for row in result}


async def save_section(
    connection: AsyncConnection, *, organisation_id: UUID, year: int, section: Section, body: str
) -> None:
    """Store (or replace) one landlord-written section."""
    statement = insert(connection, report_section).values(
        organisation_id=organisation_id, reporting_year=year, section=section.value, body=body
    )
    await connection.execute(
        statement.on_conflict_do_update(
            index_elements=["organisation_id", "reporting_year", "section"],
            set_={"body": statement.excluded.body, "updated_at": func.now()},
        )
    )
