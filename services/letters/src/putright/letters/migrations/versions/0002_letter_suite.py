"""The letter suite: landlords' profiles and layouts, complaint files, retries, print queue.

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
    op.create_table(
        "organisation",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("sender_email", sa.String(), nullable=True),
        sa.Column("complaints_email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("postal_address", sa.JSON(), nullable=True),
        sa.Column("branding", sa.JSON(), nullable=False),
    )
    op.create_table(
        "letter_layout",
        sa.Column("organisation_id", sa.Uuid(), primary_key=True),
        sa.Column("blocks", sa.JSON(), nullable=False),
    )
    op.create_table(
        "complaint",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("resident", sa.JSON(), nullable=False),
        sa.Column("representative", sa.JSON(), nullable=True),
        sa.Column("definition", sa.JSON(), nullable=True),
        sa.Column("outstanding_actions", sa.JSON(), nullable=False),
    )
    op.create_table(
        "print_job",
        sa.Column("letter_id", sa.Uuid(), primary_key=True),
        sa.Column("organisation_id", sa.Uuid(), nullable=False, index=True),
        sa.Column("complaint_id", sa.Uuid(), nullable=False),
        sa.Column("addressee", sa.String(), nullable=False),
        sa.Column("address", sa.JSON(), nullable=True),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("printed_at", sa.DateTime(timezone=True), nullable=True),
    )
    with op.batch_alter_table("letter") as letter:
        for name, kind, default in (
            ("delivery", sa.String(), "email"),
            ("recipient_name", sa.String(), ""),
            ("to_representative", sa.Boolean(), "false"),
            ("facts", sa.JSON(), "{}"),
            ("missing_items", sa.JSON(), "[]"),
        ):
            letter.add_column(sa.Column(name, kind, nullable=False, server_default=default))
        letter.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        letter.add_column(
            sa.Column(
                "created_at",
                sa.DateTime(timezone=True),
                nullable=False,
                server_default=sa.func.now(),
            )
        )
        letter.alter_column("recipient", existing_type=sa.String(), nullable=True)
        letter.alter_column("html", existing_type=sa.Text(), nullable=True)
        letter.alter_column("text", existing_type=sa.Text(), nullable=True)
        letter.alter_column("last_error", existing_type=sa.String(), type_=sa.Text())
    op.create_index("ix_letter_due", "letter", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_letter_due", "letter")
    with op.batch_alter_table("letter") as letter:
        for column in (
            "delivery",
            "recipient_name",
            "to_representative",
            "facts",
            "missing_items",
            "next_attempt_at",
            "created_at",
        ):
            letter.drop_column(column)
    for table in ("print_job", "complaint", "letter_layout", "organisation"):
        op.drop_table(table)
