"""Viral experiments: variants (clip + caption/title/thumbnail), variant posts, metrics
(pushed or collected, one row per post and time), and the winner rule
(`reelflow.domain.experiments.decide`, explained in docs/experiments.md)."""

# ruff: noqa: B023 - the lambdas below are awaited at once, inside their loop pass

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import PublishingPlatforms
from reelflow.domain.experiments import VariantFigures, decide
from reelflow.errors import Conflict, InvalidInput, NotFound, ReelflowError
from reelflow.logs import get_logger
from reelflow.queue import enqueue
from reelflow.services.publishing_run import TokenHolder
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.publishing import ClipPublication, ConnectedAccount, Experiment, ExperimentVariant
from reelflow.storage.repositories.clipping import ClippingRepository
from reelflow.storage.repositories.publishing import PublishingRepository

log = get_logger(__name__)
COLLECT_TASK = "publishing.collect_metrics"
DEFAULT_MIN_VIEWS = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_DURATION = timedelta(days=3)
TIKTOK_QUERY_BATCH = 20  # Display API video/query: ≤ 20 ids per request
YOUTUBE_BATCH = 50  # videos.list: ≤ 50 ids per request


@dataclass
class VariantIn:
    label: str
    clip_id: uuid.UUID
    caption: str | None = None
    title: str | None = None
    thumbnail_s: float | None = None


@dataclass
class MetricIn:
    publication_id: uuid.UUID
    measured_at: datetime
    views: int
    likes: int = 0
    comments: int = 0
    shares: int = 0
    watch_time_s: float | None = None


async def create_experiment(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    project_id: uuid.UUID,
    name: str,
    variants: list[VariantIn],
    min_views: int = DEFAULT_MIN_VIEWS,
    confidence: float = DEFAULT_CONFIDENCE,
    ends_at: datetime | None = None,
) -> tuple[Experiment, list[ExperimentVariant]]:
    project = await ClippingRepository(session).get_project(workspace_id, project_id)
    if project is None:  # unknown, or another workspace's: the same answer
        raise InvalidInput("no such project", field="project_id")
    if len(variants) < 2:
        raise InvalidInput("an experiment needs at least two variants", field="variants")
    labels = [v.label for v in variants]
    if len(set(labels)) != len(labels):
        raise InvalidInput("variant labels must be unique", field="variants")
    if not 0.5 <= confidence < 1:
        raise InvalidInput("confidence must be in [0.5, 1)", field="confidence")
    if min_views < 1:
        raise InvalidInput("min_views must be at least 1", field="min_views")
    now = utcnow()
    ends_at = ends_at or now + DEFAULT_DURATION
    if ends_at <= now:
        raise InvalidInput("ends_at must be in the future", field="ends_at")
    repo = PublishingRepository(session)
    for i, variant in enumerate(variants):
        clip = await repo.get_clip(workspace_id, variant.clip_id)
        if clip is None or clip.project_id != project_id:
            raise InvalidInput(
                f"variant {variant.label}: the clip is not one of this project's", field=f"variants[{i}]"
            )
    experiment = await repo.add_experiment(
        {
            "workspace_id": workspace_id,
            "project_id": project_id,
            "name": name,
            "status": "running",
            "min_views": min_views,
            "confidence": confidence,
            "ends_at": ends_at,
            "started_at": now,
        }
    )
    rows = [
        await repo.add_variant(
            {
                "workspace_id": workspace_id,
                "experiment_id": experiment.id,
                "label": v.label,
                "clip_id": v.clip_id,
                "caption": v.caption,
                "title": v.title,
                "thumbnail_s": v.thumbnail_s,
            }
        )
        for v in variants
    ]
    return experiment, rows


async def get_experiment(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID
) -> tuple[Experiment, list[ExperimentVariant], list[tuple[ClipPublication, Any]]]:
    repo = PublishingRepository(session)
    experiment = await repo.get_experiment(workspace_id, experiment_id)
    if experiment is None:
        raise NotFound("no such experiment")
    return experiment, list(await repo.variants(experiment.id)), await repo.latest_metrics(experiment.id)


