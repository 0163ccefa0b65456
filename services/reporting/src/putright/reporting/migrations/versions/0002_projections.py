"""Every projection the governance views read, and the landlord-written report sections.

The first slice's `registerentry` is replaced by `complaint`; its rows are rebuilt by
replaying the topics (`python -m putright.reporting rebuild`).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from putright.reporting.models import PROJECTIONS, metadata, report_section

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("registerentry")
    # The tables as models.py declared them at this revision; a later change to a
    # projection gets its own migration (or, being a projection, a drop and a rebuild).
    metadata.create_all(op.get_bind(), tables=[*PROJECTIONS, report_section])


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[*PROJECTIONS, report_section])
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
