"""Clipping quality through the real pipeline (API, jobs, ffmpeg, whisper): a French talk
becomes French captions with the language stored on the project; a truncated upload is
refused at ingest and charges nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.clipping_support import fast_settings, project, upload_file
from tests.media_helpers import FRENCH_SPEECH, make_talk_video

__all__ = ["fast_settings"]


@pytest.fixture(scope="module")
def french_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fr-media")
    return make_talk_video(folder / "fr.mp4", seconds=17.5, size="320x180", fps=10, speech=FRENCH_SPEECH)


async def test_french_talk_becomes_french_captions(
    client: Any, signup: Any, run_jobs: Any, french_video: Path, fast_settings: Any
) -> None:
    account = await signup()
    sent = await upload_file(
        client, account.headers, french_video, options={"min_len_s": 5, "max_len_s": 17, "top_n": 1}
    )
    await run_jobs(["media"])
    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "clips_ready", body
    assert body["options"]["language"] == "auto"
    assert body["language"] == "fr" and body["language_probability"] >= 0.5
    srt = await client.get(f"/api/v1/projects/{sent['project_id']}/transcript?format=srt", headers=account.headers)
    text = srt.text.lower()
    assert sum(w in text for w in ("bonjour", "réponse", "vidéo", "question", "promesse", "merci")) >= 4, text
    assert " the " not in text and " you " not in text


async def test_bad_language_codes_are_refused(client: Any, signup: Any) -> None:
    account = await signup()
    bad = await client.post(
        "/api/v1/uploads",
        json={"filename": "a.mp4", "size_bytes": 1000, "content_type": "video/mp4", "options": {"language": "french!"}},
        headers=account.headers,
    )
    assert bad.status_code == 422, bad.text
    assert "options.language" in bad.text


@pytest.fixture(scope="module")
def truncated_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30 s MP4 with its index first (+faststart), cut at 60 % of its bytes: the header
    still declares 30 s, the data stops near 18 s (an interrupted copy)."""
    from tests.media_helpers import _ffmpeg

    folder = tmp_path_factory.mktemp("trunc")
    full = make_talk_video(folder / "full.mp4", seconds=30, size="320x180", fps=10)
    faststart = folder / "faststart.mp4"
    _ffmpeg("-i", str(full), "-c", "copy", "-movflags", "+faststart", str(faststart))
    data = faststart.read_bytes()
    out = folder / "truncated.mp4"
    out.write_bytes(data[: int(len(data) * 0.6)])
    return out


async def test_truncated_upload_fails_at_ingest_and_charges_nothing(
    client: Any, signup: Any, run_jobs: Any, truncated_video: Path, fast_settings: Any
) -> None:
    account = await signup()
    sent = await upload_file(client, account.headers, truncated_video)
    await run_jobs(["media"])
    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "failed", body
    assert "truncated" in body["failure_reason"] and "declares 30.0 s" in body["failure_reason"], body
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["metrics"]["source_minutes"]["used"] == 0, usage
    assert usage["metrics"]["clips"]["used"] == 0
