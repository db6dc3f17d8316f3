"""Benchmark: publishing exactly once under faults and worker kills, against the sandbox.

    python bench/publishing.py [--publishes 1000] [--accounts 10] [--workers 3] [--kills 3] [--json PATH]

N publishes (clip × account pairs, half TikTok, half YouTube) go through the real path:
`services.publishing.publish` creates the publications and jobs, real `reelflow worker`
processes run them against the sandbox (a separate process) with injected faults on the
platform calls: 10% 429/5xx, 2% "accepted but the response is lost" (the sandbox does the
work, then answers 503). Three workers are SIGKILLed at random points and replaced.
Counted on the sandbox: posts per publication (`posted` = publications with ≥1 post,
`duplicates` = extra posts, `lost` = publications without a post or not `published`).

Side by side, in the same run and against the same sandbox and faults, a naive baseline
(what the seeds' products did): init + upload, and on ANY error start over (re-post), up
to 5 tries; its duplicates are `baseline_duplicates`.

Starts embedded Postgres and Redis in a temp folder unless DATABASE_URL / REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VIDEO_BYTES = 64 * 1024


def _setup_services(tmp: Path) -> list[Any]:
    from reelflow.settings import normalise_database_url, reset_settings_cache
    from reelflow.storage.embedded import start_postgres, start_redis

    handles: list[Any] = []
    if not os.environ.get("DATABASE_URL"):
        pg, url = start_postgres(tmp / "postgres", cleanup_mode="delete")
        os.environ["DATABASE_URL"] = url
        handles.append(pg)
    else:
        os.environ["DATABASE_URL"] = normalise_database_url(os.environ["DATABASE_URL"])
    if not os.environ.get("REDIS_URL"):
        proc, url = start_redis(tmp / "redis")
        os.environ["REDIS_URL"] = url
        handles.append(proc)
    os.environ.setdefault("REELFLOW_DATA_DIR", str(tmp / "data"))
    os.environ["REELFLOW_LOG__LEVEL"] = "WARNING"
    os.environ["REELFLOW_QUOTAS__ENABLED"] = "false"  # the platforms' per-token limits would pace this to hours
    os.environ["REELFLOW_PUBLISHING__POLL_INTERVAL_S"] = "0.2"
    os.environ["REELFLOW_HTTP__BACKOFF_INITIAL_SECONDS"] = "0.05"
    os.environ["REELFLOW_HTTP__BACKOFF_MAX_SECONDS"] = "0.5"
    reset_settings_cache()
    from reelflow.storage.migrate import upgrade

    upgrade("head")
    return handles


def _start(args: list[str], **env: str) -> subprocess.Popen[bytes]:
    from reelflow.settings import env_for_children, get_settings

    return subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", *args],
        env={**env_for_children(get_settings()), "REELFLOW_LOG__LEVEL": "ERROR", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _worker_env() -> dict[str, str]:
    return {
        "REELFLOW_RUNTIME__HEARTBEAT_INTERVAL": "0.3",
        "REELFLOW_RUNTIME__HEARTBEAT_TIMEOUT": "2",
        "REELFLOW_RUNTIME__SWEEP_INTERVAL": "0.5",
        "REELFLOW_RUNTIME__MISSING_GRACE": "1",
    }


FAULTS = [
    # 10% of platform calls: 429 (with Retry-After) or 5xx
    {"path": "/tiktok/v2/post/publish/*", "status": 429, "retry_after": 0.2, "probability": 0.05, "times": -1},
    {"path": "/tiktok/v2/post/publish/*", "status": 503, "probability": 0.05, "times": -1},
    {"path": "/tiktok-upload/*", "status": 503, "probability": 0.10, "times": -1},
    {"path": "/youtube/*", "status": 429, "probability": 0.05, "times": -1},
    {"path": "/youtube/*", "status": 503, "probability": 0.05, "times": -1},
    # 2%: the platform accepts (the post exists), then the answer is lost
    {"path": "/tiktok-upload/*", "kind": "after_accept", "status": 503, "probability": 0.02, "times": -1},
    {
        "path": "/tiktok/v2/post/publish/video/init/",
        "kind": "after_accept",
        "status": 503,
        "probability": 0.02,
        "times": -1,
    },
    {
        "path": "/youtube/upload/*",
        "method": "PUT",
        "kind": "after_accept",
        "status": 503,
        "probability": 0.02,
        "times": -1,
    },
]


async def _connect_accounts(sandbox_url: str, count: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A workspace with `count` accounts (half TikTok, half YouTube) connected through OAuth."""
    from urllib.parse import parse_qs, urlsplit

    from reelflow.adapters.platforms import Platforms
    from reelflow.services import accounts
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.identity import IdentityRepository

    async with session_scope() as session:
        repo = IdentityRepository(session)
        user = await repo.create_user(f"bench-{uuid.uuid4().hex[:8]}@example.com", None)
        workspace = await repo.create_workspace("bench", "pro")
        await repo.add_membership(workspace.id, user.id, "owner")
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox:
        handles = [c["handle"] for c in (await sandbox.get("/sandbox/world/creators", params={"limit": count})).json()]
    ids = []
    member = accounts.Member(workspace.id, user.id)
    for i, handle in enumerate(handles):
        provider = "tiktok" if i % 2 == 0 else "google"
        async with session_scope() as session:
            start = await accounts.start_oauth(
                session,
                member,
                provider,
                redirect_uri="https://bench.invalid/callback",
                platforms=Platforms(),
                login_hint=handle,
            )
        url = start["authorize_url"] + (f"&sandbox_user={handle}" if provider == "tiktok" else "")
        async with httpx.AsyncClient(timeout=30) as browser:
            query = parse_qs(urlsplit((await browser.get(url)).headers["location"]).query)
        async with session_scope() as session:
            account = await accounts.complete_oauth(
                session, provider, state=query["state"][0], code=query["code"][0], error=None, platforms=Platforms()
            )
            ids.append(account.id)
    return workspace.id, ids


