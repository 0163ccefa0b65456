"""The complaints register, and the delivery tables.

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
        "registerentry",
        sa.Column("complaint_id", sa.Uuid(), primary_key=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("handling_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("category", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("registerentry")
    op.drop_table("processed_event")
    op.drop_table("outbox")