async def list_experiments(session: AsyncSession, workspace_id: uuid.UUID) -> list[Experiment]:
    return list(await PublishingRepository(session).list_experiments(workspace_id))


async def start_collection(session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID) -> Any:
    """Queue a collection of this experiment's posts now (the schedule does all every 30 min)."""
    experiment = await PublishingRepository(session).get_experiment(workspace_id, experiment_id)
    if experiment is None:
        raise NotFound("no such experiment")
    if experiment.status != "running":
        raise Conflict(f"the experiment is {experiment.status}")
    slot = utcnow().replace(microsecond=0).isoformat()
    args = {"slot": slot, "experiment_id": str(experiment_id)}
    return (await enqueue(session, COLLECT_TASK, args, workspace_id=workspace_id)).run


async def push_metrics(
    session: AsyncSession, workspace_id: uuid.UUID, experiment_id: uuid.UUID, items: list[MetricIn]
) -> dict[str, int]:
    """Store pushed counters; the same (post, measured_at) again is accepted and ignored."""
    repo = PublishingRepository(session)
    experiment = await repo.get_experiment(workspace_id, experiment_id)
    if experiment is None:
        raise NotFound("no such experiment")
    posts = {p.id for p in await repo.list_publications(workspace_id, experiment_id=experiment_id, limit=10_000)}
    stored = duplicates = 0
    for i, item in enumerate(items):
        if item.publication_id not in posts:
            raise InvalidInput("not a post of this experiment", field=f"metrics[{i}].publication_id")
        if item.measured_at.tzinfo is None:
            raise InvalidInput("measured_at needs a timezone", field=f"metrics[{i}].measured_at")
        if min(item.views, item.likes, item.comments, item.shares) < 0:
            raise InvalidInput("counters cannot be negative", field=f"metrics[{i}]")
        added = await repo.add_metric(
            {
                "workspace_id": workspace_id,
                "publication_id": item.publication_id,
                "measured_at": item.measured_at,
                "views": item.views,
                "likes": item.likes,
                "comments": item.comments,
                "shares": item.shares,
                "watch_time_s": item.watch_time_s,
                "source": "push",
            }
        )
        stored += added
        duplicates += not added
    return {"stored": stored, "duplicates": duplicates}


# --- automated collection and evaluation --------------------------------------------------------


async def collect_metrics(
    *,
    platforms: PublishingPlatforms,
    measured_at: datetime | None = None,
    experiment_id: uuid.UUID | None = None,
) -> dict[str, int]:
    """Fetch the counters of every live variant post (of one experiment, or of all running
    ones): TikTok Display `video/query` (20 ids per call, per account token), YouTube
    `videos.list` (50 ids per call). One metric row per post and collection slot
    (`measured_at`; the schedule passes its minute-aligned slot): a repeat stores nothing twice."""
    slot = (measured_at or utcnow().replace(second=0)).replace(microsecond=0)
    async with session_scope() as session:
        live = await PublishingRepository(session).live_posts(experiment_id)
    by_account: dict[uuid.UUID, tuple[ConnectedAccount, list[ClipPublication]]] = {}
    for pub, account in live:
        by_account.setdefault(account.id, (account, []))[1].append(pub)
    counts = {"posts": len(live), "stored": 0, "calls": 0, "failed_accounts": 0}
    for account, pubs in by_account.values():
        try:
            holder = await TokenHolder.load(account.id, platforms)
            rows = await _fetch(account, pubs, holder, counts)
        except ReelflowError as exc:
            counts["failed_accounts"] += 1
            log.warning("metrics collection failed", account_id=str(account.id), error=exc.code)
            continue
        async with session_scope() as session:
            repo = PublishingRepository(session)
            for pub, stats in rows:
                counts["stored"] += await repo.add_metric(
                    {
                        "workspace_id": pub.workspace_id,
                        "publication_id": pub.id,
                        "measured_at": slot,
                        "views": stats.views or 0,
                        "likes": stats.likes or 0,
                        "comments": stats.comments or 0,
                        "shares": stats.shares or 0,
                        "source": "collect",
                    }
                )
    return counts


