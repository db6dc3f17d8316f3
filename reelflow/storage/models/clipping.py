"""Clipping: projects (a source video and its pipeline), uploads, clips, monthly usage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin

PROJECT_STATUSES = ("uploading", "queued", "processing", "clips_ready", "failed")
SOURCE_KINDS = ("upload", "url")
UPLOAD_STATUSES = ("open", "complete")
CLIP_STATUSES = ("pending", "rendering", "ready", "failed")


class Project(IdMixin, TimestampMixin, Base):
    """A source video and what the pipeline made of it."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint(f"status IN {PROJECT_STATUSES!r}", name="status"),
        CheckConstraint(f"source_kind IN {SOURCE_KINDS!r}", name="source_kind"),
        Index("ix_projects_workspace_id_created_at", "workspace_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    stage: Mapped[str | None] = mapped_column(String(40))
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(10))
    source_url: Mapped[str | None] = mapped_column(Text)
    source_key: Mapped[str | None] = mapped_column(String(500))
    source_bytes: Mapped[int | None] = mapped_column(BigInteger)
    # Probe results.
    duration_s: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    rotation: Mapped[int | None] = mapped_column(Integer)
    fps: Mapped[float | None] = mapped_column(Float)
    has_audio: Mapped[bool | None]
    video_codec: Mapped[str | None] = mapped_column(String(40))
    audio_codec: Mapped[str | None] = mapped_column(String(40))
    # Transcript blobs (JSON with words, SRT, VTT) and the language.
    transcript_key: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(10))
    # The detector's confidence (1.0 when `options.language` named it) and whether it was detected.
    language_probability: Mapped[float | None] = mapped_column(Float)
    language_detected: Mapped[bool | None]
    # Things an editor should know about a finished project (e.g. an unsure language guess).
    warnings: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    # Options (clip length range, count, preset, caption style, keywords) and per-stage timings.
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    timings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    run_id: Mapped[uuid.UUID | None]
    # Usage charged for this project (set in the same transaction as the charge: idempotent).
    minutes_charged: Mapped[int | None] = mapped_column(Integer)
    clips_charged: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[datetime | None]


class Upload(IdMixin, TimestampMixin, Base):
    """A resumable upload session for a project's source file."""

    __tablename__ = "uploads"
    __table_args__ = (CheckConstraint(f"status IN {UPLOAD_STATUSES!r}", name="status"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), unique=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    total_bytes: Mapped[int] = mapped_column(BigInteger)
    received_bytes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(10), default="open", server_default="open")
    expires_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]


class Clip(IdMixin, TimestampMixin, Base):
    """One highlight of a project and its rendered files. Its id is derived from the project
    and its rank (uuid5), so a re-run of detection upserts the same rows."""

    __tablename__ = "clips"
    __table_args__ = (
        CheckConstraint(f"status IN {CLIP_STATUSES!r}", name="status"),
        UniqueConstraint("project_id", "rank"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    rank: Mapped[int] = mapped_column(Integer)  # 1 = highest score
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    text: Mapped[str] = mapped_column(Text, default="", server_default="")
    caption_text: Mapped[str | None] = mapped_column(Text)  # an editor's replacement for the captions
    caption_style: Mapped[str] = mapped_column(String(40))
    preset: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    render_hash: Mapped[str | None] = mapped_column(String(64))
    video_key: Mapped[str | None] = mapped_column(String(500))
    thumbnail_key: Mapped[str | None] = mapped_column(String(500))
    poster_key: Mapped[str | None] = mapped_column(String(500))  # the thumbnail with the clip's title
    srt_key: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    render_s: Mapped[float | None] = mapped_column(Float)
    rendered_at: Mapped[datetime | None]


class UsageCounter(Base):
    """Units of one metric used by a workspace in one monthly period."""

    __tablename__ = "usage_counters"
    __table_args__ = (CheckConstraint("used >= 0", name="used"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    period_start: Mapped[date] = mapped_column(primary_key=True)
    metric: Mapped[str] = mapped_column(String(30), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