async def _make_clips(workspace_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    from reelflow.storage.blobs import get_blob_store
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.clipping import Clip
    from reelflow.storage.repositories.clipping import ClippingRepository

    key = "bench/publishing/clip.mp4"
    await get_blob_store().write_bytes(key, os.urandom(VIDEO_BYTES))
    async with session_scope() as session:
        project = await ClippingRepository(session).create_project(
            workspace_id=workspace_id,
            created_by=None,
            title="bench",
            status="clips_ready",
            source_kind="url",
            source_url="https://example.com/v.mp4",
            options={},
        )
        ids = []
        for rank in range(1, count + 1):
            clip_id = uuid.uuid4()
            session.add(
                Clip(
                    id=clip_id,
                    workspace_id=workspace_id,
                    project_id=project.id,
                    rank=rank,
                    start_s=0.0,
                    end_s=20.0,
                    score=0.5,
                    reasons=[],
                    text="",
                    caption_style="bold",
                    preset="tiktok_1080",
                    status="ready",
                    video_key=key,
                    size_bytes=VIDEO_BYTES,
                )
            )
            ids.append(clip_id)
    return ids


async def _submit(workspace_id: uuid.UUID, pairs: list[tuple[uuid.UUID, uuid.UUID, str]]) -> list[uuid.UUID]:
    from reelflow.adapters.platforms import Platforms
    from reelflow.services.publishing import PublishRequest, publish
    from reelflow.storage.db import session_scope

    runs = []
    for i, (clip_id, account_id, platform) in enumerate(pairs):
        label = f"rf-bench-{i}"
        request = PublishRequest(
            platform=platform,
            clip_id=clip_id,
            account_ids=[account_id],
            caption=label if platform == "tiktok" else None,
            title=label if platform == "youtube" else None,
            description="" if platform == "youtube" else None,
            privacy="SELF_ONLY" if platform == "tiktok" else "unlisted",
        )
        for _ in range(20):  # creator_info may meet an injected 429/5xx: the client retries the request
            try:
                async with session_scope() as session:
                    [outcome] = await publish(session, workspace_id, request, platforms=Platforms())
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError("could not submit a publish")
        assert outcome.job_id is not None
        runs.append(outcome.job_id)
    return runs


async def _progress(run_ids: list[uuid.UUID]) -> Counter[str]:
    from sqlalchemy import select

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.runtime import JobRun

    async with session_scope() as session:
        rows = (await session.execute(select(JobRun.status).where(JobRun.id.in_(run_ids)))).scalars().all()
    return Counter(rows)


async def _publication_statuses(workspace_id: uuid.UUID) -> Counter[str]:
    from sqlalchemy import select

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.publishing import ClipPublication

    async with session_scope() as session:
        stmt = select(ClipPublication.status).where(ClipPublication.workspace_id == workspace_id)
        return Counter((await session.execute(stmt)).scalars().all())


async def _posts_by_label(sandbox_url: str) -> Counter[str]:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=60) as sandbox:
        tiktok = (await sandbox.get("/sandbox/tiktok/posts")).json()
        youtube = (await sandbox.get("/sandbox/youtube/videos")).json()
    return Counter([p["title"] for p in tiktok] + [v["title"] for v in youtube])


