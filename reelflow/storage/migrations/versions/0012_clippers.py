"""clippers: programme campaigns, submissions, view tracking, Apify runs, ledger, payouts

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "clipper_apify_runs",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("job_key", sa.String(length=200), nullable=False),
        sa.Column("batch", sa.Integer(), nullable=False),
        sa.Column("urls", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("dataset_id", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("processed", sa.Boolean(), nullable=False),
        sa.Column("detail", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_clipper_apify_runs_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clipper_apify_runs")),
        sa.UniqueConstraint("job_key", "batch", name=op.f("uq_clipper_apify_runs_job_key_batch")),
    )
    op.create_index(op.f("ix_clipper_apify_runs_workspace_id"), "clipper_apify_runs", ["workspace_id"], unique=False)
    op.create_table(
        "clipper_campaigns",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("brief", sa.Text(), nullable=False),
        sa.Column("platforms", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("budget_minor", sa.BigInteger(), nullable=False),
        sa.Column("rate_per_1000_minor", sa.BigInteger(), nullable=False),
        sa.Column("min_views", sa.BigInteger(), nullable=False),
        sa.Column("max_per_submission_minor", sa.BigInteger(), nullable=True),
        sa.Column("pay_views_before_approval", sa.Boolean(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("spent_minor", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'paused', 'budget_exhausted', 'ended')",
            name=op.f("ck_clipper_campaigns_status"),
        ),
        sa.CheckConstraint(
            "spent_minor >= 0 AND spent_minor <= budget_minor", name=op.f("ck_clipper_campaigns_spent_within_budget")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_clipper_campaigns_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clipper_campaigns")),
    )
    op.create_index(op.f("ix_clipper_campaigns_workspace_id"), "clipper_campaigns", ["workspace_id"], unique=False)
    op.create_table(
        "clipper_payouts",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("clipper_id", sa.UUID(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("external_reference", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.UUID(), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'paid', 'rejected')", name=op.f("ck_clipper_payouts_status")
        ),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_clipper_payouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["clipper_id"], ["users.id"], name=op.f("fk_clipper_payouts_clipper_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_clipper_payouts_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clipper_payouts")),
    )
    op.create_index(op.f("ix_clipper_payouts_clipper_id"), "clipper_payouts", ["clipper_id"], unique=False)
    op.create_index(op.f("ix_clipper_payouts_workspace_id"), "clipper_payouts", ["workspace_id"], unique=False)
    op.create_table(
        "clipper_submissions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("clipper_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("submitted_url", sa.String(length=1000), nullable=False),
        sa.Column("video_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("baseline_views", sa.BigInteger(), nullable=True),
        sa.Column("peak_views", sa.BigInteger(), nullable=False),
        sa.Column("last_views", sa.BigInteger(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reviewed_by", sa.UUID(), nullable=True),
        sa.Column("last_tracked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'stopped')", name=op.f("ck_clipper_submissions_status")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["clipper_campaigns.id"],
            name=op.f("fk_clipper_submissions_campaign_id_clipper_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clipper_id"], ["users.id"], name=op.f("fk_clipper_submissions_clipper_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_clipper_submissions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clipper_submissions")),
        sa.UniqueConstraint("workspace_id", "url", name=op.f("uq_clipper_submissions_workspace_id_url")),
    )
    op.create_index(op.f("ix_clipper_submissions_clipper_id"), "clipper_submissions", ["clipper_id"], unique=False)
    op.create_index("ix_clipper_submissions_tracking", "clipper_submissions", ["campaign_id", "status"], unique=False)
    op.create_index(op.f("ix_clipper_submissions_workspace_id"), "clipper_submissions", ["workspace_id"], unique=False)
    op.create_table(
        "clipper_ledger",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=True),
        sa.Column("clipper_id", sa.UUID(), nullable=False),
        sa.Column("submission_id", sa.UUID(), nullable=True),
        sa.Column("payout_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.CheckConstraint("kind IN ('credit', 'payout')", name=op.f("ck_clipper_ledger_kind")),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_clipper_ledger_amount_positive")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["clipper_campaigns.id"],
            name=op.f("fk_clipper_ledger_campaign_id_clipper_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clipper_id"], ["users.id"], name=op.f("fk_clipper_ledger_clipper_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"],
            ["clipper_payouts.id"],
            name=op.f("fk_clipper_ledger_payout_id_clipper_payouts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["clipper_submissions.id"],
            name=op.f("fk_clipper_ledger_submission_id_clipper_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_clipper_ledger_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clipper_ledger")),
        sa.UniqueConstraint("payout_id", name=op.f("uq_clipper_ledger_payout_id")),
    )
    op.create_index(op.f("ix_clipper_ledger_campaign_id"), "clipper_ledger", ["campaign_id"], unique=False)
    op.create_index("ix_clipper_ledger_clipper", "clipper_ledger", ["workspace_id", "clipper_id"], unique=False)
    op.create_index(op.f("ix_clipper_ledger_submission_id"), "clipper_ledger", ["submission_id"], unique=False)
    op.create_table(
        "view_readings",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("submission_id", sa.UUID(), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("apify_run_id", sa.String(length=100), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["clipper_submissions.id"],
            name=op.f("fk_view_readings_submission_id_clipper_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_view_readings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_view_readings")),
    )
    op.create_index("ix_view_readings_submission_read_at", "view_readings", ["submission_id", "read_at"], unique=False)
    op.create_index(op.f("ix_view_readings_workspace_id"), "view_readings", ["workspace_id"], unique=False)
    op.create_table(
        "view_tracking",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("clipper_id", sa.UUID(), nullable=False),
        sa.Column("submission_id", sa.UUID(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["clipper_campaigns.id"],
            name=op.f("fk_view_tracking_campaign_id_clipper_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clipper_id"], ["users.id"], name=op.f("fk_view_tracking_clipper_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["clipper_submissions.id"],
            name=op.f("fk_view_tracking_submission_id_clipper_submissions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_view_tracking_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_view_tracking")),
        sa.UniqueConstraint(
            "clipper_id",
            "submission_id",
            "date",
            "platform",
            name=op.f("uq_view_tracking_clipper_id_submission_id_date_platform"),
        ),
    )
    op.create_index(op.f("ix_view_tracking_campaign_id"), "view_tracking", ["campaign_id"], unique=False)
    op.create_index(op.f("ix_view_tracking_workspace_id"), "view_tracking", ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_view_tracking_workspace_id"), table_name="view_tracking")
    op.drop_index(op.f("ix_view_tracking_campaign_id"), table_name="view_tracking")
    op.drop_table("view_tracking")
    op.drop_index(op.f("ix_view_readings_workspace_id"), table_name="view_readings")
    op.drop_index("ix_view_readings_submission_read_at", table_name="view_readings")
    op.drop_table("view_readings")
    op.drop_index(op.f("ix_clipper_ledger_submission_id"), table_name="clipper_ledger")
    op.drop_index("ix_clipper_ledger_clipper", table_name="clipper_ledger")
    op.drop_index(op.f("ix_clipper_ledger_campaign_id"), table_name="clipper_ledger")
    op.drop_table("clipper_ledger")
    op.drop_index(op.f("ix_clipper_submissions_workspace_id"), table_name="clipper_submissions")
    op.drop_index("ix_clipper_submissions_tracking", table_name="clipper_submissions")
    op.drop_index(op.f("ix_clipper_submissions_clipper_id"), table_name="clipper_submissions")
    op.drop_table("clipper_submissions")
    op.drop_index(op.f("ix_clipper_payouts_workspace_id"), table_name="clipper_payouts")
    op.drop_index(op.f("ix_clipper_payouts_clipper_id"), table_name="clipper_payouts")
    op.drop_table("clipper_payouts")
    op.drop_index(op.f("ix_clipper_campaigns_workspace_id"), table_name="clipper_campaigns")
    op.drop_table("clipper_campaigns")
    op.drop_index(op.f("ix_clipper_apify_runs_workspace_id"), table_name="clipper_apify_runs")
    op.drop_table("clipper_apify_runs")
