"""autopilot: execution records and reports; ad accounts' report flag and Telegram chat

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _jsonb(name: str, default: str) -> sa.Column[Any]:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), server_default=default, nullable=False)


def _stamps() -> list[sa.Column[Any]]:
    return [
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("ad_accounts", sa.Column("autopilot_reports", sa.Boolean(), server_default="false", nullable=False))
    op.add_column("ad_accounts", sa.Column("telegram_chat_id", sa.String(length=64), nullable=True))
    op.create_table(
        "autopilot_executions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("proposer", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        _jsonb("inputs", "{}"),
        _jsonb("proposed", "[]"),
        _jsonb("skipped", "[]"),
        _jsonb("applied", "[]"),
        _jsonb("errors", "[]"),
        sa.Column("decided", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.CheckConstraint("status IN ('running', 'succeeded', 'failed')", name=op.f("ck_autopilot_executions_status")),
        sa.CheckConstraint("mode IN ('report', 'act')", name=op.f("ck_autopilot_executions_mode")),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_autopilot_executions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_autopilot_executions_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autopilot_executions")),
    )
    op.create_index("ix_autopilot_executions_run", "autopilot_executions", ["run_id"], unique=True)
    op.create_index(
        "ix_autopilot_executions_list", "autopilot_executions", ["workspace_id", "started_at", "id"], unique=False
    )
    op.create_index(
        "ix_autopilot_executions_account", "autopilot_executions", ["ad_account_id", "started_at"], unique=False
    )
    op.create_table(
        "autopilot_reports",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("execution_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("telegram_chat_id", sa.String(length=64), nullable=True),
        sa.Column("telegram_status", sa.String(length=20), nullable=False),
        _jsonb("telegram_message_ids", "[]"),
        sa.Column("telegram_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "telegram_status IN ('not_configured', 'pending', 'sent', 'failed')",
            name=op.f("ck_autopilot_reports_telegram_status"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_autopilot_reports_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_autopilot_reports_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["autopilot_executions.id"],
            name=op.f("fk_autopilot_reports_execution_id_autopilot_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_autopilot_reports")),
    )
    op.create_index("ix_autopilot_reports_execution", "autopilot_reports", ["execution_id"], unique=True)
    op.create_index(
        "ix_autopilot_reports_list", "autopilot_reports", ["workspace_id", "created_at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("autopilot_reports")
    op.drop_table("autopilot_executions")
    op.drop_column("ad_accounts", "telegram_chat_id")
    op.drop_column("ad_accounts", "autopilot_reports")
