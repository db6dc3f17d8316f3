"""URL imports during a platform outage are retried until a deadline; usage counts only work
that completed (failed imports, rejected and expired uploads give their usage back)."""

from __future__ import annotations

import functools
import http.server
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from reelflow.queue import InlineContext
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Upload
from reelflow.tasks.clipping import expire_uploads
from tests.clipping_support import FAST_SETTINGS, Media, fast_settings, media, project

__all__ = ["fast_settings", "media"]


@dataclass
class Platform:
    """A loopback video host that is down (503) for its first `down_for` requests."""

    url: str
    down_for: int = 0
    statuses: list[int] = field(default_factory=list)


class _Handler(http.server.SimpleHTTPRequestHandler):
    platform: Platform

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.platform.down_for != 0:
            self.platform.down_for -= 1
            self.platform.statuses.append(503)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.platform.statuses.append(200)
        super().do_GET()


@pytest.fixture
def platform(media: Media, monkeypatch: pytest.MonkeyPatch, fast_settings: Any) -> Iterator[Platform]:
    from reelflow.settings import reset_settings_cache

    found = Platform("")
    handler = type("Handler", (_Handler,), {"platform": found, "extensions_map": {".mp4": "video/mp4"}})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(Path(media.talk).parent))
    )
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("REELFLOW_CLIPPING__URL_ALLOW_ORIGINS", found.url)
    reset_settings_cache()
    yield found
    server.shutdown()
    monkeypatch.undo()
    reset_settings_cache()


CLIPPING_METRICS = ("projects", "source_minutes", "clips")  # (discovery's metrics are not refunded here)


async def _usage(client: Any, headers: dict[str, str]) -> dict[str, int]:
    body = (await client.get("/api/v1/usage", headers=headers)).json()
    return {name: metric["used"] for name, metric in body["metrics"].items() if name in CLIPPING_METRICS}


@pytest.fixture
def deadline(monkeypatch: pytest.MonkeyPatch, fast_settings: Any) -> Any:
    from reelflow.settings import reset_settings_cache

    def set_deadline(seconds: float) -> None:
        monkeypatch.setenv("REELFLOW_OPS__IMPORT_DEADLINE_S", str(seconds))
        reset_settings_cache()

    yield set_deadline
    monkeypatch.undo()
    reset_settings_cache()


@pytest.mark.slow
async def test_import_rides_out_a_short_outage(
    client: Any, signup: Any, platform: Platform, run_jobs: Any, deadline: Any
) -> None:
    deadline(120)
    account = await signup()
    platform.down_for = 2  # the platform is down for two tries
    created = await client.post(
        "/api/v1/projects",
        json={"url": f"{platform.url}/talk.mp4", "options": {"min_len_s": 5, "max_len_s": 12, "top_n": 1}},
        headers=account.headers,
    )
    assert created.status_code == 202, created.text
    await run_jobs(["media"], horizon=30, timeout=300)
    body = await project(client, account.headers, created.json()["id"])
    assert body["status"] == "clips_ready", body
    assert platform.statuses == [503, 503, 200]
    assert (await _usage(client, account.headers))["projects"] == 1


async def test_import_past_its_deadline_fails_and_is_refunded(
    client: Any, signup: Any, platform: Platform, run_jobs: Any, deadline: Any
) -> None:
    deadline(3)
    account = await signup()
    platform.down_for = -1  # down for good
    created = await client.post("/api/v1/projects", json={"url": f"{platform.url}/talk.mp4"}, headers=account.headers)
    assert created.status_code == 202
    assert (await _usage(client, account.headers))["projects"] == 1  # charged while it may happen
    await run_jobs(["media"], horizon=30, timeout=120)
    body = await project(client, account.headers, created.json()["id"])
    assert body["status"] == "failed" and "gave up after" in body["failure_reason"], body
    assert len(platform.statuses) >= 2  # retried, not failed at the first 503
    assert (await _usage(client, account.headers)) == {"projects": 0, "source_minutes": 0, "clips": 0}


async def test_rejected_and_expired_uploads_leave_no_charged_project(client: Any, signup: Any, media: Media) -> None:
    account = await signup()
    text = media.text.read_bytes()
    rejected = await client.post(
        "/api/v1/uploads",
        json={"filename": "a.mp4", "size_bytes": len(text), "content_type": "video/mp4"},
        headers=account.headers,
    )
    refused = await client.put(rejected.json()["upload"]["upload_url"], content=text)
    assert refused.status_code == 415
    assert (await project(client, account.headers, rejected.json()["id"]))["status"] == "failed"
    assert (await _usage(client, account.headers))["projects"] == 0

    data = media.talk.read_bytes()
    abandoned = await client.post(
        "/api/v1/uploads",
        json={"filename": "b.mp4", "size_bytes": len(data), "content_type": "video/mp4"},
        headers=account.headers,
    )
    url = abandoned.json()["upload"]["upload_url"]
    half = await client.put(url, content=data[:4096], headers={"Content-Range": f"bytes 0-4095/{len(data)}"})
    assert half.status_code == 200
    assert (await _usage(client, account.headers))["projects"] == 1
    assert (await expire_uploads(InlineContext()))["expired"] == 0  # not expired yet
    async with session_scope() as session:
        await session.execute(
            update(Upload)
            .where(Upload.project_id == uuid.UUID(abandoned.json()["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await expire_uploads(InlineContext()))["expired"] == 1
    body = await project(client, account.headers, abandoned.json()["id"])
    assert body["status"] == "failed" and "expired" in body["failure_reason"]
    assert (await _usage(client, account.headers))["projects"] == 0
    assert (await client.head(url)).headers.get("upload-offset") in ("0", None)
    assert (await expire_uploads(InlineContext()))["expired"] == 0  # once


_ = FAST_SETTINGS