async def _fetch(
    account: ConnectedAccount, pubs: list[ClipPublication], holder: TokenHolder, counts: dict[str, int]
) -> list[tuple[ClipPublication, Any]]:
    platforms = holder.platforms
    if account.platform == "tiktok":
        for pub in pubs:  # the public id arrives after moderation: resolve it once
            if not pub.external_id and pub.publish_id:
                publish_id: str = pub.publish_id
                status = await holder.call(lambda t: platforms.tiktok_posting(t).fetch_status(publish_id))
                counts["calls"] += 1
                if status.post_id:
                    async with session_scope() as session:
                        await PublishingRepository(session).update_publication(
                            pub.id, external_id=status.post_id, url=status.url
                        )
                    pub.external_id = status.post_id
    by_id = {p.external_id: p for p in pubs if p.external_id}
    ids = list(by_id)
    out: list[tuple[ClipPublication, Any]] = []
    batch = TIKTOK_QUERY_BATCH if account.platform == "tiktok" else YOUTUBE_BATCH
    for i in range(0, len(ids), batch):
        chunk: list[str] = [str(x) for x in ids[i : i + batch]]
        if account.platform == "tiktok":
            stats = await holder.call(lambda t: platforms.tiktok_display(t).fetch_stats(chunk))
        else:
            stats = await holder.call(lambda t: platforms.youtube(t).fetch_stats(chunk))
        counts["calls"] += 1
        out.extend((by_id[s.video_id], s) for s in stats if s.video_id in by_id)
    return out


async def evaluate(experiment_id: uuid.UUID, *, now: datetime | None = None) -> dict[str, Any]:
    """Apply the winner rule; a winner completes the experiment, the end time without one
    makes it `inconclusive`; otherwise it keeps running with the latest figures stored."""
    now = now or utcnow()
    async with session_scope() as session:
        repo = PublishingRepository(session)
        experiment = await repo.experiment_by_id(experiment_id, lock=True)
        if experiment is None or experiment.status != "running":
            return {"status": experiment.status if experiment else "missing"}
        variants = await repo.variants(experiment.id)
        totals: dict[uuid.UUID, dict[str, int]] = defaultdict(
            lambda: {"views": 0, "likes": 0, "comments": 0, "shares": 0}
        )
        for pub, metric in await repo.latest_metrics(experiment.id):
            if pub.variant_id is None or metric is None:
                continue
            for key in ("views", "likes", "comments", "shares"):
                totals[pub.variant_id][key] += int(getattr(metric, key))
        figures = [VariantFigures(str(v.id), v.label, **totals[v.id]) for v in variants]
        decision = decide(figures, min_views=experiment.min_views, confidence=experiment.confidence)
        values: dict[str, Any] = {"decision": {**decision.as_dict(), "evaluated_at": now.isoformat()}}
        if decision.winner:
            values.update(status="completed", winner_variant_id=uuid.UUID(decision.winner), decided_at=now)
        elif now >= experiment.ends_at:
            values.update(status="inconclusive", decided_at=now)
            values["decision"]["reason"] = f"ended without a winner: {decision.reason}"
        await repo.update_experiment(experiment.id, **values)
        return {"status": values.get("status", "running"), **values["decision"]}


async def evaluate_running(*, now: datetime | None = None, only: uuid.UUID | None = None) -> dict[str, int]:
    async with session_scope() as session:
        ids = [only] if only else await PublishingRepository(session).running_experiments()
    counts = {"evaluated": 0, "completed": 0, "inconclusive": 0}
    for experiment_id in ids:
        result = await evaluate(experiment_id, now=now)
        counts["evaluated"] += 1
        if result["status"] in ("completed", "inconclusive"):
            counts[result["status"]] += 1
    return counts
