"""Drop two indexes that no query reads, so every write maintains fewer.

- `ix_timer_clock_id`: no query looks timers up by clock. Each timer is inserted once
  and marked fired once; marking it is not a HOT update (`fired_at` is in the pending
  index's predicate), so it also paid an entry here.
- `ix_clock_organisation_id`: `ix_clock_organisation_state_due` starts with the same
  column and serves every query by landlord.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_timer_clock_id", table_name="timer")
    op.drop_index("ix_clock_organisation_id", table_name="clock")


def downgrade() -> None:
    op.create_index("ix_clock_organisation_id", "clock", ["organisation_id"])
    op.create_index("ix_timer_clock_id", "timer", ["clock_id"])
