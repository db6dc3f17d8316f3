"""clipping: projects, uploads, transcripts, clips, plans and usage

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
    ]


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=op.f(f"fk_{table}_workspace_id_workspaces"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("created_by", UUID, nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("stage", sa.String(40), nullable=True),
        sa.Column("progress", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("source_kind", sa.String(10), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=True),
        sa.Column("source_key", sa.String(500), nullable=True),
        sa.Column("source_bytes", sa.BigInteger(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("has_audio", sa.Boolean(), nullable=True),
        sa.Column("video_codec", sa.String(40), nullable=True),
        sa.Column("audio_codec", sa.String(40), nullable=True),
        sa.Column("transcript_key", sa.String(500), nullable=True),
        sa.Column("language", sa.String(10), nullable=True),
        sa.Column("options", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("timings", postgresql.JSONB(), server_default="{}", nullable=False),
        sa.Column("run_id", UUID, nullable=True),
        sa.Column("minutes_charged", sa.Integer(), nullable=True),
        sa.Column("clips_charged", sa.Integer(), nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        *_timestamps(),
        sa.CheckConstraint(
            "status IN ('uploading', 'queued', 'processing', 'clips_ready', 'failed')",
            name=op.f("ck_projects_status"),
        ),
        sa.CheckConstraint("source_kind IN ('upload', 'url')", name=op.f("ck_projects_source_kind")),
        _workspace_fk("projects"),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_projects_created_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    op.create_index("ix_projects_workspace_id_created_at", "projects", ["workspace_id", "created_at"])

    op.create_table(
        "uploads",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("project_id", UUID, nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("received_bytes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("status", sa.String(10), server_default="open", nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status IN ('open', 'complete')", name=op.f("ck_uploads_status")),
        _workspace_fk("uploads"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_uploads_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
        sa.UniqueConstraint("project_id", name=op.f("uq_uploads_project_id")),
    )
    op.create_index(op.f("ix_uploads_workspace_id"), "uploads", ["workspace_id"])

    op.create_table(
        "clips",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("project_id", UUID, nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(), server_default="[]", nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("caption_text", sa.Text(), nullable=True),
        sa.Column("caption_style", sa.String(40), nullable=False),
        sa.Column("preset", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), server_default="pending", nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("render_hash", sa.String(64), nullable=True),
        sa.Column("video_key", sa.String(500), nullable=True),
        sa.Column("thumbnail_key", sa.String(500), nullable=True),
        sa.Column("poster_key", sa.String(500), nullable=True),
        sa.Column("srt_key", sa.String(500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("render_s", sa.Float(), nullable=True),
        sa.Column("rendered_at", TS, nullable=True),
        *_timestamps(),
        sa.CheckConstraint("status IN ('pending', 'rendering', 'ready', 'failed')", name=op.f("ck_clips_status")),
        _workspace_fk("clips"),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_clips_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clips")),
        sa.UniqueConstraint("project_id", "rank", name=op.f("uq_clips_project_id_rank")),
    )
    op.create_index(op.f("ix_clips_workspace_id"), "clips", ["workspace_id"])

    op.create_table(
        "usage_counters",
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("metric", sa.String(30), nullable=False),
        sa.Column("used", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint("used >= 0", name=op.f("ck_usage_counters_used")),
        _workspace_fk("usage_counters"),
        sa.PrimaryKeyConstraint("workspace_id", "period_start", "metric", name=op.f("pk_usage_counters")),
    )


def downgrade() -> None:
    op.drop_table("usage_counters")
    op.drop_index(op.f("ix_clips_workspace_id"), table_name="clips")
    op.drop_table("clips")
    op.drop_index(op.f("ix_uploads_workspace_id"), table_name="uploads")
    op.drop_table("uploads")
    op.drop_index("ix_projects_workspace_id_created_at", table_name="projects")
    op.drop_table("projects")
