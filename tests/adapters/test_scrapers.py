"""ScrapeCreators and Apify adapters against the live sandbox."""

from __future__ import annotations

import pytest

from reelflow.adapters.apify import ApifyClient, is_short_link
from reelflow.adapters.scrapecreators import ScrapeCreatorsClient
from reelflow.errors import NotFound, Permanent


async def test_keyword_search_pages_to_the_end_and_dedupes(sandbox) -> None:
    sc = ScrapeCreatorsClient()
    first = await sc.search_keyword("protein")
    assert 20 <= len(first.videos) <= 30 and first.has_more
    second = await sc.search_keyword("protein", cursor=first.cursor)
    assert {v.id for v in first.videos} & {v.id for v in second.videos}  # the documented repeats
    videos = [v async for v in sc.iter_keyword_search("protein")]
    ids = [v.id for v in videos]
    assert len(ids) == len(set(ids)) and len(ids) > 60
    requests = await sandbox.requests("/scrapecreators/v1/tiktok/search/keyword")
    assert requests[-1]["status"] == 200
    video = videos[0]
    assert "protein" in (video.caption or "").lower()
    assert video.author and video.author.handle == video.author_handle and video.author.followers
    bios = [v.author.bio for v in videos if v.author]
    assert None in bios and any(bios)  # "often empty in search": an empty signature maps to None
    assert video.duration_s and video.duration_s < 200  # ms converted to seconds
    assert video.stats and video.stats.views is not None and video.stats.saves is not None
    assert video.hashtags and video.url and video.url.endswith(video.id) and video.cover_url and video.created_at
    sent = requests[0]["query"]
    assert "date_posted=all-time" in sent and "sort_by=relevance" in sent


async def test_keyword_page_typed_decoding_matches_the_dict_mapping(sandbox) -> None:
    """A page decoded into typed structs gives what `map_aweme` gives entry by entry from the
    decoded dicts (the fallback for a page of another shape), and such a page is detected."""
    import msgspec

    from reelflow.adapters import scrapecreators as sc_module

    sc = ScrapeCreatorsClient()
    response = await sc._response("/v1/tiktok/search/keyword", {"query": "gym", "cursor": 0, "trim": "false"})
    typed = sc_module._search_page(response.content)
    assert typed is not None and typed.videos
    body = msgspec.json.decode(response.content)
    mapped = [sc_module.map_aweme(e["aweme_info"]) for e in body["search_item_list"] if e.get("aweme_info")]

    def plain(v):  # fetched_at is the decoding time
        return msgspec.structs.replace(v, stats=msgspec.structs.replace(v.stats, fetched_at=None))

    assert [plain(v) for v in typed.videos] == [plain(v) for v in mapped]
    assert (typed.cursor, typed.has_more, typed.items) == (int(body["cursor"]), bool(body["has_more"]), len(mapped))
    assert sc_module._search_page(b'{"search_item_list": {"not": "a list"}}') is None


async def test_keyword_search_max_items_and_date_filter(sandbox) -> None:
    sc = ScrapeCreatorsClient()
    assert len([v async for v in sc.iter_keyword_search("gym", max_items=25)]) == 25
    recent = [v async for v in sc.iter_keyword_search("gym", date_posted="this-week")]
    everything = [v async for v in sc.iter_keyword_search("gym")]
    assert 0 < len(recent) < len(everything)


async def test_profiles_and_instagram_related(sandbox) -> None:
    creator = (await sandbox.world("creators", limit=12))[11]
    sc = ScrapeCreatorsClient()
    tiktok = await sc.tiktok_profile("@" + creator["handle"])
    assert tiktok.handle == creator["handle"] and tiktok.followers == creator["followers"] and tiktok.bio
    insta = await sc.instagram_profile(creator["handle"])
    assert insta.creator.platform == "instagram" and insta.creator.followers
    assert len(insta.related) == 80 and all(r.followers is None for r in insta.related)
    assert creator["handle"] not in {r.handle for r in insta.related}
    brand = (await sandbox.world("creators", limit=1))[0]  # the largest accounts have none
    assert (await sc.instagram_profile(brand["handle"])).related == []
    with pytest.raises(NotFound):
        await sc.instagram_profile("no.such.profile")


async def test_bad_key_is_permanent(sandbox) -> None:
    sandbox.set_settings(platforms__scrapecreators_api_key="wrong")
    with pytest.raises(Permanent):
        await ScrapeCreatorsClient().search_keyword("gym")


async def test_apify_posts_by_url_with_short_links(sandbox) -> None:
    await sandbox.freeze()  # counters would grow between the two reads otherwise
    sample = await sandbox.world("videos", limit=3)
    canonical = f"https://www.tiktok.com/@{sample[0]['username']}/video/{sample[0]['id']}"
    short = f"https://www.tiktok.com/t/{sample[1]['short_code']}/"
    vm = f"https://vm.tiktok.com/{sample[2]['short_code']}/"
    gone = "https://www.tiktok.com/@x/video/123"
    assert is_short_link(short) and is_short_link(vm) and not is_short_link(canonical)
    apify = ApifyClient()
    assert (await apify.resolve_short_link(short)).endswith(f"/video/{sample[1]['id']}")
    posts = await apify.fetch_posts([canonical, short, vm, gone])
    assert set(posts) == {canonical, short, vm}
    assert [posts[u].id for u in (canonical, short, vm)] == [s["id"] for s in sample]
    video = posts[canonical]
    assert video.stats and video.stats.views == sample[0]["views"]
    assert video.author and video.author.handle == sample[0]["username"] and video.author.followers
    assert video.caption == sample[0]["description"] and video.hashtags == sample[0]["hashtags"]
    runs = await sandbox.requests("/apify/v2/acts/*/run-sync-get-dataset-items")
    assert len(runs) == 1 and len(runs[0]["body"]["postURLs"]) == 4
