"""Reporting's read models, projected from the events.

The projection tables are declared with SQLAlchemy Core rather than SQLModel classes
because they are written only by set-based batch upserts and read only by aggregate
SQL: no row is ever loaded as an object, and a million-event rebuild needs the bulk
path. Every projection table can be truncated and rebuilt from the topics; only
`report_section` (text the landlord writes) is not a projection and survives a rebuild.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
)

from putright.shared.runtime import delivery_tables

metadata = MetaData()
outbox, processed_event = delivery_tables(metadata)

organisation = Table(
    "organisation",
    metadata,
    Column("organisation_id", Uuid, primary_key=True),
    Column("name", Text, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("homes", Integer),
    Column("nation", String(40), nullable=False),
    Column("days_off", JSON, nullable=False, doc="Closure days and extra holidays, ISO dates."),
)

contract = Table(
    "contract",
    metadata,
    Column("contract_id", Uuid, primary_key=True),
    Column("landlord_id", Uuid, nullable=False, index=True),
    Column("contractor_id", Uuid, nullable=False, index=True),
    Column("categories", JSON, nullable=False),
    Column("contractor_handles_stage1", Boolean, nullable=False),
)


def _stage_columns(stage: int) -> list[Column[object]]:
    """The dates and derived working-day counts of one stage of a complaint."""
    prefix = f"s{stage}_"
    return [
        Column(prefix + "acknowledged_on", Date),
        Column(prefix + "responded_on", Date),
        Column(prefix + "decision", String(20)),
        Column(prefix + "extension_notified_on", Date),
        Column(prefix + "extension_days", SmallInteger),
        Column(prefix + "extension_reason", Text),
        Column(prefix + "extension_good_reason", Text),
        Column(prefix + "extension_notified_late", Boolean),
        # Working days from the clock's start to acknowledgement, and from
        # acknowledgement to response, on the landlord's calendar.
        Column(prefix + "ack_wd", SmallInteger),
        Column(prefix + "resp_wd", SmallInteger),
    ]


# The register: one row per complaint with every date that matters (local UK dates).
complaint = Table(
    "complaint",
    metadata,
    Column("complaint_id", Uuid, primary_key=True),
    Column("organisation_id", Uuid, nullable=False),
    Column("handling_organisation_id", Uuid),
    Column("reference", String(60)),
    Column("channel", String(30)),
    Column("category", Text),
    Column("received_at", DateTime(timezone=True)),
    Column("received_on", Date),
    Column("refused_on", Date),
    Column("refusal_reason", String(40)),
    Column("withdrawn_on", Date),
    Column("closed_on", Date),
    Column("escalated_on", Date),
    Column("escalation_refused_on", Date),
    Column("escalation_refusal_reason", String(40)),
    *_stage_columns(1),
    *_stage_columns(2),
    Index("complaint_org_received", "organisation_id", "received_on"),
    Index("complaint_handler_received", "handling_organisation_id", "received_on"),
    Index("complaint_org_s1_responded", "organisation_id", "s1_responded_on"),
    Index("complaint_org_escalated", "organisation_id", "escalated_on"),
    Index("complaint_org_s2_responded", "organisation_id", "s2_responded_on"),
)

# Each stage's acknowledgement (an unacknowledged response acknowledges when sent)
# decides the period of the timeliness view's acknowledgement rows.
for _stage in (1, 2):
    Index(
        f"complaint_org_s{_stage}_acknowledged",
        complaint.c.organisation_id,
        func.coalesce(
            complaint.c[f"s{_stage}_acknowledged_on"], complaint.c[f"s{_stage}_responded_on"]
        ),
    )

extension = Table(
    "extension",
    metadata,
    Column("event_id", Uuid, primary_key=True),
    Column("complaint_id", Uuid, nullable=False, index=True),
    Column("stage", SmallInteger, nullable=False),
    Column("notified_on", Date, nullable=False),
    Column("working_days", SmallInteger, nullable=False),
    Column("previous_due_on", Date, nullable=False),
    Column("new_due_on", Date, nullable=False),
    Column("reason", Text, nullable=False),
    Column("good_reason", Text),
)

remedy = Table(
    "remedy",
    metadata,
    Column("remedy_id", Uuid, primary_key=True),
    Column("complaint_id", Uuid, nullable=False),
    Column("organisation_id", Uuid, nullable=False),
    Column("stage", SmallInteger),
    Column("kind", String(30)),
    Column("description", Text),
    Column("compensation_gbp", Numeric(12, 2)),
    Column("offered_on", Date),
    Column("due_on", Date),
    Column("completed_on", Date),
    Index("remedy_org_offered", "organisation_id", "offered_on"),
)

outstanding_action = Table(
    "outstanding_action",
    metadata,
    Column("action_id", Uuid, primary_key=True),
    Column("complaint_id", Uuid, nullable=False),
    Column("organisation_id", Uuid, nullable=False),
    Column("stage", SmallInteger),
    Column("description", Text),
    Column("promised_on", Date),
    Column("due_on", Date),
    Column("completed_on", Date),
    Index("action_org_due", "organisation_id", "due_on"),
)

learning = Table(
    "learning",
    metadata,
    Column("learning_id", Uuid, primary_key=True),
    Column("complaint_id", Uuid, nullable=False),
    Column("organisation_id", Uuid, nullable=False),
    Column("recorded_on", Date, nullable=False),
    Column("lesson", Text, nullable=False),
    Column("service_improvement", Text),
    Column("service_area", Text),
    Index("learning_org_recorded", "organisation_id", "recorded_on"),
)

letter = Table(
    "letter",
    metadata,
    Column("letter_id", Uuid, primary_key=True),
    Column("complaint_id", Uuid, nullable=False),
    Column("organisation_id", Uuid, nullable=False),
    Column("kind", String(40), nullable=False),
    Column("sent_on", Date),
    Column("blocked_on", Date),
    Column("failed_on", Date),
    # None binds as SQL NULL, not JSON 'null', so the upsert's COALESCE keeps the items
    # a blocked letter recorded when a later event of the same letter carries none.
    Column("missing_items", JSON(none_as_null=True)),
    Index("letter_org", "organisation_id"),
)

clock = Table(
    "clock",
    metadata,
    Column("clock_id", Uuid, primary_key=True),
    Column("complaint_id", Uuid, nullable=False),
    Column("organisation_id", Uuid, nullable=False),
    Column("handling_organisation_id", Uuid),
    Column("step", String(40)),
    Column("stage", SmallInteger),
    Column("due_on", Date),
    Column("missed", Boolean),
    Column("met_on", Date),
    Column("cancelled_on", Date),
    Index("clock_org_due", "organisation_id", "due_on"),
)

PROJECTIONS = (
    organisation,
    contract,
    complaint,
    extension,
    remedy,
    outstanding_action,
    learning,
    letter,
    clock,
)

report_section = Table(
    "report_section",
    metadata,
    Column("organisation_id", Uuid, nullable=False),
    Column("reporting_year", Integer, nullable=False),
    Column("section", String(40), nullable=False),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("organisation_id", "reporting_year", "section"),
)
