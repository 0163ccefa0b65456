"""Letters, and the delivery tables.

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
        "letter",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("complaint_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("caused_by_event_id", sa.Uuid(), nullable=False),
        sa.Column("correlation_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False, unique=True),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False, index=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("letter")
    op.drop_table("processed_event")
    op.drop_table("outbox")
