"""The clipping pipeline as runtime jobs on the `media` queue.

`clipping.process_project` is a workflow (a parent run whose steps are child runs):

    [import_url]  →  transcribe_project  →  detect_highlights  →  render_clip × N  →  clips_ready
    (URL sources)    probe, plan limits,     energy, highlights,    one child per clip:
                     audio, transcript       charge clips, upsert    mp4, thumbnail, SRT

The parent is re-invoked from the top after each batch (replayed batches return their
recorded results), so the code between batches only reads the project. Every step is
idempotent: blobs have deterministic names (`projects/{id}/...`, clip renders named by the
hash of their inputs), clips are upserted by (project, rank), usage is charged in the same
transaction that records the charge on the project. A recovered job therefore never
duplicates clips or charges.

Bad input (not a video, corrupt, no audio, silence, too long, over the plan, unreachable
or private URL) ends the project `failed` with a reason, and the job succeeds: retrying
cannot fix it. Other errors are retried by the runtime; the last attempt records the
failure on the project before giving up. A clip is marked `ready` only in the same update
that records its files, after they were written.
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

from reelflow import composition
from reelflow.adapters import download
from reelflow.adapters.media import children, faces, ffmpeg, whisper
from reelflow.adapters.media.probe import MediaInfo, probe
from reelflow.domain import clip_jobs, ingest, plans
from reelflow.domain.clipping import (
    Sentence,
    Transcript,
    Word,
    build_ass,
    detect_highlights,
    get_caption_style,
    get_preset,
    language_verdict,
    sentences_as_clip_groups,
    to_srt,
    to_vtt,
)
from reelflow.domain.framing import crop_path
from reelflow.domain.highlights import CutRules
from reelflow.domain.posters import fit_title, thumbnail_time
from reelflow.domain.render import CropBox
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
from reelflow.services import clipping as clipping_service
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip, Project
from reelflow.storage.repositories.clipping import ClippingRepository, ClipSpec
from reelflow.tasks.registry import TaskContext, task

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


# --- the workflow -------------------------------------------------------------------------


@task("clipping.process_project", queue="media", policy=MEDIA_POLICY, timeout=600)
async def process_project(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Run a project's pipeline; returns its final status and clip count."""
    pid = uuid.UUID(project_id)
    project = await _load(pid)
    if project.status in ("clips_ready", "failed"):
        return await _summary(pid)
    if project.source_kind == "upload" and not project.source_key:
        await _fail(pid, "the upload was not completed")
        return await _summary(pid)
    await _set(pid, status="processing")
    await ctx.progress(2, "started")

    # The batches are always the same for a project (replay depends on it).
    if project.source_kind == "url":
        await ctx.run_children([("clipping.import_url", {"project_id": project_id})])
        if await _failed(pid):
            return await _summary(pid)
    await ctx.progress(15, "transcribing")
    await ctx.run_children([("clipping.transcribe_project", {"project_id": project_id})])
    if await _failed(pid):
        return await _summary(pid)
    await ctx.progress(55, "detecting highlights")
    await ctx.run_children([("clipping.detect_highlights", {"project_id": project_id})])
    if await _failed(pid):
        return await _summary(pid)

    async with session_scope() as session:
        repo = ClippingRepository(session)
        clips = await repo.clips_of_project(pid)
        current = await repo.project_by_id(pid)
        assert current is not None
        timings = dict(current.timings)
        timings.setdefault("render_started_at", time.time())
        await repo.update_project(pid, stage="render", progress=60, timings=timings)
    await ctx.progress(60, f"rendering {len(clips)} clips")
    await ctx.run_children([("clipping.render_clip", {"clip_id": str(c.id)}) for c in clips])
    await _finish(pid)
    await ctx.progress(100, "done")
    return await _summary(pid)


async def _finish(pid: uuid.UUID) -> None:
    async with session_scope() as session:
        await clipping_service.finish_pipeline(session, pid)


@task("clipping.reconcile_projects", queue="default", timeout=300)
async def reconcile_projects(ctx: TaskContext, limit: int = 500) -> dict[str, int]:
    """The sweep: fail projects whose pipeline run ended without recording it, or whose
    upload link expired unfinished (scheduled by the `clipping-reconcile` flow)."""
    async with session_scope() as session:
        return await clipping_service.reconcile_projects(session, blobs=composition.blob_store(), limit=limit)


