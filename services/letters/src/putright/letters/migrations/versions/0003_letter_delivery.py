"""A journal of mail servers' acceptances, so a batch of sends survives a crash.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "letter_delivery",
        sa.Column("letter_id", sa.Uuid(), primary_key=True),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("letter_delivery")
