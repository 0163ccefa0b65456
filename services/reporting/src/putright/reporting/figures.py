"""Every figure the views show, as set-based SQL over the projections.

docs/figures.md defines each one: what is counted, which date decides the period and
how an extension counts. All queries are scoped: a landlord sees its complaints,
including those its contractors handle; a contractor sees only those it handles.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Date, Uuid, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from putright.reporting.models import organisation
from putright.reporting.periods import DateRange, Period, bucket_label, bucket_sql
from putright.reporting.settings import ExtensionRule
from putright.shared.events import OrganisationKind

# The Code's timescales in working days (BRIEF.md; Code 6.2–6.4, 6.11, 6.14–6.15).
ACKNOWLEDGE_WITHIN = {1: 5, 2: 5}
RESPOND_WITHIN = {1: 10, 2: 20}
EXTENSION_LIMIT = {1: 10, 2: 20}

Row = dict[str, Any]

# Types of the columns the figures return, so that SQLite (which keeps dates as text and
# UUIDs as hex) gives the same Python values as PostgreSQL.
RESULT_TYPES: dict[str, TypeEngine[Any]] = {
    "handler": Uuid(),
    "bucket": Date(),
    "due_on": Date(),
    "recorded_on": Date(),
    **{
        name: Date()
        for name in (
            "received_on",
            "refused_on",
            "escalated_on",
            "withdrawn_on",
            "closed_on",
            *(
                f"s{stage}_{step}_on"
                for stage in (1, 2)
                for step in ("acknowledged", "extension_notified", "responded")
            ),
        )
    },
}


@dataclass(frozen=True)
class Scope:
    """Whose complaints a viewer may see."""

    organisation_id: UUID
    kind: OrganisationKind

    @property
    def is_contractor(self) -> bool:
        """Contractors see only the complaints they handle."""
        return self.kind is OrganisationKind.CONTRACTOR

    def complaints(self, alias: str = "complaint") -> str:
        """A condition on the register selecting the viewer's complaints."""
        column = "handling_organisation_id" if self.is_contractor else "organisation_id"
        return f"{alias}.{column} = :scope"

    def related(self, alias: str) -> str:
        """A condition on a per-complaint table (remedies, learning...) for the viewer."""
        if self.is_contractor:
            return (
                f"{alias}.complaint_id IN "  # noqa: S608 - an alias, never input
                "(SELECT complaint_id FROM complaint WHERE handling_organisation_id = :scope)"
            )
        return f"{alias}.organisation_id = :scope"

    def clocks(self) -> str:
        """A condition on the open-clock table (alias `k`) for the viewer."""
        column = "handling_organisation_id" if self.is_contractor else "organisation_id"
        return f"k.{column} = :scope"


def extension_accepted(stage: int, rule: ExtensionRule) -> str:
    """SQL: whether a stage's notified extension counts in the extension-accepting figure."""
    days = f"coalesce(s{stage}_extension_days, 0)"
    in_time = f"NOT coalesce(s{stage}_extension_notified_late, false)"
    within = f"{days} <= {EXTENSION_LIMIT[stage]}"
    match rule:
        case ExtensionRule.WITHIN_CODE_LIMIT:
            return f"({in_time} AND {within})"
        case ExtensionRule.WITHIN_LIMIT_OR_GOOD_REASON:
            return f"({in_time} AND ({within} OR s{stage}_extension_good_reason IS NOT NULL))"
        case ExtensionRule.ANY_NOTIFIED:
            return "true"


def acknowledged_in_time(stage: int) -> str:
    """SQL: the stage was acknowledged within the Code's timescale."""
    return f"s{stage}_ack_wd <= {ACKNOWLEDGE_WITHIN[stage]}"


