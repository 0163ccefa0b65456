"""Index each stage's acknowledgement date, as the timeliness view reads it.

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
    # 0002 creates the tables as models.py declares them today, indexes included, so a
    # fresh database already has these.
    for stage in (1, 2):
        op.create_index(
            f"complaint_org_s{stage}_acknowledged",
            "complaint",
            [
                "organisation_id",
                sa.text(f"coalesce(s{stage}_acknowledged_on, s{stage}_responded_on)"),
            ],
            if_not_exists=True,
        )


def downgrade() -> None:
    for stage in (1, 2):
        op.drop_index(f"complaint_org_s{stage}_acknowledged", "complaint")
