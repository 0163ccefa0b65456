"""Organisations, complaints, and the delivery tables.

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
        "organisation",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
    )
    op.create_table(
        "complaint",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organisation_id", sa.Uuid(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("reference", sa.String(), nullable=False, unique=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("submission", sa.JSON(), nullable=False),
    )
    op.create_index("ix_complaint_organisation_id", "complaint", ["organisation_id"])


def downgrade() -> None:
    op.drop_table("complaint")
    op.drop_table("organisation")
    op.drop_table("processed_event")
    op.drop_table("outbox")