async def _baseline(sandbox_url: str, n: int, concurrency: int = 8) -> None:
    """Naive publishing: on any error, post again from the start (no checkpoint, no lookup,
    no inline retry: HTTP attempts are set to 1 for this phase)."""
    from reelflow.adapters.tiktok.oauth import TikTokOAuth
    from reelflow.adapters.tiktok.posting import PostInfo, PostingClient, chunk_plan
    from reelflow.adapters.youtube import GoogleOAuth, VideoMetadata, YouTubeClient
    from reelflow.errors import ReelflowError

    async with httpx.AsyncClient(base_url=sandbox_url, timeout=30) as sandbox:
        users = [c["handle"] for c in (await sandbox.get("/sandbox/world/creators", params={"limit": 2})).json()]
    from urllib.parse import parse_qs, urlsplit

    async def token(provider: str, user: str) -> str:
        oauth: Any = (
            TikTokOAuth("https://bench.invalid/cb") if provider == "tiktok" else GoogleOAuth("https://bench.invalid/cb")
        )
        scopes = (
            ["user.info.basic", "video.publish", "video.list"]
            if provider == "tiktok"
            else [
                "https://www.googleapis.com/auth/youtube.upload",
                "https://www.googleapis.com/auth/youtube.readonly",
            ]
        )
        url = oauth.authorize_url(scopes, state=uuid.uuid4().hex) + (
            f"&sandbox_user={user}" if provider == "tiktok" else f"&login_hint={user}"
        )
        async with httpx.AsyncClient(timeout=30) as browser:
            code = parse_qs(urlsplit((await browser.get(url)).headers["location"]).query)["code"][0]
        for _ in range(10):
            try:
                return str((await oauth.exchange_code(code)).access_token)
            except ReelflowError:
                await asyncio.sleep(0.1)
        raise RuntimeError("baseline could not get a token")

    tiktok_token = await token("tiktok", users[0])
    youtube_token = await token("google", users[1])
    video = os.urandom(VIDEO_BYTES)
    semaphore = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        label = f"baseline-{i}"
        async with semaphore:
            for _ in range(5):
                try:
                    if i % 2 == 0:
                        posting = PostingClient(tiktok_token)
                        plan = chunk_plan(len(video))
                        init = await posting.init_file_upload(PostInfo(title=label, privacy_level="SELF_ONLY"), plan)
                        assert init.upload_url
                        await posting.upload(init.upload_url, video, plan)
                    else:
                        yt = YouTubeClient(youtube_token)
                        session = await yt.start_upload(
                            VideoMetadata(title=label, privacy_status="unlisted"), len(video)
                        )
                        await yt.upload(session, video, len(video))
                    return
                except ReelflowError:
                    continue  # "it failed": post again

    await asyncio.gather(*(one(i) for i in range(n)))


