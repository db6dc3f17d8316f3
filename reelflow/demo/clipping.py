"""Demo step: import the sample talk from the sandbox by URL, watch the pipeline run on the
media worker, then show the transcript, the highlights with scores and reasons, the clip
files, per-stage timings, usage, and what bad input gets back."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from reelflow.demo import Demo

# 720p renders keep the demo quick on small machines; the product default is tiktok_1080.
OPTIONS = {"min_len_s": 15, "max_len_s": 40, "top_n": 3, "preset": "tiktok_720", "keywords": ["retention"]}
STAGES = ("import", "probe", "extract_audio", "transcribe", "store_transcript", "detect", "render")


async def run(demo: Demo) -> None:
    demo.section("Clipping: long video → transcript → highlights → 9:16 clips")
    source = f"{demo.sandbox_url}/sandbox/media/sample-talk.mp4"
    created = await demo.client.post(
        "/api/v1/projects",
        json={"url": source, "title": "Sample talk", "options": OPTIONS},
        headers={"Idempotency-Key": f"demo-clipping-{int(time.time())}"},
    )
    created.raise_for_status()
    project = created.json()
    demo.say(f"POST /projects {{url: {source}}} → {created.status_code}, project {project['id']} ({project['status']})")

    started = time.monotonic()
    last_stage = None
    while True:
        project = (await demo.client.get(f"/api/v1/projects/{project['id']}")).json()
        if project["stage"] != last_stage:
            last_stage = project["stage"]
            demo.say(f"  {time.monotonic() - started:6.1f} s  {project['status']:<11} stage={last_stage}")
        if project["status"] in ("clips_ready", "failed"):
            break
        if time.monotonic() - started > 900:
            raise RuntimeError("the pipeline did not finish in 15 minutes")
        await asyncio.sleep(1.0)
    if project["status"] != "clips_ready":
        raise RuntimeError(f"the project failed: {project['failure_reason']}")

    src = project["source"]
    demo.say(
        f"source: {src['duration_s']:.1f} s, {src['width']}x{src['height']}, "
        f"{src['video_codec']}/{src['audio_codec']}, {src['size_bytes'] / 1e6:.1f} MB"
    )
    transcript = (await demo.client.get(f"/api/v1/projects/{project['id']}/transcript?format=json")).json()
    words = [w[0] for w in transcript["words"]]
    demo.say(f"transcript ({len(words)} words, {transcript['language']}): “{' '.join(words[:40])} …”")

    clips: list[dict[str, Any]] = (await demo.client.get(f"/api/v1/projects/{project['id']}/clips")).json()
    demo.say(f"highlights ({len(clips)}):")
    for clip in clips:
        demo.say(
            f"  #{clip['rank']} {clip['start_s']:6.2f}–{clip['end_s']:6.2f} s ({clip['duration_s']:.1f} s) "
            f"score {clip['score']:.2f}  reasons: {', '.join(clip['reasons'])}"
        )
        demo.say(f"      “{clip['text'][:110]}{'…' if len(clip['text']) > 110 else ''}”")
    demo.say("clip files:")
    async with httpx.AsyncClient(timeout=60) as links:  # presigned links: no bearer token
        files = [[await links.get(clip["links"][name]) for name in ("video", "thumbnail", "poster")] for clip in clips]
    for clip, (video, thumb, poster) in zip(clips, files, strict=True):
        path = urlsplit(clip["links"]["video"]).path.split("/blobs/", 1)[-1]  # API link or presigned S3 URL
        demo.say(
            f"  {path}  {len(video.content) / 1e6:.2f} MB {video.headers['content-type']}, "
            f"thumbnail {len(thumb.content) / 1e3:.0f} kB, poster {len(poster.content) / 1e3:.0f} kB, "
            f"rendered in {clip['render_s']:.1f} s"
        )

    timings = project["timings"]
    parts = [f"{stage} {timings[stage]:.2f} s" for stage in STAGES if stage in timings]
    demo.say("timings per stage: " + ", ".join(parts))
    if src["duration_s"] and "transcribe" in timings:
        demo.say(f"transcription real-time factor: {timings['transcribe'] / src['duration_s']:.3f}")
    demo.say(f"wall time from request to clips_ready: {time.monotonic() - started:.1f} s")

    edited = await demo.client.patch(
        f"/api/v1/clips/{clips[0]['id']}", json={"caption_style": clips[0]["caption_style"]}
    )
    demo.say(f"PATCH clip with the same inputs → {edited.status_code}, re-render: {edited.json()['rerender']}")

    usage = (await demo.client.get("/api/v1/usage")).json()
    m = usage["metrics"]
    demo.say(
        f"usage ({usage['plan']} plan, resets {usage['resets_at'][:10]}): "
        f"{m['source_minutes']['used']}/{m['source_minutes']['limit']} source minutes, "
        f"{m['clips']['used']}/{m['clips']['limit']} clips, {m['projects']['used']}/{m['projects']['limit']} projects"
    )
    bad = await demo.client.post("/api/v1/projects", json={"url": "http://169.254.169.254/latest/meta-data"})
    demo.say(f"private URL → {bad.status_code}: {bad.json()['detail']}")
