"""Contracts, API keys, the complaint lifecycle, its record, idempotency.

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
    op.add_column("organisation", sa.Column("slug", sa.String(), nullable=True))
    op.execute("UPDATE organisation SET slug = CAST(id AS VARCHAR)")
    # Batch operations, so the same migration also runs on SQLite (the embedded mode).
    with op.batch_alter_table("organisation") as organisation:
        organisation.alter_column("slug", nullable=False)
        organisation.create_unique_constraint("uq_organisation_slug", ["slug"])
    op.add_column("organisation", sa.Column("webhook_secret", sa.String(), nullable=True))
    op.add_column("organisation", sa.Column("complaints_email", sa.String(), nullable=True))
    op.create_index("ix_organisation_complaints_email", "organisation", ["complaints_email"])

    op.add_column("complaint", sa.Column("handling_organisation_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE complaint SET handling_organisation_id = organisation_id")
    with op.batch_alter_table("complaint") as complaint:
        complaint.alter_column("handling_organisation_id", nullable=False)
    op.create_index(
        "ix_complaint_handling_organisation_id", "complaint", ["handling_organisation_id"]
    )
    op.add_column("complaint", sa.Column("contractor_id", sa.Uuid(), nullable=True))
    op.create_index("ix_complaint_contractor_id", "complaint", ["contractor_id"])
    op.add_column(
        "complaint", sa.Column("category", sa.String(), nullable=False, server_default="general")
    )
    op.create_index("ix_complaint_category", "complaint", ["category"])
    op.create_index("ix_complaint_status", "complaint", ["status"])
    op.add_column("complaint", sa.Column("stage", sa.Integer(), nullable=False, server_default="1"))
    op.add_column(
        "complaint", sa.Column("personal", sa.JSON(), nullable=False, server_default="{}")
    )
    op.add_column("complaint", sa.Column("state", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column(
        "complaint", sa.Column("event_count", sa.Integer(), nullable=False, server_default="0")
    )

    op.create_table(
        "contract",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("landlord_id", sa.Uuid(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("contractor_id", sa.Uuid(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("contractor_handles_stage1", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_contract_landlord_id", "contract", ["landlord_id"])
    op.create_index("ix_contract_contractor_id", "contract", ["contractor_id"])
    op.create_table(
        "apikey",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("organisation_id", sa.Uuid(), sa.ForeignKey("organisation.id"), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_apikey_organisation_id", "apikey", ["organisation_id"])
    op.create_table(
        "complaintevent",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("complaint_id", sa.Uuid(), sa.ForeignKey("complaint.id"), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.UniqueConstraint("complaint_id", "sequence"),
    )
    op.create_index("ix_complaintevent_complaint_id", "complaintevent", ["complaint_id"])
    op.create_table(
        "correspondence",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("complaint_id", sa.Uuid(), sa.ForeignKey("complaint.id"), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(), nullable=True),
        sa.Column("subject", sa.String(), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_correspondence_complaint_id", "correspondence", ["complaint_id"])
    op.create_table(
        "idempotencyrecord",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("caller", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("request_hash", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("caller", "key"),
    )
    op.create_table(
        "contractorreceipt",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("contractor_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.UniqueConstraint("contractor_id", "message_id"),
    )


def downgrade() -> None:
    for table in ("contractorreceipt", "idempotencyrecord", "correspondence", "complaintevent"):
        op.drop_table(table)
    op.drop_table("apikey")
    op.drop_table("contract")
    for column in ("event_count", "state", "personal", "stage", "category"):
        op.drop_column("complaint", column)
    op.drop_column("complaint", "contractor_id")
    op.drop_column("complaint", "handling_organisation_id")
    for column in ("complaints_email", "webhook_secret", "slug"):
        op.drop_column("organisation", column)