def responded_in_time(stage: int, rule: ExtensionRule | None) -> str:
    """SQL: the response came within the base timescale (strict, `rule` None) or within
    the base plus an extension the rule accepts."""
    base = f"s{stage}_resp_wd <= {RESPOND_WITHIN[stage]}"
    if rule is None:
        return base
    return (
        f"s{stage}_resp_wd <= {RESPOND_WITHIN[stage]} + CASE WHEN "
        f"{extension_accepted(stage, rule)} THEN coalesce(s{stage}_extension_days, 0) ELSE 0 END"
    )


def _params(scope: Scope, period: DateRange, **more: Any) -> dict[str, Any]:
    return {"scope": scope.organisation_id, "start": period.start, "end": period.end, **more}


async def _rows(connection: AsyncConnection, sql: str, params: dict[str, Any]) -> list[Row]:
    # Bound by value, so each parameter gets its type (UUID, date) on every dialect.
    statement = text(sql).bindparams(**params).columns(**RESULT_TYPES)
    result = await connection.execute(statement)
    return [dict(row._mapping) for row in result]


def _rate(part: int, whole: int, scale: int = 100) -> float | None:
    return round(part * scale / whole, 1) if whole else None


async def tsm(
    connection: AsyncConnection, *, scope: Scope, period: DateRange, rule: ExtensionRule
) -> Row:
    """CH01 and CH02 at both stages for a reporting year, with their parts."""
    within = "BETWEEN :start AND :end"
    select_sql = f"""
        SELECT
          count(*) FILTER (WHERE received_on {within} AND refused_on IS NULL) AS s1_received,
          count(*) FILTER (WHERE escalated_on {within} AND escalation_refused_on IS NULL)
              AS s2_received,
          count(*) FILTER (WHERE s1_responded_on {within}) AS s1_responded,
          count(*) FILTER (WHERE s1_responded_on {within} AND {acknowledged_in_time(1)}
              AND {responded_in_time(1, None)}) AS s1_strict,
          count(*) FILTER (WHERE s1_responded_on {within} AND {acknowledged_in_time(1)}
              AND {responded_in_time(1, rule)}) AS s1_accepting,
          count(*) FILTER (WHERE s2_responded_on {within}) AS s2_responded,
          count(*) FILTER (WHERE s2_responded_on {within} AND {acknowledged_in_time(2)}
              AND {responded_in_time(2, None)}) AS s2_strict,
          count(*) FILTER (WHERE s2_responded_on {within} AND {acknowledged_in_time(2)}
              AND {responded_in_time(2, rule)}) AS s2_accepting
        FROM complaint
        WHERE {scope.complaints()} AND (
          received_on {within} OR escalated_on {within}
          OR s1_responded_on {within} OR s2_responded_on {within})
    """  # noqa: S608 - built from constants, values are bound
    counts = (await _rows(connection, select_sql, _params(scope, period)))[0]
    homes = await _homes(connection, scope)
    return {
        **counts,
        "homes": homes,
        "extension_rule": rule.value,
        "ch01_stage1": _rate(counts["s1_received"], homes or 0, 1000),
        "ch01_stage2": _rate(counts["s2_received"], homes or 0, 1000),
        "ch02_stage1_strict": _rate(counts["s1_strict"], counts["s1_responded"]),
        "ch02_stage1_accepting": _rate(counts["s1_accepting"], counts["s1_responded"]),
        "ch02_stage2_strict": _rate(counts["s2_strict"], counts["s2_responded"]),
        "ch02_stage2_accepting": _rate(counts["s2_accepting"], counts["s2_responded"]),
    }


async def _homes(connection: AsyncConnection, scope: Scope) -> int | None:
    if scope.is_contractor:
        return None
    homes: int | None = await connection.scalar(
        select(organisation.c.homes).where(organisation.c.organisation_id == scope.organisation_id)
    )
    return homes


DIMENSIONS = ("stage", "category", "channel", "handler", "outcome")


