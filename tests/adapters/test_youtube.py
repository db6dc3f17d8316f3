"""Google OAuth and YouTube resumable upload against the live sandbox."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reelflow.adapters.records import TokenSet
from reelflow.adapters.youtube import (
    CHUNK_UNIT,
    YOUTUBE_SCOPES,
    GoogleOAuth,
    UploadSessionExpired,
    VideoMetadata,
    YouTubeClient,
)
from reelflow.errors import AuthExpired, Permanent

REDIRECT = "https://app.example/oauth/google/callback"


async def connect(oauth: GoogleOAuth, state: str = "g-1") -> TokenSet:
    url = oauth.authorize_url(YOUTUBE_SCOPES, state=state)
    query = parse_qs(urlsplit(url).query)
    assert query["access_type"] == ["offline"] and "consent" in query["prompt"][0]
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code == 302
    back = parse_qs(urlsplit(response.headers["location"]).query)
    assert back["state"] == [state]
    return await oauth.exchange_code(back["code"][0])


async def test_oauth_offline_refresh_and_invalid_grant(sandbox) -> None:
    oauth = GoogleOAuth(REDIRECT)
    tokens = await connect(oauth)
    assert tokens.refresh_token and tokens.access_token.startswith("ya29.")
    assert set(tokens.scopes) == set(YOUTUBE_SCOPES) and not tokens.expires_within(3000)
    renewed = await oauth.refresh(tokens.refresh_token)
    assert renewed.refresh_token == tokens.refresh_token and renewed.access_token != tokens.access_token
    channel = await YouTubeClient(renewed.access_token).channel()
    assert channel.id and channel.id.startswith("UC") and channel.followers
    await oauth.revoke(tokens.refresh_token)
    with pytest.raises(AuthExpired) as info:
        await oauth.refresh(tokens.refresh_token)
    assert info.value.reauth_required
    with pytest.raises(AuthExpired):
        await YouTubeClient(renewed.access_token).channel()


async def test_resumable_upload_in_256k_chunks_then_stats(sandbox) -> None:
    tokens = await connect(GoogleOAuth(REDIRECT))
    yt = YouTubeClient(tokens.access_token)
    data = bytes(range(256)) * (5 * CHUNK_UNIT // 256) + b"tail" * 1000
    sessions: list[str] = []

    async def keep(uri: str) -> None:
        sessions.append(uri)

    meta = VideoMetadata(title="My short", description="#shorts", tags=["a"], privacy_status="public")
    video_id = await yt.upload_video(meta, data, len(data), on_session=keep, chunk_size=2 * CHUNK_UNIT)
    assert len(sessions) == 1 and "upload_id=" in sessions[0]
    chunks = await sandbox.events("youtube.upload.chunk")
    assert [c["data"]["first"] for c in chunks] == [0, 2 * CHUNK_UNIT, 4 * CHUNK_UNIT]
    assert len(await sandbox.events("youtube.video.created")) == 1
    # probing a finished session repeats the answer
    assert (await yt.probe(sessions[0], len(data))).video_id == video_id
    status = await yt.video_status(video_id)
    assert status.state == "processing" and status.post_id == video_id
    await sandbox.advance(600)  # processing done (the access token lives 1 h)
    status = await yt.video_status(video_id)
    assert status.state == "published" and status.url and video_id in status.url
    stats = await yt.fetch_stats([video_id, "unknownid01"])
    assert len(stats) == 1 and stats[0].video_id == video_id and stats[0].views is not None


async def test_upload_resumes_after_a_lost_chunk_answer(sandbox) -> None:
    sandbox.set_settings(http__backoff_initial_seconds=0.01)
    tokens = await connect(GoogleOAuth(REDIRECT))
    yt = YouTubeClient(tokens.access_token)
    data = b"x" * (3 * CHUNK_UNIT + 10)
    session = await yt.start_upload(VideoMetadata(title="resume"), len(data))
    # the second chunk is stored but its answer is a 503: the client re-sends, YouTube says where it is
    await sandbox.fault("/youtube/upload/youtube/v3/videos", method="PUT", kind="after_accept", status=503, skip=2)
    video_id = await yt.upload(session, data, len(data), chunk_size=CHUNK_UNIT)
    assert video_id
    firsts = [c["data"]["first"] for c in await sandbox.events("youtube.upload.chunk")]
    assert firsts == [0, CHUNK_UNIT, 2 * CHUNK_UNIT, 3 * CHUNK_UNIT]  # each byte stored once


async def test_expired_session_is_its_own_error_and_upload_video_restarts(sandbox) -> None:
    tokens = await connect(GoogleOAuth(REDIRECT))
    yt = YouTubeClient(tokens.access_token)
    data = b"y" * (CHUNK_UNIT + 5)
    session = await yt.start_upload(VideoMetadata(title="old"), len(data))
    await sandbox.advance(2 * 86_400)
    with pytest.raises(UploadSessionExpired):
        await yt.upload(session, data, len(data), chunk_size=CHUNK_UNIT)
    yt = YouTubeClient((await connect(GoogleOAuth(REDIRECT), state="g-2")).access_token)  # 2 days on: new token
    await sandbox.fault("/youtube/upload/youtube/v3/videos", method="PUT", status=404, times=1)
    sessions: list[str] = []

    async def keep(uri: str) -> None:
        sessions.append(uri)

    assert await yt.upload_video(VideoMetadata(title="again"), data, len(data), on_session=keep)
    assert len(sessions) == 2


async def test_invalid_metadata_is_permanent(sandbox) -> None:
    tokens = await connect(GoogleOAuth(REDIRECT))
    with pytest.raises(Permanent) as info:
        await YouTubeClient(tokens.access_token).start_upload(VideoMetadata(title="a <b>"), 10)
    assert info.value.extra["vendor_code"] == "invalidTitle"
