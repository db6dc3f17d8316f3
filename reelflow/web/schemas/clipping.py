"""Bodies for projects, uploads, clips and usage."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Seconds = Annotated[float, msgspec.Meta(ge=0, le=1e7)]
Keyword = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]


class ClipOptions(msgspec.Struct, forbid_unknown_fields=True):
    """How to cut: clip length range (seconds), how many clips, look and language."""

    min_len_s: Annotated[float, msgspec.Meta(ge=3, le=180)] | None = None
    max_len_s: Annotated[float, msgspec.Meta(ge=5, le=180)] | None = None
    top_n: Annotated[int, msgspec.Meta(ge=1, le=20)] | None = None
    preset: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    caption_style: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    keywords: Annotated[list[Keyword], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    # An ISO 639-1 code ("fr") forces the language; "auto" detects it.
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=10)] = "auto"


class ProjectIn(msgspec.Struct, forbid_unknown_fields=True):
    """A project from a URL (http or https, public hosts only)."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    title: Title | None = None
    options: ClipOptions | None = None


class UploadIn(msgspec.Struct, forbid_unknown_fields=True):
    """Start an upload: the project is created and waits for the file's bytes."""

    filename: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    size_bytes: Annotated[int, msgspec.Meta(ge=1, le=2**53)]
    content_type: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    title: Title | None = None
    options: ClipOptions | None = None
    # True: PUT the file straight to the blob store (presigned URLs in `upload.direct`), then
    # POST `upload.direct.complete_url`. Needs the S3 store (409 with a local folder).
    direct: bool = False


class DirectPartOut(msgspec.Struct):
    """PUT exactly `size` bytes of the file, from `offset`, to `url` (no other header needed)."""

    offset: int
    size: int
    url: str


class DirectUploadOut(msgspec.Struct):
    """A direct upload: the pieces go to the bucket, then `complete_url` (POST) starts the work."""

    parts: list[DirectPartOut]
    part_bytes: int
    complete_url: str
    expires_at: datetime


class UploadOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    upload_url: str
    expires_at: datetime
    total_bytes: int
    received_bytes: int
    status: str
    direct: DirectUploadOut | None = None


class UploadProgressOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    total_bytes: int
    received_bytes: int
    status: str
    project_status: str | None = None
    run_id: uuid.UUID | None = None


class SourceOut(msgspec.Struct):
    kind: str
    url: str | None
    size_bytes: int | None
    duration_s: float | None
    width: int | None
    height: int | None
    rotation: int | None
    fps: float | None
    has_audio: bool | None
    video_codec: str | None
    audio_codec: str | None


class TranscriptLinks(msgspec.Struct):
    json: str
    srt: str
    vtt: str


class ProjectOut(msgspec.Struct):
    id: uuid.UUID
    title: str
    status: str
    stage: str | None
    progress: int
    failure_reason: str | None
    source: SourceOut
    options: dict[str, Any]
    timings: dict[str, Any]
    run_id: uuid.UUID | None
    language: str | None
    transcript: TranscriptLinks | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    upload: UploadOut | None = None
    language_probability: float | None = None
    warnings: list[str] = msgspec.field(default_factory=list)


class ClipLinks(msgspec.Struct):
    video: str
    thumbnail: str | None
    poster: str | None
    srt: str | None


class ClipOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    rank: int
    start_s: float
    end_s: float
    duration_s: float
    score: float
    reasons: list[str]
    text: str
    caption_text: str | None
    caption_style: str
    preset: str
    status: str
    failure_reason: str | None
    links: ClipLinks | None
    size_bytes: int | None
    render_s: float | None
    rendered_at: datetime | None
    updated_at: datetime


class ClipPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Edit a clip; any change to what the render depends on re-renders it."""

    start_s: Seconds | None = None
    end_s: Seconds | None = None
    caption_text: Annotated[str, msgspec.Meta(max_length=5000)] | None = None
    caption_style: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class ClipEditOut(msgspec.Struct):
    clip: ClipOut
    rerender: bool
    run_id: uuid.UUID | None = None


class MetricUsage(msgspec.Struct):
    used: int
    limit: int
    remaining: int


class UsageOut(msgspec.Struct):
    plan: str
    period_start: date
    resets_at: datetime
    max_source_minutes: int
    metrics: dict[str, MetricUsage]
    # Not monthly: discovery searches running now against the plan's limit on them.
    discovery_concurrent_searches: MetricUsage | None = None


TranscriptFormat = Literal["json", "srt", "vtt"]
