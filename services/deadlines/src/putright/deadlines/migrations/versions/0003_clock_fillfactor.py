"""Room on each clock page for in-place (HOT) updates.

A clock is updated several times in its life (missed, extended, met), and the timer
loop marks a thousand clocks missed per batch. With pages packed full, each update
is written elsewhere with a new entry in all six of the clock's indexes; with a
fifth of each page free, an update that changes no indexed column (missed_at,
revision, flags) stays on its page and touches no index.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # Applies to pages written from now on; existing pages keep their layout.
        op.execute("ALTER TABLE clock SET (fillfactor = 80)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE clock RESET (fillfactor)")