def _volume_parts(by: str) -> list[tuple[int, str, str, str]]:
    """(stage, date column, key expression, condition) for each stage's part of a volume."""
    if by == "outcome":
        return [
            (1, "s1_responded_on", "s1_decision", "true"),
            (2, "s2_responded_on", "s2_decision", "true"),
        ]
    key = {
        "stage": "'all'",
        "category": "category",
        "channel": "channel",
        "handler": "CAST(handling_organisation_id AS TEXT)",
    }[by]
    # Stage 2 stays with the landlord (BRIEF.md), so it is the stage 2 handler.
    stage2_key = "CAST(organisation_id AS TEXT)" if by == "handler" else key
    return [
        (1, "received_on", key, "refused_on IS NULL"),
        (2, "escalated_on", stage2_key, "escalation_refused_on IS NULL"),
    ]


async def volumes(
    connection: AsyncConnection, *, scope: Scope, period: DateRange, every: Period, by: str
) -> list[Row]:
    """Complaints per bucket of time, stage and the chosen dimension."""
    parts = [
        f"""SELECT {bucket_sql(connection.dialect.name, every, column)} AS bucket, {stage} AS stage,
                   coalesce({key}, 'not recorded') AS key, count(*) AS complaints
            FROM complaint
            WHERE {scope.complaints()} AND {column} BETWEEN :start AND :end AND {condition}
            GROUP BY 1, 2, 3"""  # noqa: S608 - built from constants, values are bound
        for stage, column, key, condition in _volume_parts(by)
    ]
    rows = await _rows(
        connection, " UNION ALL ".join(parts) + " ORDER BY 1, 2, 3", _params(scope, period)
    )
    for row in rows:
        row["period"] = bucket_label(every, row.pop("bucket"))
        if by == "handler" and row["key"] != "not recorded":
            # PostgreSQL casts a uuid to its hyphenated form, SQLite to bare hex.
            row["key"] = str(UUID(row["key"]))
    return rows


async def timeliness(
    connection: AsyncConnection,
    *,
    scope: Scope,
    period: DateRange,
    rule: ExtensionRule,
    by_handler: bool = False,
) -> list[Row]:
    """Share of each step done within the Code's timescale, stage by stage."""
    handler = "handling_organisation_id" if by_handler else "NULL"
    parts = []
    for stage in (1, 2):
        acknowledged = f"coalesce(s{stage}_acknowledged_on, s{stage}_responded_on)"
        stage_handler = handler if stage == 1 else ("organisation_id" if by_handler else handler)
        parts.append(
            f"""SELECT {stage_handler} AS handler, {stage} AS stage, 'acknowledgement' AS step,
                       count(*) AS done, count(*) FILTER (WHERE {acknowledged_in_time(stage)})
                       AS within_strict,
                       count(*) FILTER (WHERE {acknowledged_in_time(stage)}) AS within_accepting
                FROM complaint WHERE {scope.complaints()} AND {acknowledged} BETWEEN :start AND :end
                GROUP BY 1"""  # noqa: S608 - built from constants, values are bound
        )
        parts.append(
            f"""SELECT {stage_handler} AS handler, {stage} AS stage, 'response' AS step,
                       count(*) AS done,
                       count(*) FILTER (WHERE {responded_in_time(stage, None)}) AS within_strict,
                       count(*) FILTER (WHERE {responded_in_time(stage, rule)})
                       AS within_accepting
                FROM complaint WHERE {scope.complaints()}
                  AND s{stage}_responded_on BETWEEN :start AND :end
                GROUP BY 1"""  # noqa: S608 - built from constants, values are bound
        )
    rows = await _rows(connection, " UNION ALL ".join(parts), _params(scope, period))
    for row in rows:
        row["percent_strict"] = _rate(row["within_strict"], row["done"])
        row["percent_accepting"] = _rate(row["within_accepting"], row["done"])
        row["target_working_days"] = (
            ACKNOWLEDGE_WITHIN if row["step"] == "acknowledgement" else RESPOND_WITHIN
        )[row["stage"]]
    rows.sort(key=lambda row: (str(row["handler"]), row["stage"], row["step"]))
    return rows


