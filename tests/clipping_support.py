"""Shared helpers for the clipping product tests: small media made at test time, a loopback
file server (an allowed import origin), and API shortcuts. Import the fixtures you use."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.media_helpers import (
    _ffmpeg,
    make_silent_video,
    make_talk_video,
    make_video_without_audio,
)

# Small, fast pipeline settings for tests (also passed to real worker processes).
FAST_SETTINGS = {
    "REELFLOW_CLIPPING__DEFAULT_PRESET": "preview_540",
    "REELFLOW_MEDIA__X264_PRESET": "ultrafast",
    "REELFLOW_MEDIA__WHISPER_BEAM_SIZE": "1",
}
OPTIONS = {"min_len_s": 5, "max_len_s": 12, "top_n": 2}


@dataclass
class Media:
    talk: Path  # 30 s of speech over a test pattern, 320x180
    long_talk: Path  # 70 s (2 source minutes), 64x64 at 1 fps: cheap, for minute limits
    too_long: Path  # 31 min (over the free plan's 30 min per source), 32x32 at 1 fps
    silent: Path
    no_audio: Path
    corrupt: Path  # a real MP4 header, then garbage: passes the sniff, fails the probe
    text: Path


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("clip-media")
    talk = make_talk_video(folder / "talk.mp4", seconds=30, size="320x180", fps=10)
    long_talk = make_talk_video(folder / "long.mp4", seconds=70, size="64x64", fps=1, loop=True)
    too_long = folder / "too-long.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "color=c=black:size=32x32:rate=1",
        "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
        "-t", "1860", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "16k", "-shortest", str(too_long),
    )  # fmt: skip
    silent = make_silent_video(folder / "silent.mp4", seconds=6, size="160x90")
    no_audio = make_video_without_audio(folder / "no-audio.mp4", seconds=3, size="160x90")
    data = talk.read_bytes()
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(data[:32] + bytes((b * 7 + 13) % 256 for b in data[32:20000]))
    text = folder / "notes.txt"
    text.write_text("These are meeting notes, not a video.\n" * 20)
    return Media(talk, long_talk, too_long, silent, no_audio, corrupt, text)


@pytest.fixture
def fast_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    from reelflow.settings import reset_settings_cache

    for key, value in FAST_SETTINGS.items():
        monkeypatch.setenv(key, value)
    reset_settings_cache()
    yield FAST_SETTINGS
    monkeypatch.undo()
    reset_settings_cache()


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {".mp4": "video/mp4", ".txt": "text/plain", ".bin": "video/mp4", "": "application/octet-stream"}

    def log_message(self, *args: Any) -> None:
        pass

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client stopped reading (a size limit test)

    def do_GET(self) -> None:
        if self.path.startswith("/redirect-private"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:7/secret.mp4")
            self.end_headers()
            return
        if self.path.startswith("/fake/"):  # any file served as video/mp4
            name = self.path.removeprefix("/fake/")
            body = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


@dataclass
class FileServer:
    url: str
    folder: Path


@pytest.fixture(scope="session")
def file_server(media: Media) -> Iterator[FileServer]:
    """A loopback HTTP server over the test media (the tests allow its origin explicitly)."""
    handler = functools.partial(_Handler, directory=str(media.talk.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield FileServer(f"http://127.0.0.1:{server.server_address[1]}", media.talk.parent)
    server.shutdown()


@pytest.fixture
def allow_file_server(monkeypatch: pytest.MonkeyPatch, file_server: FileServer, fast_settings: Any) -> FileServer:
    from reelflow.settings import reset_settings_cache

    monkeypatch.setenv("REELFLOW_CLIPPING__URL_ALLOW_ORIGINS", file_server.url)
    reset_settings_cache()
    return file_server


async def upload_file(
    client: Any, headers: dict[str, str], path: Path, *, chunk: int | None = None, **extra: Any
) -> Any:
    """Create an upload and PUT the file (whole, or in chunks); returns the last response's JSON."""
    body = {"filename": path.name, "size_bytes": path.stat().st_size, "content_type": "video/mp4", **extra}
    body.setdefault("options", OPTIONS)
    created = await client.post("/api/v1/uploads", json=body, headers=headers)
    assert created.status_code == 201, created.text
    upload = created.json()["upload"]
    data = path.read_bytes()
    size = chunk or len(data)
    response = None
    for start in range(0, len(data), size):
        part = data[start : start + size]
        end = start + len(part) - 1
        response = await client.put(
            upload["upload_url"], content=part, headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        )
        assert response.status_code == 200, response.text
    assert response is not None
    return {"project_id": created.json()["id"], "upload": upload, "last": response.json()}


async def project(client: Any, headers: dict[str, str], project_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/projects/{project_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_until(predicate: Any, timeout: float = 60.0, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
