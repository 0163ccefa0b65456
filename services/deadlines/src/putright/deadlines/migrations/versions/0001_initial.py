"""Calendars, clocks, and the delivery tables.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from putright.shared.migrations import create_delivery_tables_v1

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_delivery_tables_v1()
    op.create_table(
        "organisationcalendar",
        sa.Column("organisation_id", sa.Uuid(), primary_key=True),
        sa.Column("nation", sa.String(), nullable=False),
        sa.Column("days_off", sa.JSON(), nullable=False),
    )
    op.create_table(
        "clock",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("complaint_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("handling_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False, index=True),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("clock")
    op.drop_table("organisationcalendar")
    op.drop_table("processed_event")
    op.drop_table("outbox")
