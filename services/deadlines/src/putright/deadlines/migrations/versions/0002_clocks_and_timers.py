"""Every clock of the Code, and the durable timers that watch them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode, so the same migration runs on SQLite (the embedded mode) too.
    with op.batch_alter_table("clock") as clock:
        clock.add_column(sa.Column("stage", sa.Integer(), nullable=True))
        clock.add_column(sa.Column("item_id", sa.Uuid(), nullable=True))
        clock.add_column(sa.Column("working_days", sa.Integer(), nullable=True))
        clock.add_column(sa.Column("base_due_on", sa.Date(), nullable=True))
        for name, column_type, default in (
            ("extension_working_days", sa.Integer(), "0"),
            ("good_reason_recorded", sa.Boolean(), "false"),
            ("revision", sa.Integer(), "0"),
            ("flags", sa.JSON(), "'[]'"),
        ):
            clock.add_column(
                sa.Column(name, column_type, nullable=False, server_default=sa.text(default))
            )
        clock.add_column(sa.Column("occurrence", sa.Integer(), nullable=True))
        clock.add_column(sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True))
        clock.add_column(sa.Column("completed_on", sa.Date(), nullable=True))
        clock.add_column(sa.Column("on_time", sa.Boolean(), nullable=True))
        clock.add_column(sa.Column("cancel_reason", sa.String(), nullable=True))
        clock.create_index("ix_clock_handling_organisation_id", ["handling_organisation_id"])
        clock.create_index(
            "ix_clock_organisation_state_due", ["organisation_id", "state", "due_on"]
        )
    # The first slice timed only acknowledgements (5 working days, never extended).
    op.execute("UPDATE clock SET base_due_on = due_on, working_days = 5")
    with op.batch_alter_table("clock") as clock:
        clock.alter_column("base_due_on", existing_type=sa.Date(), nullable=False)
    op.create_table(
        "timer",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("clock_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(), nullable=True),
    )
    op.create_index(
        "ix_timer_pending", "timer", ["fire_at"], postgresql_where=sa.text("fired_at IS NULL")
    )


def downgrade() -> None:
    op.drop_table("timer")
    with op.batch_alter_table("clock") as clock:
        clock.drop_index("ix_clock_organisation_state_due")
        clock.drop_index("ix_clock_handling_organisation_id")
        for name in (
            "cancel_reason",
            "on_time",
            "completed_on",
            "missed_at",
            "occurrence",
            "flags",
            "revision",
            "good_reason_recorded",
            "extension_working_days",
            "base_due_on",
            "working_days",
            "item_id",
            "stage",
        ):
            clock.drop_column(name)