@task("clipping.expire_uploads", queue="default", timeout=600)
async def expire_uploads(ctx: TaskContext, limit: int | None = None) -> dict[str, Any]:
    """Uploads not completed by their expiry: the project fails (usage refunded) and the
    received bytes are deleted. Run by the `clipping-expire-uploads` schedule."""
    blobs = composition.blob_store()
    async with session_scope() as session:
        result = await clipping_service.expire_uploads(session, blobs=blobs, limit=limit)
    for upload_id in result["uploads"]:
        await blobs.discard_part(upload_id)
    if result["expired"]:
        log.info("clipping.uploads_expired", count=result["expired"])
    return {"expired": result["expired"]}


# --- children -----------------------------------------------------------------------------


@task("clipping.import_url", queue="media", policy=IMPORT_POLICY, timeout=1800)
async def import_url(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Download a URL project's source into blob storage (SSRF-safe, size and type limits)."""
    pid = uuid.UUID(project_id)

    async def body(project: Project) -> dict[str, Any]:
        if project.source_key and await composition.blob_store().size(project.source_key) is not None:
            return {"source_key": project.source_key}
        assert project.source_url
        settings = get_settings()
        key, size = await _timed(
            pid,
            "import",
            download_source(
                project.source_url,
                lambda ext: clip_jobs.source_key(pid, ext),
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


@task("clipping.transcribe_project", queue="media", policy=MEDIA_POLICY, timeout=4 * 3600)
async def transcribe_project(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Probe the source, enforce the plan, extract audio, transcribe, store JSON/SRT/VTT."""
    pid = uuid.UUID(project_id)

    async def body(project: Project) -> dict[str, Any]:
        store = composition.blob_store()
        assert project.source_key
        keys = clip_jobs.transcript_keys(pid)
        async with store.local_file(project.source_key) as source:
            # Demux to the end: a truncated file is refused before anything is charged.
            info = await _timed(pid, "probe", children.in_thread(probe, source, scan=True))
            await _record_probe(pid, info)
            _check_media(info)
            duration = ingest.verified_duration(info.duration_s, info.stream_end_s, name="the video")
            await _check_length(project, duration)
            if project.transcript_key and await store.size(keys["json"]) is not None:
                await _charge_minutes(project, duration)
                return {"transcript_key": keys["json"]}
            with tempfile.TemporaryDirectory(prefix="reelflow-asr-") as work:
                wav = Path(work) / "audio.wav"
                await _set(pid, stage="extract_audio", progress=20)
                await _timed(pid, "extract_audio", children.in_thread(ffmpeg.extract_audio, source, wav, info=info))
                # The audio decoded to the end: its length must reach the declared one too.
                decoded = await children.in_thread(ffmpeg.wav_duration, wav)
                ingest.verified_duration(info.duration_s, {}, decoded_audio_s=decoded, name="the video")
                energy = await children.in_thread(ffmpeg.audio_energy, wav)
                if ffmpeg.is_silent(energy):
                    raise ProjectFailed("the audio track is silent: there is no speech to clip")
                await _charge_minutes(project, duration)
                await store.put_file(clip_jobs.audio_key(pid), wav)
                await _set(pid, stage="transcribe", progress=30)
                asr = await _timed(
                    pid,
                    "transcribe",
                    children.in_thread(whisper.transcribe, wav, language=project.options.get("language")),
                )
                levels = await children.in_thread(ffmpeg.audio_levels, wav, LEVEL_HOP_S)
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
        await store.write_bytes(keys["srt"], to_srt(transcript.sentences).encode())
        await store.write_bytes(keys["vtt"], to_vtt(transcript.sentences).encode())
        await store.write_bytes(keys["json"], json.dumps(transcript.to_dict()).encode())  # last: marks it done
        await _set(pid, transcript_key=keys["json"], language=transcript.language, stage="transcribed", progress=50)
        await _record(pid, "store_transcript", time.monotonic() - started)
        return {"words": len(transcript.words), "rtf": round(asr.rtf, 4)}

    return await _step(ctx, pid, "transcribe", body)


@task("clipping.detect_highlights", queue="media", policy=MEDIA_POLICY, timeout=600)
async def detect_highlights_task(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Score highlights on the transcript and audio energy; charge and store them as clips."""
    pid = uuid.UUID(project_id)

    async def body(project: Project) -> dict[str, Any]:
        async with session_scope() as session:
            existing = await ClippingRepository(session).clips_of_project(pid)
        if existing:
            return {"clips": len(existing)}
        store = composition.blob_store()
        started = time.monotonic()
        transcript = await load_transcript(pid)
        energy: list[float] = []
        levels: list[float] = []
        async with contextlib.AsyncExitStack() as stack:
            if await store.size(clip_jobs.audio_key(pid)) is not None:
                wav = await stack.enter_async_context(store.local_file(clip_jobs.audio_key(pid)))
                energy = await children.in_thread(ffmpeg.audio_energy, wav, 0.5)
                levels = await children.in_thread(ffmpeg.audio_levels, wav, LEVEL_HOP_S)
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


@task("clipping.render_clip", queue="media", policy=MEDIA_POLICY, timeout=1800)
async def render_clip(ctx: TaskContext, clip_id: str, render_hash: str | None = None) -> dict[str, Any]:
    """Render one clip (mp4 with burned-in captions), its thumbnail, poster and SRT. Skips the work
    when the clip is already ready with a render of the same inputs."""
    cid = uuid.UUID(clip_id)
    async with session_scope() as session:
        repo = ClippingRepository(session)
        clip = await repo.clip_by_id(cid)
        if clip is None:
            return {"skipped": "the clip was deleted"}
        project = await repo.project_by_id(clip.project_id)
    assert project is not None and project.source_key
    digest = _hash_for(project, clip)
    if render_hash is not None and render_hash != digest:
        return {"skipped": "the clip changed since this render was requested"}
    keys = clip_jobs.clip_keys(project.id, clip.id, digest)
    store = composition.blob_store()
    if clip.status == "ready" and clip.render_hash == digest and await store.size(keys["video"]) is not None:
        return {"clip_id": clip_id, "status": "ready", "reused": True}
    try:
        return await _render(ctx, project, clip, digest, keys)
    except INPUT_ERRORS as exc:
        await _clip_failed(cid, exc.detail)
        return {"clip_id": clip_id, "status": "failed", "reason": exc.detail}
    except Exception as exc:
        if ctx.attempt >= MEDIA_POLICY.max_attempts:
            await _clip_failed(cid, f"rendering failed: {exc}")
            return {"clip_id": clip_id, "status": "failed", "reason": str(exc)}
        raise


async def _render(ctx: TaskContext, project: Project, clip: Clip, digest: str, keys: dict[str, str]) -> dict[str, Any]:
    store = composition.blob_store()
    async with session_scope() as session:
        await ClippingRepository(session).update_clip(clip.id, status="rendering", failure_reason=None)
    started = time.monotonic()
    transcript = await load_transcript(project.id)
    words = clip_jobs.caption_words(transcript.words, clip.start_s, clip.end_s, clip.caption_text)
    preset = get_preset(clip.preset)
    style = get_caption_style(clip.caption_style)
    assert project.source_key
    with tempfile.TemporaryDirectory(prefix="reelflow-render-") as work_dir:
        work = Path(work_dir)
        ass = work / "captions.ass"
        ass.write_text(
            build_ass(words, clip_start_s=clip.start_s, clip_end_s=clip.end_s, style=style, preset=preset),
            encoding="utf-8",
        )
        out = work / "clip.mp4"
        thumb = work / "thumb.jpg"
        poster = work / "poster.jpg"
        async with store.local_file(project.source_key) as source:
            # In threads: the runtime keeps heartbeating while ffmpeg works.
            info = await children.in_thread(probe, source)
            samples = await children.in_thread(faces.detect_faces, source, clip.start_s, clip.end_s, info=info)
            path = crop_path(samples, info.display_width or 0, info.display_height or 0, preset)
            await children.in_thread(
                ffmpeg.render_clip,
                source,
                out,
                start_s=clip.start_s,
                end_s=clip.end_s,
                preset=preset,
                captions_ass=ass,
                info=info,
                crop=path.first,
                pan=path.keys if path.tracked else None,
            )
            # The thumbnail: a frame from the source (no captions) in a pause, framed like the clip.
            at = thumbnail_time(words, clip.start_s, clip.end_s)
            crop = CropBox(path.x_at(at), path.y, path.width, path.height)
            await children.in_thread(
                ffmpeg.source_thumbnail, source, clip.start_s + at, thumb, crop=crop, preset=preset, info=info
            )
        title = clip_jobs.poster_title(clip.text)
        layout = fit_title(title, preset.width, preset.height)
        await children.in_thread(
            ffmpeg.make_poster, thumb, title, poster, preset, lines=layout.lines, font_px=layout.font_px
        )
        if clip.caption_text is None:
            srt = to_srt(sentences_as_clip_groups(transcript, clip.start_s, clip.end_s), offset_s=clip.start_s)
        else:
            srt = to_srt([Sentence(tuple(words))] if words else [], offset_s=clip.start_s)
        size = await store.put_file(keys["video"], out)
        await store.put_file(keys["thumbnail"], thumb)
        await store.put_file(keys["poster"], poster)
        await store.write_bytes(keys["srt"], srt.encode())
    elapsed = time.monotonic() - started
    async with session_scope() as session:
        repo = ClippingRepository(session)
        current = await repo.clip_by_id(clip.id, lock=True)
        if current is None:  # deleted while rendering
            await store.delete_prefix(clip_jobs.clip_prefix(project.id, clip.id))
            return {"skipped": "the clip was deleted"}
        old_keys = [current.video_key, current.thumbnail_key, current.poster_key, current.srt_key]
        # Files first, then `ready` with their keys in one update: never ready without a file.
        await repo.update_clip(
            clip.id,
            status="ready",
            render_hash=digest,
            video_key=keys["video"],
            thumbnail_key=keys["thumbnail"],
            poster_key=keys["poster"],
            srt_key=keys["srt"],
            size_bytes=size,
            render_s=round(elapsed, 3),
            rendered_at=utcnow(),
            failure_reason=None,
        )
    for key in old_keys:
        if key and key not in keys.values():
            await store.delete(key)
    return {"clip_id": str(clip.id), "status": "ready", "render_s": round(elapsed, 3), "size_bytes": size}


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


async def _failed(pid: uuid.UUID) -> bool:
    return (await _load(pid)).status == "failed"


async def _set(pid: uuid.UUID, **values: Any) -> None:
    async with session_scope() as session:
        await ClippingRepository(session).update_project(pid, **values)


async def _fail(pid: uuid.UUID, reason: str) -> None:
    """Fail the project (unless it finished) and refund its unfinished work (the service's rule)."""
    log.info("clipping.project_failed", project_id=str(pid), reason=reason)
    async with session_scope() as session:
        await clipping_service.fail_project(session, pid, reason)


async def _clip_failed(cid: uuid.UUID, reason: str) -> None:
    async with session_scope() as session:
        await ClippingRepository(session).update_clip(cid, status="failed", failure_reason=reason[:2000])


async def _record(pid: uuid.UUID, stage: str, seconds: float) -> None:
    async with session_scope() as session:
        await ClippingRepository(session).record_timing(pid, stage, seconds)


async def _timed(pid: uuid.UUID, stage: str, work: Any) -> Any:
    started = time.monotonic()
    result = await work
    await _record(pid, stage, time.monotonic() - started)
    return result


async def _summary(pid: uuid.UUID) -> dict[str, Any]:
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


def _hash_for(project: Project, clip: Clip) -> str:
    assert project.source_key
    return clip_jobs.render_hash(
        source_key=project.source_key,
        transcript_key=project.transcript_key,
        start_s=clip.start_s,
        end_s=clip.end_s,
        preset=clip.preset,
        caption_style=clip.caption_style,
        caption_text=clip.caption_text,
    )


async def load_transcript(pid: uuid.UUID) -> Transcript:
    data = await composition.blob_store().read_bytes(clip_jobs.transcript_keys(pid)["json"])
    return Transcript.from_dict(json.loads(data))


# --- SSRF-safe download -------------------------------------------------------------------


async def download_source(
    url: str,
    key_for: Callable[[str], str],
    *,
    max_bytes: int,
    timeout_s: float,
    allowed: frozenset[str],
) -> tuple[str, int]:
    """Stream `url` into the blob store (see `reelflow.adapters.download`); returns (key, size)."""
    return await download.download_source(
        url,
        key_for,
        sink=composition.blob_store(),
        resolve=clipping_service.resolve_host,
        max_bytes=max_bytes,
        timeout_s=timeout_s,
        allowed=allowed,
    )