async def refusals(connection: AsyncConnection, *, scope: Scope, period: DateRange) -> list[Row]:
    """Complaints not accepted (stage 1) and escalations refused (stage 2), by reason."""
    sql = f"""
        SELECT 1 AS stage, refusal_reason AS reason, count(*) AS refused FROM complaint
        WHERE {scope.complaints()} AND refused_on BETWEEN :start AND :end GROUP BY 2
        UNION ALL
        SELECT 2, escalation_refusal_reason, count(*) FROM complaint
        WHERE {scope.complaints()} AND escalation_refused_on BETWEEN :start AND :end GROUP BY 2
        ORDER BY 1, 2
    """  # noqa: S608 - built from constants, values are bound
    return await _rows(connection, sql, _params(scope, period))


async def remedies(connection: AsyncConnection, *, scope: Scope, period: DateRange) -> list[Row]:
    """Remedies offered in responses in the period, by kind, with compensation in pounds."""
    sql = f"""
        SELECT kind, count(*) AS offered,
               count(*) FILTER (WHERE completed_on IS NOT NULL) AS done,
               count(*) FILTER (WHERE completed_on IS NULL) AS outstanding,
               coalesce(sum(compensation_gbp), 0) AS compensation_offered_gbp,
               coalesce(sum(compensation_gbp) FILTER (WHERE completed_on IS NOT NULL), 0)
                   AS compensation_paid_gbp
        FROM remedy r
        WHERE {scope.related("r")} AND offered_on BETWEEN :start AND :end
        GROUP BY kind ORDER BY kind
    """  # noqa: S608 - built from constants, values are bound
    rows = await _rows(connection, sql, _params(scope, period))
    for row in rows:
        for money in ("compensation_offered_gbp", "compensation_paid_gbp"):
            row[money] = Decimal(row[money]).quantize(Decimal("0.01"))
    return rows


async def outstanding_actions(
    connection: AsyncConnection, *, scope: Scope, period: DateRange, today: date
) -> list[Row]:
    """Actions promised in responses in the period (6.6, 6.17): done, still open, overdue."""
    sql = f"""
        SELECT stage, count(*) AS promised,
               count(*) FILTER (WHERE completed_on IS NOT NULL) AS done,
               count(*) FILTER (WHERE completed_on IS NULL) AS outstanding,
               count(*) FILTER (WHERE completed_on IS NULL AND due_on < :today) AS overdue
        FROM outstanding_action a
        WHERE {scope.related("a")} AND promised_on BETWEEN :start AND :end
        GROUP BY stage ORDER BY stage
    """  # noqa: S608 - built from constants, values are bound
    return await _rows(connection, sql, _params(scope, period, today=today))


async def learning(connection: AsyncConnection, *, scope: Scope, period: DateRange) -> list[Row]:
    """Learning and service improvements recorded in the period (9.1, 8.1 d)."""
    sql = f"""
        SELECT l.recorded_on, c.reference, c.category, l.service_area, l.lesson,
               l.service_improvement
        FROM learning l LEFT JOIN complaint c USING (complaint_id)
        WHERE {scope.related("l")} AND l.recorded_on BETWEEN :start AND :end
        ORDER BY l.recorded_on, c.reference
    """  # noqa: S608 - built from constants, values are bound
    return await _rows(connection, sql, _params(scope, period))


async def letters(connection: AsyncConnection, *, scope: Scope, period: DateRange) -> list[Row]:
    """Letters by kind: sent, blocked for missing content, failed to deliver."""
    sql = f"""
        SELECT kind,
               count(*) FILTER (WHERE sent_on BETWEEN :start AND :end) AS sent,
               count(*) FILTER (WHERE blocked_on BETWEEN :start AND :end AND sent_on IS NULL)
                   AS blocked,
               count(*) FILTER (WHERE failed_on BETWEEN :start AND :end AND sent_on IS NULL)
                   AS failed
        FROM letter t WHERE {scope.related("t")}
        GROUP BY kind ORDER BY kind
    """  # noqa: S608 - built from constants, values are bound
    rows = await _rows(connection, sql, _params(scope, period))
    return [row for row in rows if row["sent"] or row["blocked"] or row["failed"]]