def run(options: argparse.Namespace) -> dict[str, Any]:
    from reelflow.storage.db import dispose_engine
    from reelflow.storage.embedded import free_port

    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    os.environ["REELFLOW_SANDBOX__URL"] = sandbox_url
    from reelflow.settings import reset_settings_cache

    reset_settings_cache()
    sandbox = _start(["sandbox", "--port", str(port)])
    workers: list[subprocess.Popen[bytes]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{sandbox_url}/sandbox/health", timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("sandbox did not start")
            time.sleep(0.2)
        httpx.post(f"{sandbox_url}/sandbox/config", json={"tiktok_processing_s": 0.3, "youtube_processing_s": 0.3})

        async def setup() -> tuple[uuid.UUID, list[uuid.UUID], list[uuid.UUID]]:
            try:
                workspace_id, account_ids = await _connect_accounts(sandbox_url, options.accounts)
                clips = await _make_clips(workspace_id, -(-options.publishes // len(account_ids)))
                return workspace_id, account_ids, clips
            finally:
                await dispose_engine()

        workspace_id, account_ids, clips = asyncio.run(setup())
        pairs = [
            (
                clips[i // len(account_ids)],
                account_ids[i % len(account_ids)],
                "tiktok" if i % len(account_ids) % 2 == 0 else "youtube",
            )
            for i in range(options.publishes)
        ]
        for fault in FAULTS:
            httpx.post(f"{sandbox_url}/sandbox/faults", json=fault).raise_for_status()
        workers = [_start(["worker", "--queues", "high,default"], **_worker_env()) for _ in range(options.workers)]
        started = time.monotonic()

        async def submit() -> list[uuid.UUID]:
            try:
                return await _submit(workspace_id, pairs)
            finally:
                await dispose_engine()

        run_ids = asyncio.run(submit())

        async def progress() -> Counter[str]:
            try:
                return await _progress(run_ids)
            finally:
                await dispose_engine()

        rng = random.Random(11)
        marks = sorted(rng.uniform(0.15, 0.75) for _ in range(options.kills))
        kills = 0
        for mark in marks:
            while asyncio.run(progress())["succeeded"] < mark * len(run_ids):
                time.sleep(0.2)
            victim = rng.randrange(len(workers))
            os.killpg(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = _start(["worker", "--queues", "high,default"], **_worker_env())
            kills += 1
        deadline = time.monotonic() + options.timeout
        while True:
            statuses = asyncio.run(progress())
            if sum(statuses[s] for s in ("succeeded", "failed", "cancelled")) == len(run_ids):
                break
            if time.monotonic() > deadline:
                break
            time.sleep(0.3)
        seconds = time.monotonic() - started

        async def outcome() -> tuple[Counter[str], Counter[str]]:
            try:
                return await _publication_statuses(workspace_id), await _posts_by_label(sandbox_url)
            finally:
                await dispose_engine()

        publication_statuses, posts = asyncio.run(outcome())
        labels = [f"rf-bench-{i}" for i in range(len(pairs))]
        posted = sum(1 for label in labels if posts[label] >= 1)
        duplicates = sum(max(0, posts[label] - 1) for label in labels)
        lost = sum(1 for label in labels if posts[label] == 0)
        not_published = len(pairs) - publication_statuses["published"]
        print(
            f"  reelflow: posted {posted}/{len(pairs)}, duplicates {duplicates}, lost {max(lost, not_published)}, "
            f"{seconds:.1f} s; jobs {dict(statuses)}; publications {dict(publication_statuses)}",
            flush=True,
        )

        # The baseline retries nothing inline either: any error means "post again".
        os.environ["REELFLOW_HTTP__MAX_ATTEMPTS"] = "1"
        reset_settings_cache()
        baseline_started = time.monotonic()
        asyncio.run(_baseline(sandbox_url, options.baseline or options.publishes))
        baseline_seconds = time.monotonic() - baseline_started
        posts = asyncio.run(_posts_by_label(sandbox_url))
        baseline_labels = [f"baseline-{i}" for i in range(options.baseline or options.publishes)]
        return {
            "publishes": len(pairs),
            "posted": posted,
            "duplicates": duplicates,
            "lost": max(lost, not_published),
            "seconds": round(seconds, 2),
            "publishes_per_s": round(len(pairs) / seconds, 2),
            "worker_kills": kills,
            "workers": options.workers,
            "accounts": len(account_ids),
            "job_statuses": dict(statuses),
            "publication_statuses": dict(publication_statuses),
            "baseline_publishes": len(baseline_labels),
            "baseline_posted": sum(1 for label in baseline_labels if posts[label] >= 1),
            "baseline_duplicates": sum(max(0, posts[label] - 1) for label in baseline_labels),
            "baseline_seconds": round(baseline_seconds, 2),
            "faults": "10% 429/5xx, 2% accepted-then-answer-lost, per platform call",
        }
    finally:
        for worker in workers:
            _stop(worker)
        _stop(sandbox)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--baseline", type=int, default=0, help="baseline publishes (default: as many)")
    parser.add_argument("--timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    from reelflow.logs import configure_logging

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp:
        handles = _setup_services(Path(tmp))
        try:
            print(
                f"publishing: {options.publishes} publishes over {options.accounts} accounts, "
                f"{options.workers} workers, {options.kills} SIGKILLs, faults on …",
                flush=True,
            )
            results = run(options)
            results["machine"] = f"{os.cpu_count()} cores, {sys.platform}, python {sys.version.split()[0]}"
            print(
                f"  posted {results['posted']}/{results['publishes']}, duplicates {results['duplicates']}, "
                f"lost {results['lost']}, {results['seconds']} s ({results['publishes_per_s']} publishes/s), "
                f"{results['worker_kills']} kills",
                flush=True,
            )
            print(
                f"  naive baseline: posted {results['baseline_posted']}/{results['baseline_publishes']}, "
                f"duplicates {results['baseline_duplicates']}",
                flush=True,
            )
            if options.json:
                options.json.parent.mkdir(parents=True, exist_ok=True)
                options.json.write_text(json.dumps(results, indent=2) + "\n")
        finally:
            for handle in handles:
                if isinstance(handle, subprocess.Popen):
                    handle.terminate()
                else:
                    handle.cleanup()


if __name__ == "__main__":
    main()
