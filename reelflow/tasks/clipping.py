"""The clipping pipeline as runtime jobs on the `media` queue.

`clipping.process_project` is a workflow (a parent run whose steps are child runs):

    [import_url]  →  transcribe_project  →  detect_highlights  →  render_clip × N  →  clips_ready
    (URL sources)    probe, plan limits,     energy, highlights,    one child per clip:
                     audio, transcript       charge clips, upsert    mp4, thumbnail, SRT

The parent is re-invoked from the top after each batch (replayed batches return their
recorded results), so the code between batches only reads the project. Thin: each step is
a use case in `reelflow.services.clipping_pipeline` (its guarantees are described there) or
`clipping_render`, called with the blob store, the media engine and the URL importer from
`reelflow.composition`.
"""

from __future__ import annotations

import uuid
from typing import Any

from reelflow import composition
from reelflow.services import clipping_pipeline as pipeline
from reelflow.services import clipping_render
from reelflow.services.clipping_pipeline import IMPORT_POLICY, MEDIA_POLICY
from reelflow.tasks.registry import TaskContext, task


@task("clipping.process_project", queue="media", policy=MEDIA_POLICY, timeout=600)
async def process_project(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Run a project's pipeline; returns its final status and clip count."""
    pid = uuid.UUID(project_id)
    project = await pipeline.start(pid)
    if project is None:
        return await pipeline.summary(pid)
    await ctx.progress(2, "started")

    # The batches are always the same for a project (replay depends on it).
    if project.source_kind == "url":
        await ctx.run_children([("clipping.import_url", {"project_id": project_id})])
        if await pipeline.has_failed(pid):
            return await pipeline.summary(pid)
    await ctx.progress(15, "transcribing")
    await ctx.run_children([("clipping.transcribe_project", {"project_id": project_id})])
    if await pipeline.has_failed(pid):
        return await pipeline.summary(pid)
    await ctx.progress(55, "detecting highlights")
    await ctx.run_children([("clipping.detect_highlights", {"project_id": project_id})])
    if await pipeline.has_failed(pid):
        return await pipeline.summary(pid)

    clip_ids = await pipeline.begin_render(pid)
    await ctx.progress(60, f"rendering {len(clip_ids)} clips")
    await ctx.run_children([("clipping.render_clip", {"clip_id": str(cid)}) for cid in clip_ids])
    await pipeline.finish(pid)
    await ctx.progress(100, "done")
    return await pipeline.summary(pid)


@task("clipping.reconcile_projects", queue="default", timeout=300)
async def reconcile_projects(ctx: TaskContext, limit: int = 500) -> dict[str, int]:
    """The sweep: fail projects whose pipeline run ended without recording it, or whose
    upload link expired unfinished (scheduled by the `clipping-reconcile` flow)."""
    return await pipeline.reconcile_projects(blobs=composition.blob_store(), limit=limit)


@task("clipping.expire_uploads", queue="default", timeout=600)
async def expire_uploads(ctx: TaskContext, limit: int | None = None) -> dict[str, Any]:
    """Uploads not completed by their expiry: the project fails (usage refunded) and the
    received bytes are deleted. Run by the `clipping-expire-uploads` schedule."""
    return await pipeline.expire_uploads(blobs=composition.blob_store(), limit=limit)


# --- children -----------------------------------------------------------------------------


@task("clipping.import_url", queue="media", policy=IMPORT_POLICY, timeout=1800)
async def import_url(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Download a URL project's source into blob storage (SSRF-safe, size and type limits)."""
    return await pipeline.import_url(
        ctx, uuid.UUID(project_id), blobs=composition.blob_store(), importer=composition.source_importer()
    )


@task("clipping.transcribe_project", queue="media", policy=MEDIA_POLICY, timeout=4 * 3600)
async def transcribe_project(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Probe the source, enforce the plan, extract audio, transcribe, store JSON/SRT/VTT."""
    return await pipeline.transcribe_project(
        ctx, uuid.UUID(project_id), blobs=composition.blob_store(), media=composition.media_engine()
    )


@task("clipping.detect_highlights", queue="media", policy=MEDIA_POLICY, timeout=600)
async def detect_highlights_task(ctx: TaskContext, project_id: str) -> dict[str, Any]:
    """Score highlights on the transcript and audio energy; charge and store them as clips."""
    return await pipeline.detect_project_highlights(
        ctx, uuid.UUID(project_id), blobs=composition.blob_store(), media=composition.media_engine()
    )


@task("clipping.render_clip", queue="media", policy=MEDIA_POLICY, timeout=1800)
async def render_clip(ctx: TaskContext, clip_id: str, render_hash: str | None = None) -> dict[str, Any]:
    """Render one clip (mp4 with burned-in captions), its thumbnail, poster and SRT. Skips the work
    when the clip is already ready with a render of the same inputs."""
    return await clipping_render.render_clip(
        ctx, uuid.UUID(clip_id), render_hash, blobs=composition.blob_store(), media=composition.media_engine()
    )
