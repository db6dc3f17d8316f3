"""Login Kit OAuth, Display API and Content Posting against the live sandbox."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from reelflow.adapters.tiktok.display import DisplayClient
from reelflow.adapters.tiktok.oauth import TikTokOAuth, TokenSet, pkce_pair
from reelflow.adapters.tiktok.posting import MB, PostInfo, PostingClient, chunk_plan
from reelflow.errors import AuthExpired, InvalidInput, Permanent

REDIRECT = "https://app.example/oauth/tiktok/callback/"
SCOPES = ["user.info.basic", "user.info.profile", "user.info.stats", "video.list", "video.publish"]


async def connect(user: str | None = None, scopes: list[str] = SCOPES) -> TokenSet:
    """The browser part of the flow: open the authorize URL, read the code off the redirect."""
    oauth = TikTokOAuth(REDIRECT)
    verifier, challenge = pkce_pair()
    url = oauth.authorize_url(scopes, state="st-123", code_challenge=challenge)
    if user:
        url += f"&sandbox_user={user}"
    async with httpx.AsyncClient() as browser:
        response = await browser.get(url)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query["state"] == ["st-123"]
    return await oauth.exchange_code(query["code"][0], code_verifier=verifier)


async def test_authorize_url_has_the_documented_parameters(sandbox) -> None:
    url = TikTokOAuth(REDIRECT).authorize_url(["user.info.basic", "video.publish"], state="s1", code_challenge="c")
    parts = urlsplit(url)
    assert parts.path.endswith("/v2/auth/authorize/")
    query = parse_qs(parts.query)
    assert query["scope"] == ["user.info.basic,video.publish"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [REDIRECT] and query["state"] == ["s1"]
    assert query["code_challenge_method"] == ["S256"]


async def test_code_exchange_refresh_rotation_and_revoke(sandbox) -> None:
    tokens = await connect()
    assert tokens.access_token.startswith("act.") and tokens.refresh_token and tokens.open_id
    assert set(tokens.scopes) == set(SCOPES) and not tokens.expires_within(23 * 3600)
    oauth = TikTokOAuth(REDIRECT)
    renewed = await oauth.refresh(tokens.refresh_token or "")
    assert renewed.refresh_token != tokens.refresh_token  # rotated
    with pytest.raises(AuthExpired) as info:  # the old refresh token is dead now
        await oauth.refresh(tokens.refresh_token or "")
    assert info.value.reauth_required
    me = await DisplayClient(renewed.access_token).user_info()
    assert me.id == tokens.open_id
    await oauth.revoke(renewed.access_token)
    with pytest.raises(AuthExpired):
        await DisplayClient(renewed.access_token).user_info()


async def test_code_is_single_use_and_pkce_checked(sandbox) -> None:
    oauth = TikTokOAuth(REDIRECT)
    verifier, challenge = pkce_pair()
    async with httpx.AsyncClient() as browser:
        response = await browser.get(oauth.authorize_url(["user.info.basic"], state="x", code_challenge=challenge))
    code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    with pytest.raises(AuthExpired):
        await oauth.exchange_code(code, code_verifier="wrong-verifier")
    await oauth.exchange_code(code, code_verifier=verifier)
    with pytest.raises(AuthExpired):
        await oauth.exchange_code(code, code_verifier=verifier)


async def test_display_user_info_videos_and_query(sandbox) -> None:
    creator = (await sandbox.world("creators", limit=10))[9]
    tokens = await connect(creator["handle"])
    display = DisplayClient(tokens.access_token)
    me = await display.user_info()
    assert me.handle == creator["handle"] and me.followers == creator["followers"]
    assert me.display_name and me.avatar_url and me.bio is not None and me.verified is not None
    videos = [v async for v in display.iter_videos()]
    assert len(videos) == me.video_count
    assert [v.created_at for v in videos] == sorted((v.created_at for v in videos), reverse=True)
    first = videos[0]
    assert first.url and first.caption and first.duration_s and first.cover_url and first.stats
    assert first.stats.views is not None and first.stats.likes is not None
    queried = await display.query_videos([v.id for v in videos] + ["123"])
    assert {v.id for v in queried} == {v.id for v in videos}
    pages = await sandbox.requests("/tiktok/v2/video/query/")
    assert all(len(r["body"]["filters"]["video_ids"]) <= 20 for r in pages)


async def test_missing_scope_needs_reauthorization(sandbox) -> None:
    tokens = await connect(scopes=["user.info.basic"])
    with pytest.raises(AuthExpired) as info:
        await DisplayClient(tokens.access_token).user_info()
    assert info.value.reauth_required


def test_chunk_plan_follows_the_media_transfer_rules() -> None:
    assert chunk_plan(3 * MB).total_chunk_count == 1
    assert chunk_plan(60 * MB).chunk_size == 60 * MB
    plan = chunk_plan(50_000_123 + 64 * MB, chunk_size=10_000_000)
    assert plan.total_chunk_count == (50_000_123 + 64 * MB) // 10_000_000
    last_first, last_last = plan.ranges()[-1]
    assert last_last == plan.video_size - 1 and last_last - last_first + 1 >= 10_000_000
    with pytest.raises(InvalidInput):
        chunk_plan(100 * MB, chunk_size=1 * MB)


async def test_direct_post_file_upload_to_publish_complete(sandbox) -> None:
    tokens = await connect()
    posting = PostingClient(tokens.access_token)
    info = await posting.creator_info()
    assert "SELF_ONLY" in info.privacy_level_options and info.max_video_post_duration_sec > 0
    video = bytes(range(256)) * (70 * MB // 256 + 123)  # over 64 MB: chunked
    plan = chunk_plan(len(video), chunk_size=16 * MB)
    init = await posting.init_file_upload(PostInfo(title="Hello #sandbox", privacy_level="PUBLIC_TO_EVERYONE"), plan)
    assert init.publish_id.startswith("v_pub_file~") and init.upload_url
    status = await posting.fetch_status(init.publish_id)
    assert status.state == "processing" and status.raw_status == "PROCESSING_UPLOAD" and status.uploaded_bytes == 0
    assert await posting.upload(init.upload_url, video, plan) == len(video)
    chunks = await sandbox.events("tiktok.upload.chunk")
    assert [c["data"]["first"] for c in chunks] == [r[0] for r in plan.ranges()]
    assert hashlib.sha256(video[: 16 * MB]).hexdigest() == chunks[0]["data"]["sha256"]
    await sandbox.advance(30)
    status = await posting.fetch_status(init.publish_id, handle=info.username)
    assert status.state == "published" and status.post_id and status.url and info.username in status.url
    assert len(await sandbox.events("tiktok.publish.init")) == 1
    assert len(await sandbox.events("tiktok.publish.complete")) == 1
    listed = [v.id async for v in DisplayClient(tokens.access_token).iter_videos()]
    assert status.post_id in listed


async def test_pull_from_url_and_failure_reasons(sandbox) -> None:
    sandbox.set_settings(quotas__tiktok_post_init_per_minute=600)  # the documented 6/min would take 20 s here
    tokens = await connect()
    posting = PostingClient(tokens.access_token)
    good = f"{sandbox.url}/sandbox/media/tiny-vertical.mp4"
    init = await posting.init_pull_from_url(PostInfo(title="pulled", privacy_level="SELF_ONLY"), good)
    assert init.upload_url is None
    assert (await posting.fetch_status(init.publish_id)).raw_status == "PROCESSING_DOWNLOAD"
    failing = await posting.init_pull_from_url(PostInfo(title="x [fail:internal]", privacy_level="SELF_ONLY"), good)
    await sandbox.advance(60)
    done = await posting.fetch_status(init.publish_id)
    assert done.state == "published" and done.post_id is None  # SELF_ONLY: no public id
    failed = await posting.fetch_status(failing.publish_id)
    assert failed.state == "failed" and failed.fail_reason == "internal" and failed.retryable
    with pytest.raises(Permanent) as info:
        await posting.init_pull_from_url(
            PostInfo(title="x", privacy_level="SELF_ONLY"), "https://elsewhere.example/v.mp4"
        )
    assert info.value.extra["vendor_code"] == "url_ownership_unverified"


async def test_inbox_upload_ends_in_the_creators_inbox(sandbox) -> None:
    tokens = await connect(scopes=["user.info.basic", "video.upload"])
    posting = PostingClient(tokens.access_token)
    video = b"\x00" * 2_000_000
    plan = chunk_plan(len(video))
    init = await posting.init_inbox_upload(plan)
    assert init.publish_id.startswith("v_inbox_file~") and init.upload_url
    await posting.upload(init.upload_url, video, plan)
    await sandbox.advance(30)
    status = await posting.fetch_status(init.publish_id)
    assert status.state == "inbox" and status.raw_status == "SEND_TO_USER_INBOX" and status.post_id is None
    assert len(await sandbox.events("tiktok.publish.inbox_delivered")) == 1
    with pytest.raises(AuthExpired) as info:  # Direct Post needs video.publish
        await posting.init_file_upload(PostInfo(title="x", privacy_level="SELF_ONLY"), plan)
    assert info.value.reauth_required
