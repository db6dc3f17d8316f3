"""runtime: job runs and events

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RUN_STATUSES = "('queued', 'running', 'retrying', 'waiting', 'succeeded', 'failed', 'cancelled')"
EVENT_TYPES = (
    "('queued', 'started', 'heartbeat', 'progress', 'retry_scheduled', 'succeeded', 'failed', "
    "'cancel_requested', 'cancelled', 'deduplicated', 'recovered', 'waiting', 'resumed')"
)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    uuid = postgresql.UUID(as_uuid=True)
    ts = sa.DateTime(timezone=True)
    op.create_table(
        "job_runs",
        sa.Column("id", uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("queue", sa.String(20), nullable=False),
        sa.Column("args", postgresql.JSONB(), nullable=False),
        sa.Column("workspace_id", uuid, nullable=True),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("key_explicit", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("attempt_base", sa.Integer(), nullable=False),
        sa.Column("policy", postgresql.JSONB(), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("progress_message", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error", postgresql.JSONB(), nullable=True),
        sa.Column("scheduled_at", ts, nullable=False),
        sa.Column("pushed_at", ts, nullable=True),
        sa.Column("rq_job_id", sa.String(100), nullable=True),
        sa.Column("started_at", ts, nullable=True),
        sa.Column("heartbeat_at", ts, nullable=True),
        sa.Column("finished_at", ts, nullable=True),
        sa.Column("cancel_requested_at", ts, nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("parent_id", uuid, nullable=True),
        sa.Column("child_batch", sa.Integer(), nullable=True),
        sa.Column("child_index", sa.Integer(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(f"status IN {RUN_STATUSES}", name=op.f("ck_job_runs_status")),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_job_runs_progress")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_job_runs_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["job_runs.id"], name=op.f("fk_job_runs_parent_id_job_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_runs")),
    )
    op.create_index(
        "uq_job_runs_explicit_key",
        "job_runs",
        ["workspace_id", "idempotency_key"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("key_explicit"),
    )
    op.create_index(
        "uq_job_runs_derived_key",
        "job_runs",
        ["workspace_id", "idempotency_key"],
        unique=True,
        postgresql_nulls_not_distinct=True,
        postgresql_where=sa.text("NOT key_explicit AND status IN ('queued', 'running', 'retrying', 'waiting')"),
    )
    op.create_index("ix_job_runs_workspace_created", "job_runs", ["workspace_id", "created_at", "id"])
    op.create_index(
        "ix_job_runs_due",
        "job_runs",
        ["scheduled_at"],
        postgresql_where=sa.text("status = 'retrying' AND pushed_at IS NULL"),
    )
    op.create_index(
        "ix_job_runs_running_heartbeat", "job_runs", ["heartbeat_at"], postgresql_where=sa.text("status = 'running'")
    )
    op.create_index(
        "ix_job_runs_open",
        "job_runs",
        ["status", "pushed_at"],
        postgresql_where=sa.text("status IN ('queued', 'retrying')"),
    )
    op.create_index("ix_job_runs_parent", "job_runs", ["parent_id", "child_batch", "child_index"])
    op.create_index("ix_job_runs_finished", "job_runs", ["finished_at"])

    op.create_table(
        "job_events",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("run_id", uuid, nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", ts, nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("data", postgresql.JSONB(), nullable=True),
        sa.CheckConstraint(f"type IN {EVENT_TYPES}", name=op.f("ck_job_events_type")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["job_runs.id"], name=op.f("fk_job_events_run_id_job_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_events")),
    )
    op.create_index("ix_job_events_run_id_id", "job_events", ["run_id", "id"])
    op.create_index("ix_job_events_at", "job_events", ["at"])

    op.create_table(
        "side_effects",
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("run_id", uuid, nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("acted_at", ts, nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status IN ('pending', 'done')", name=op.f("ck_side_effects_status")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_side_effects")),
    )


def downgrade() -> None:
    op.drop_table("side_effects")
    op.drop_table("job_events")
    op.drop_table("job_runs")
