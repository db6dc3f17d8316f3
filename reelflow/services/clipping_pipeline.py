"""The clipping pipeline's steps, run by the jobs in `reelflow.tasks.clipping` (which hold
the workflow: which step runs after which, as child runs of `clipping.process_project`).

    [import_url]  →  transcribe_project  →  detect_project_highlights  →  render_clip × N
    (URL sources)    probe, plan limits,     energy, highlights,            one per clip:
                     audio, transcript       charge clips, upsert           mp4, thumbnail, SRT

Every step is idempotent: blobs have deterministic names (`projects/{id}/...`, clip renders
named by the hash of their inputs), clips are upserted by (project, rank), usage is charged
in the same transaction that records the charge on the project. A recovered job therefore
never duplicates clips or charges.

Bad input (not a video, corrupt, no audio, silence, too long, over the plan, unreachable
or private URL) ends the project `failed` with a reason, and the job succeeds: retrying
cannot fix it. Other errors are retried by the runtime; the last attempt records the
failure on the project before giving up. A clip is marked `ready` only in the same update
that records its files, after they were written.

The media work goes through a `MediaEngine` and URL import through a `SourceImporter`
(`reelflow.adapters.protocols`), handed in by the tasks from `reelflow.composition`.
The render step is in `clipping_render`.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from reelflow.adapters.media.probe import MediaInfo
from reelflow.adapters.protocols import MediaEngine, SourceImporter
from reelflow.domain import clip_jobs, ingest, plans
from reelflow.domain.clipping import (
    Transcript,
    Word,
    detect_highlights,
    language_verdict,
    to_srt,
    to_vtt,
)
from reelflow.domain.highlights import CutRules
from reelflow.domain.retry import RetryPolicy
from reelflow.domain.speech import cut_gaps, refine_word_times
from reelflow.errors import (
    InvalidInput,
    LimitExceeded,
    PayloadTooLarge,
    ReelflowError,
    UnsupportedMediaType,
)
from reelflow.logs import get_logger
from reelflow.queue import TaskContext
from reelflow.services import clipping as clipping_service
from reelflow.settings import get_settings
from reelflow.storage.blobs import BlobStore
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Project
from reelflow.storage.repositories.clipping import ClippingRepository, ClipSpec

log = get_logger(__name__)

MEDIA_POLICY = RetryPolicy(initial_interval=2.0, backoff_coefficient=2.0, max_interval=60.0, max_attempts=3)
# URL imports ride out a platform outage: retried with backoff until the import deadline
# (REELFLOW_OPS__IMPORT_DEADLINE_S after the project was created), not a number of attempts.
IMPORT_POLICY = RetryPolicy(initial_interval=2.0, backoff_coefficient=2.0, max_interval=30.0, max_attempts=10_000)
# Errors about the input: the project fails with the message, the job itself succeeds.
INPUT_ERRORS = (InvalidInput, LimitExceeded, PayloadTooLarge, UnsupportedMediaType)
LEVEL_HOP_S = 0.01  # audio level frames for word timing and cut snapping


class ProjectFailed(Exception):
    """Raised inside a step to end the project with `reason` (caught in `_step`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- the workflow's reads and writes --------------------------------------------------------


async def start(pid: uuid.UUID) -> Project | None:
    """Mark the project processing and return it; None when it has ended (or its upload
    was never completed: then it fails here)."""
    project = await _load(pid)
    if project.status in ("clips_ready", "failed"):
        return None
    if project.source_kind == "upload" and not project.source_key:
        await _fail(pid, "the upload was not completed")
        return None
    await _set(pid, status="processing")
    return project


async def has_failed(pid: uuid.UUID) -> bool:
    return (await _load(pid)).status == "failed"


async def begin_render(pid: uuid.UUID) -> list[uuid.UUID]:
    """Move the project to the render stage; the ids of the clips to render."""
    async with session_scope() as session:
        repo = ClippingRepository(session)
        clips = await repo.clips_of_project(pid)
        current = await repo.project_by_id(pid)
        assert current is not None
        timings = dict(current.timings)
        timings.setdefault("render_started_at", time.time())
        await repo.update_project(pid, stage="render", progress=60, timings=timings)
    return [c.id for c in clips]


async def finish(pid: uuid.UUID) -> None:
    async with session_scope() as session:
        await clipping_service.finish_pipeline(session, pid)


async def summary(pid: uuid.UUID) -> dict[str, Any]:
    async with session_scope() as session:
        repo = ClippingRepository(session)
        project = await repo.project_by_id(pid)
        clips = await repo.clips_of_project(pid)
    assert project is not None
    return {
        "project_id": str(pid),
        "status": project.status,
        "failure_reason": project.failure_reason,
        "clips_ready": sum(1 for c in clips if c.status == "ready"),
    }


# --- sweeps -------------------------------------------------------------------------------


async def reconcile_projects(*, blobs: BlobStore, limit: int = 500) -> dict[str, int]:
    """Fail projects whose pipeline run ended without recording it, or whose upload link
    expired unfinished."""
    async with session_scope() as session:
        return await clipping_service.reconcile_projects(session, blobs=blobs, limit=limit)


async def expire_uploads(*, blobs: BlobStore, limit: int | None = None) -> dict[str, Any]:
    """Uploads not completed by their expiry: the project fails (usage refunded) and the
    received bytes are deleted."""
    async with session_scope() as session:
        result = await clipping_service.expire_uploads(session, blobs=blobs, limit=limit)
    for upload_id in result["uploads"]:
        await blobs.discard_part(upload_id)
    if result["expired"]:
        log.info("clipping.uploads_expired", count=result["expired"])
    return {"expired": result["expired"]}


# --- the steps ----------------------------------------------------------------------------


async def import_url(ctx: TaskContext, pid: uuid.UUID, *, blobs: BlobStore, importer: SourceImporter) -> dict[str, Any]:
    """Download a URL project's source into blob storage (SSRF-safe, size and type limits)."""

    async def body(project: Project) -> dict[str, Any]:
        if project.source_key and await blobs.size(project.source_key) is not None:
            return {"source_key": project.source_key}
        assert project.source_url
        settings = get_settings()
        key, size = await _timed(
            pid,
            "import",
            download_source(
                project.source_url,
                lambda ext: clip_jobs.source_key(pid, ext),
                blobs=blobs,
                importer=importer,
                max_bytes=settings.clipping.url_max_bytes,
                timeout_s=settings.clipping.url_timeout_s,
                allowed=clipping_service.allowed_import_origins(),
            ),
        )
        await _set(pid, source_key=key, source_bytes=size)
        return {"source_key": key, "size_bytes": size}

    project = await _load(pid)
    deadline = project.created_at + timedelta(seconds=get_settings().ops.import_deadline_s)
    return await _step(ctx, pid, "import", body, deadline=deadline)


async def transcribe_project(
    ctx: TaskContext, pid: uuid.UUID, *, blobs: BlobStore, media: MediaEngine
) -> dict[str, Any]:
    """Probe the source, enforce the plan, extract audio, transcribe, store JSON/SRT/VTT."""

    async def body(project: Project) -> dict[str, Any]:
        assert project.source_key
        keys = clip_jobs.transcript_keys(pid)
        async with blobs.local_file(project.source_key) as source:
            # Demux to the end: a truncated file is refused before anything is charged.
            info = await _timed(pid, "probe", media.probe(source, scan=True))
            await _record_probe(pid, info)
            _check_media(info)
            duration = ingest.verified_duration(info.duration_s, info.stream_end_s, name="the video")
            await _check_length(project, duration)
            if project.transcript_key and await blobs.size(keys["json"]) is not None:
                await _charge_minutes(project, duration)
                return {"transcript_key": keys["json"]}
            with tempfile.TemporaryDirectory(prefix="reelflow-asr-") as work:
                wav = Path(work) / "audio.wav"
                await _set(pid, stage="extract_audio", progress=20)
                await _timed(pid, "extract_audio", media.extract_audio(source, wav, info=info))
                # The audio decoded to the end: its length must reach the declared one too.
                decoded = await media.wav_duration(wav)
                ingest.verified_duration(info.duration_s, {}, decoded_audio_s=decoded, name="the video")
                energy = await media.audio_energy(wav)
                if media.is_silent(energy):
                    raise ProjectFailed("the audio track is silent: there is no speech to clip")
                await _charge_minutes(project, duration)
                await blobs.put_file(clip_jobs.audio_key(pid), wav)
                await _set(pid, stage="transcribe", progress=30)
                asr = await _timed(
                    pid,
                    "transcribe",
                    media.transcribe(wav, language=project.options.get("language")),
                )
                levels = await media.audio_levels(wav, LEVEL_HOP_S)
        t = get_settings().transcription
        warning = language_verdict(
            asr.language,
            asr.language_probability,
            detected=asr.detected,
            warn_below=t.warn_language_probability,
            fail_below=t.fail_language_probability,
        )
        await _set(
            pid,
            language=asr.language,
            language_probability=asr.language_probability,
            language_detected=asr.detected,
            warnings=[warning] if warning else [],
        )
        words = refine_word_times(
            [Word(w.text, w.start, w.end, w.probability) for w in asr.words],
            levels,
            LEVEL_HOP_S,
            min_word_s=t.min_word_s,
            snap_s=t.onset_snap_s,
        )
        transcript = Transcript.from_words(
            words,
            language=asr.language,
            duration_s=asr.duration_s,
        )
        if not transcript.words:
            raise ProjectFailed("no speech was recognised in the audio")
        started = time.monotonic()
        await blobs.write_bytes(keys["srt"], to_srt(transcript.sentences).encode())
        await blobs.write_bytes(keys["vtt"], to_vtt(transcript.sentences).encode())
        await blobs.write_bytes(keys["json"], json.dumps(transcript.to_dict()).encode())  # last: marks it done
        await _set(pid, transcript_key=keys["json"], language=transcript.language, stage="transcribed", progress=50)
        await _record(pid, "store_transcript", time.monotonic() - started)
        return {"words": len(transcript.words), "rtf": round(asr.rtf, 4)}

    return await _step(ctx, pid, "transcribe", body)


async def detect_project_highlights(
    ctx: TaskContext, pid: uuid.UUID, *, blobs: BlobStore, media: MediaEngine
) -> dict[str, Any]:
    """Score highlights on the transcript and audio energy; charge and store them as clips."""

    async def body(project: Project) -> dict[str, Any]:
        async with session_scope() as session:
            existing = await ClippingRepository(session).clips_of_project(pid)
        if existing:
            return {"clips": len(existing)}
        started = time.monotonic()
        transcript = await load_transcript(pid, blobs=blobs)
        energy: list[float] = []
        levels: list[float] = []
        async with contextlib.AsyncExitStack() as stack:
            if await blobs.size(clip_jobs.audio_key(pid)) is not None:
                wav = await stack.enter_async_context(blobs.local_file(clip_jobs.audio_key(pid)))
                energy = await media.audio_energy(wav, 0.5)
                levels = await media.audio_levels(wav, LEVEL_HOP_S)
        options = project.options
        highlights = detect_highlights(
            transcript,
            energy=energy,
            energy_window_s=0.5,
            min_len_s=float(options["min_len_s"]),
            max_len_s=float(options["max_len_s"]),
            top_n=int(options["top_n"]),
            keywords=list(options.get("keywords") or []),
            cuts=CutRules(gaps=tuple(cut_gaps(levels, LEVEL_HOP_S))),
        )
        if not highlights:
            raise ProjectFailed(
                f"no highlight between {options['min_len_s']:g} and {options['max_len_s']:g} s was found "
                f"in {transcript.duration_s:.0f} s of speech"
            )
        specs = [
            ClipSpec(rank=i, start_s=h.start_s, end_s=h.end_s, score=h.score, reasons=list(h.reasons), text=h.text)
            for i, h in enumerate(highlights, start=1)
        ]
        async with session_scope() as session:
            repo = ClippingRepository(session)
            locked = await repo.project_by_id(pid, lock=True)
            assert locked is not None
            if locked.clips_charged is None:
                await clipping_service.charge(repo, locked.workspace_id, plans.CLIPS, len(specs))
                locked.clips_charged = len(specs)
            await repo.upsert_clips(locked, specs, caption_style=options["caption_style"], preset=options["preset"])
            await repo.update_project(pid, stage="detected", progress=58)
        await _record(pid, "detect", time.monotonic() - started)
        return {"clips": len(specs)}

    return await _step(ctx, pid, "detect", body)


# --- helpers ------------------------------------------------------------------------------


async def _step(
    ctx: TaskContext, pid: uuid.UUID, stage: str, body: Any, *, deadline: datetime | None = None
) -> dict[str, Any]:
    """Run a child step: input errors fail the project (the job succeeds); other errors
    are retried, and the last attempt (or, with a `deadline`, the first failure past it)
    fails the project before giving up."""
    project = await _load(pid)
    if project.status == "failed":
        return {"failed": project.failure_reason}
    await _set(pid, stage=stage)
    try:
        result: dict[str, Any] = await body(project)
        return result
    except ProjectFailed as exc:
        await _fail(pid, exc.reason)
        return {"failed": exc.reason}
    except INPUT_ERRORS as exc:
        await _fail(pid, exc.detail)
        return {"failed": exc.detail}
    except Exception as exc:
        detail = exc.detail if isinstance(exc, ReelflowError) else f"{type(exc).__name__}: {exc}"
        if deadline is not None:
            if utcnow() >= deadline:
                waited = (utcnow() - project.created_at).total_seconds()
                await _fail(pid, f"{stage} failed: {detail} (gave up after {waited:.0f} s of retries)")
                return {"failed": detail}
        elif ctx.attempt >= MEDIA_POLICY.max_attempts:
            await _fail(pid, f"{stage} failed: {detail}")
        raise


async def _load(pid: uuid.UUID) -> Project:
    async with session_scope() as session:
        project = await ClippingRepository(session).project_by_id(pid)
    if project is None:
        raise InvalidInput(f"no project {pid}")
    return project


async def _set(pid: uuid.UUID, **values: Any) -> None:
    async with session_scope() as session:
        await ClippingRepository(session).update_project(pid, **values)


async def _fail(pid: uuid.UUID, reason: str) -> None:
    """Fail the project (unless it finished) and refund its unfinished work (the service's rule)."""
    log.info("clipping.project_failed", project_id=str(pid), reason=reason)
    async with session_scope() as session:
        await clipping_service.fail_project(session, pid, reason)


async def _record(pid: uuid.UUID, stage: str, seconds: float) -> None:
    async with session_scope() as session:
        await ClippingRepository(session).record_timing(pid, stage, seconds)


async def _timed(pid: uuid.UUID, stage: str, work: Any) -> Any:
    started = time.monotonic()
    result = await work
    await _record(pid, stage, time.monotonic() - started)
    return result


async def _record_probe(pid: uuid.UUID, info: MediaInfo) -> None:
    await _set(
        pid,
        duration_s=info.duration_s,
        width=info.display_width,
        height=info.display_height,
        rotation=info.rotation,
        fps=info.fps,
        has_audio=info.has_audio,
        video_codec=info.video_codec,
        audio_codec=info.audio_codec,
        source_bytes=info.size_bytes,
    )


def _check_media(info: MediaInfo) -> None:
    if not info.has_video:
        raise ProjectFailed("the file has no video stream; upload a video")
    if not info.has_audio:
        raise ProjectFailed("the video has no audio track: there is no speech to clip")
    if info.duration_s < 1.0:
        raise ProjectFailed(f"the video is too short ({info.duration_s:.2f} s)")


async def _check_length(project: Project, duration_s: float) -> None:
    """The plan's per-source length limit, checked before any work or charge."""
    async with session_scope() as session:
        await clipping_service.check_source_length(session, project.workspace_id, duration_s)


async def _charge_minutes(project: Project, duration_s: float) -> None:
    """Check the per-source length and charge source minutes once per project."""
    async with session_scope() as session:
        await clipping_service.charge_source_minutes(session, project.id, duration_s)


async def load_transcript(pid: uuid.UUID, *, blobs: BlobStore) -> Transcript:
    data = await blobs.read_bytes(clip_jobs.transcript_keys(pid)["json"])
    return Transcript.from_dict(json.loads(data))


# --- SSRF-safe download -------------------------------------------------------------------


async def download_source(
    url: str,
    key_for: Callable[[str], str],
    *,
    blobs: BlobStore,
    importer: SourceImporter,
    max_bytes: int,
    timeout_s: float,
    allowed: frozenset[str],
) -> tuple[str, int]:
    """Stream `url` into the blob store (SSRF-checked on every hop); returns (key, size)."""
    return await importer.download(
        url,
        key_for,
        sink=blobs,
        resolve=clipping_service.resolve_host,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        allowed=allowed,
    )
