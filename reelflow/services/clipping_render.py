"""The clipping pipeline's last step: render one clip (mp4 with burned-in captions, framed on
the faces it finds), its thumbnail, poster and SRT, with the `MediaEngine` handed in. The
other steps and the failure rules are in `clipping_pipeline`."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from reelflow.adapters.protocols import MediaEngine
from reelflow.domain import clip_jobs
from reelflow.domain.clipping import (
    Sentence,
    build_ass,
    get_caption_style,
    get_preset,
    sentences_as_clip_groups,
    to_srt,
)
from reelflow.domain.framing import crop_path
from reelflow.domain.posters import fit_title, thumbnail_time
from reelflow.domain.render import CropBox
from reelflow.queue import TaskContext
from reelflow.services.clipping_pipeline import INPUT_ERRORS, MEDIA_POLICY, load_transcript
from reelflow.storage.blobs import BlobStore
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip, Project
from reelflow.storage.repositories.clipping import ClippingRepository


async def render_clip(
    ctx: TaskContext, cid: uuid.UUID, render_hash: str | None, *, blobs: BlobStore, media: MediaEngine
) -> dict[str, Any]:
    """Render one clip (mp4 with burned-in captions), its thumbnail, poster and SRT. Skips the work
    when the clip is already ready with a render of the same inputs."""
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
    if clip.status == "ready" and clip.render_hash == digest and await blobs.size(keys["video"]) is not None:
        return {"clip_id": str(cid), "status": "ready", "reused": True}
    try:
        return await _render(project, clip, digest, keys, blobs=blobs, media=media)
    except INPUT_ERRORS as exc:
        await _clip_failed(cid, exc.detail)
        return {"clip_id": str(cid), "status": "failed", "reason": exc.detail}
    except Exception as exc:
        if ctx.attempt >= MEDIA_POLICY.max_attempts:
            await _clip_failed(cid, f"rendering failed: {exc}")
            return {"clip_id": str(cid), "status": "failed", "reason": str(exc)}
        raise


async def _render(
    project: Project, clip: Clip, digest: str, keys: dict[str, str], *, blobs: BlobStore, media: MediaEngine
) -> dict[str, Any]:
    async with session_scope() as session:
        await ClippingRepository(session).update_clip(clip.id, status="rendering", failure_reason=None)
    started = time.monotonic()
    transcript = await load_transcript(project.id, blobs=blobs)
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
        async with blobs.local_file(project.source_key) as source:
            # Off the event loop (the engine's threads): the runtime keeps heartbeating while ffmpeg works.
            info = await media.probe(source)
            samples = await media.detect_faces(source, clip.start_s, clip.end_s, info=info)
            path = crop_path(samples, info.display_width or 0, info.display_height or 0, preset)
            await media.render_clip(
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
            await media.source_thumbnail(source, clip.start_s + at, thumb, crop=crop, preset=preset, info=info)
        title = clip_jobs.poster_title(clip.text)
        layout = fit_title(title, preset.width, preset.height)
        await media.make_poster(thumb, title, poster, preset, lines=layout.lines, font_px=layout.font_px)
        if clip.caption_text is None:
            srt = to_srt(sentences_as_clip_groups(transcript, clip.start_s, clip.end_s), offset_s=clip.start_s)
        else:
            srt = to_srt([Sentence(tuple(words))] if words else [], offset_s=clip.start_s)
        size = await blobs.put_file(keys["video"], out)
        await blobs.put_file(keys["thumbnail"], thumb)
        await blobs.put_file(keys["poster"], poster)
        await blobs.write_bytes(keys["srt"], srt.encode())
    elapsed = time.monotonic() - started
    async with session_scope() as session:
        repo = ClippingRepository(session)
        current = await repo.clip_by_id(clip.id, lock=True)
        if current is None:  # deleted while rendering
            await blobs.delete_prefix(clip_jobs.clip_prefix(project.id, clip.id))
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
            await blobs.delete(key)
    return {"clip_id": str(clip.id), "status": "ready", "render_s": round(elapsed, 3), "size_bytes": size}


async def _clip_failed(cid: uuid.UUID, reason: str) -> None:
    async with session_scope() as session:
        await ClippingRepository(session).update_clip(cid, status="failed", failure_reason=reason[:2000])


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
