"""Memory of the media worker: idle, peak while a project is clipped, and after the whisper
model is released.

    python bench/media_memory.py [--idle-release-s 10] [--json PATH]

Starts embedded Postgres, Redis and S3, the API and one `reelflow worker --queues media`
process (its own data folder); measures the worker's RSS (children included) idle, every
0.2 s while it clips the bundled 97 s talk, and after `--idle-release-s` without work (the
model is loaded on first use and released after that idle time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos import Topology

SAMPLE = Path(__file__).resolve().parents[1] / "reelflow" / "sandbox" / "media" / "sample-talk.mp4"


def rss_mb(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total / 1e6
    except psutil.NoSuchProcess:
        return 0.0


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="rf-mem-"))
    topo = Topology(root)
    try:
        topo.start_engines()
        topo.env["REELFLOW_OPS__WHISPER_IDLE_RELEASE_S"] = str(args.idle_release_s)
        topo.start("web")
        topo.start("media")
        topo.wait_http(f"{topo.api}/readyz")
        media = topo.procs["media"].pid
        await asyncio.sleep(8)
        idle = rss_mb(media)
        async with httpx.AsyncClient(base_url=topo.api, timeout=60) as api:
            from reelflow.sandbox.mail import sign_up

            signed = await sign_up(api, topo.mail_sink, email="mem@example.com", workspace_name="Mem")
            headers = {"Authorization": f"Bearer {signed['token']['token']}"}
            data = SAMPLE.read_bytes()
            body = {"filename": SAMPLE.name, "size_bytes": len(data), "content_type": "video/mp4",
                    "options": {"top_n": 2}}  # fmt: skip
            created = (await api.post("/api/v1/uploads", json=body, headers=headers)).json()
            started = time.monotonic()
            await api.put(created["upload"]["upload_url"], content=data)
            peak = idle
            status = ""
            while time.monotonic() - started < 900:
                peak = max(peak, rss_mb(media))
                status = (await api.get(f"/api/v1/projects/{created['id']}", headers=headers)).json()["status"]
                if status in ("clips_ready", "failed"):
                    break
                await asyncio.sleep(0.2)
            elapsed = time.monotonic() - started
        await asyncio.sleep(3)
        after_job = rss_mb(media)
        await asyncio.sleep(args.idle_release_s + 35)
        released = rss_mb(media)
    finally:
        topo.stop_everything()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "idle_rss_mb": round(idle, 1),
        "peak_rss_mb": round(peak, 1),
        "after_job_rss_mb": round(after_job, 1),
        "after_release_rss_mb": round(released, 1),
        "idle_release_s": args.idle_release_s,
        "project_status": status,
        "project_s": round(elapsed, 1),
        "source_s": 96.8,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-release-s", type=float, default=10)
    parser.add_argument("--json", dest="json_path", default=None)
    args = parser.parse_args()
    report = asyncio.run(measure(args))
    for key, value in report.items():
        print(f"{key:>22}: {value}")
    if args.json_path:
        Path(args.json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_path).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