async def open_clocks(
    connection: AsyncConnection, *, scope: Scope, today: date, due_soon_by: date
) -> list[Row]:
    """Open steps per handler: overdue, and due by `due_soon_by`."""
    condition = (
        "k.handling_organisation_id = :scope"
        if scope.is_contractor
        else "k.organisation_id = :scope"
    )
    sql = f"""
        SELECT k.handling_organisation_id AS handler, k.step,
               count(*) FILTER (WHERE k.due_on < :today) AS overdue,
               count(*) FILTER (WHERE k.due_on BETWEEN :today AND :soon) AS due_soon,
               count(*) AS open
        FROM clock k
        WHERE {condition} AND k.met_on IS NULL AND k.cancelled_on IS NULL
        GROUP BY 1, 2 ORDER BY 1, 2
    """  # noqa: S608 - built from constants, values are bound
    return await _rows(
        connection, sql, {"scope": scope.organisation_id, "today": today, "soon": due_soon_by}
    )


async def overdue_list(
    connection: AsyncConnection, *, scope: Scope, today: date, limit: int = 100
) -> list[Row]:
    """The open steps past their due date, oldest first."""
    condition = (
        "k.handling_organisation_id = :scope"
        if scope.is_contractor
        else "k.organisation_id = :scope"
    )
    sql = f"""
        SELECT c.reference, k.step, k.due_on, k.handling_organisation_id AS handler
        FROM clock k LEFT JOIN complaint c USING (complaint_id)
        WHERE {condition} AND k.met_on IS NULL AND k.cancelled_on IS NULL AND k.due_on < :today
        ORDER BY k.due_on, c.reference LIMIT :limit
    """  # noqa: S608 - built from constants, values are bound
    return await _rows(
        connection, sql, {"scope": scope.organisation_id, "today": today, "limit": limit}
    )


async def register(connection: AsyncConnection, *, scope: Scope, period: DateRange) -> list[Row]:
    """The register rows of complaints received in the period."""
    sql = f"""
        SELECT reference, received_on, channel, category, handling_organisation_id AS handler,
               refused_on, refusal_reason, s1_acknowledged_on, s1_extension_notified_on,
               s1_extension_days, s1_extension_reason, s1_extension_good_reason,
               s1_responded_on, s1_decision, escalated_on, s2_acknowledged_on,
               s2_extension_notified_on, s2_extension_days, s2_extension_reason,
               s2_responded_on, s2_decision, withdrawn_on, closed_on,
               s1_ack_wd, s1_resp_wd, s2_ack_wd, s2_resp_wd
        FROM complaint
        WHERE {scope.complaints()} AND received_on BETWEEN :start AND :end
        ORDER BY received_on, reference
    """  # noqa: S608 - built from constants, values are bound
    return await _rows(connection, sql, _params(scope, period))


async def organisation_names(connection: AsyncConnection, ids: set[UUID]) -> dict[str, str]:
    """Names of organisations by id (as text), for labelling handlers."""
    if not ids:
        return {}
    result = await connection.execute(
        select(organisation.c.organisation_id, organisation.c.name).where(
            organisation.c.organisation_id.in_(ids)
        )
    )
    return {str(row.organisation_id): row.name for row in result}


async def organisation_kind(
    connection: AsyncConnection, organisation_id: UUID
) -> tuple[str, OrganisationKind] | None:
    """An organisation's name and kind, if its profile has been seen."""
    result = await connection.execute(
        select(organisation.c.name, organisation.c.kind).where(
            organisation.c.organisation_id == organisation_id
        )
    )
    row = result.first()
    return (row.name, OrganisationKind(row.kind)) if row else None
