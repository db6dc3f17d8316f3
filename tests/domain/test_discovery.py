"""Discovery rules without I/O: keywords, handles, targets, campaign moves, progress, bio
contacts, engagement, CSV cell escaping, signed image links and the host allow-list."""

from __future__ import annotations

import pytest

from reelflow.domain import discovery as d
from reelflow.errors import Conflict, Forbidden, InvalidInput


def test_keywords_trimmed_deduplicated_case_insensitively() -> None:
    assert d.normalise_keywords(["  Gym ", "gym", "GYM", "protein   shake", "Protein Shake"]) == [
        "Gym",
        "protein shake",
    ]
    assert d.normalise_keywords([f"k{i}" for i in range(10)] + ["K0"]) == [f"k{i}" for i in range(10)]
    for bad, field in ([], "keywords"), ([""], "keywords[0]"), (["x" * 101], "keywords[0]"), ([1], "keywords[0]"):
        with pytest.raises(InvalidInput) as err:
            d.normalise_keywords(bad)
        assert err.value.field == field
    with pytest.raises(InvalidInput):
        d.normalise_keywords([f"k{i}" for i in range(11)])
    assert d.normalise_keywords(["x" * 100]) == ["x" * 100]


def test_handles_and_targets() -> None:
    assert d.normalise_handle("@Nike") == "nike"
    assert d.normalise_handle("https://www.instagram.com/some.one_/?hl=en") == "some.one_"
    for bad in ("", "a..b", ".ab", "ab.", "with space", "x" * 31, "emoji🙂"):
        with pytest.raises(InvalidInput):
            d.normalise_handle(bad)
    for target in (100, 500, 1000):
        assert d.check_target(target) == target
    for target in (0, 99, 250, 1001):
        with pytest.raises(InvalidInput):
            d.check_target(target)


def test_search_spec_matches_campaign_type() -> None:
    spec = d.validate_search(campaign_type="keyword", platform="tiktok", target=100, keywords=["a"])
    assert spec.kind == "keyword" and spec.keywords == ["a"] and spec.handle is None
    spec = d.validate_search(campaign_type="similar", platform="instagram", target=500, handle="@x.y")
    assert spec.kind == "similar" and spec.handle == "x.y"
    with pytest.raises(InvalidInput) as err:
        d.validate_search(campaign_type="keyword", platform="youtube", target=100, keywords=["a"])
    assert err.value.field == "platform" and "youtube" in err.value.detail
    with pytest.raises(InvalidInput):
        d.validate_search(campaign_type="similar", platform="tiktok", target=100, keywords=["a"])


def test_campaign_moves() -> None:
    assert d.check_campaign_move("active", "completed") == "completed"
    assert d.check_campaign_move("draft", "archived") == "archived"
    assert d.check_campaign_move("archived", "active") == "active"
    with pytest.raises(Conflict):
        d.check_campaign_move("draft", "completed")
    with pytest.raises(InvalidInput):
        d.check_campaign_move("draft", "paused")


def test_progress() -> None:
    assert d.progress(0, 100, "pending") == 0
    assert d.progress(50, 100, "processing") == 50
    assert d.progress(150, 100, "processing") == 99  # 100 only once it has ended
    assert d.progress(3, 100, "timeout") == 100


def test_bio_contacts() -> None:
    bio = "Fitness · collabs: Mia.Fit@Example.com · linktr.ee/mia12 · https://mia.shop/x). mia.fit@example.com"
    assert d.extract_emails(bio) == ["mia.fit@example.com"]
    assert d.extract_links(bio) == ["https://linktr.ee/mia12", "https://mia.shop/x"]
    assert d.extract_emails(None) == [] and d.extract_links("") == []


def test_video_summary_and_merge() -> None:
    videos = [
        {"id": "1", "views": 1000, "likes": 80, "comments": 10, "shares": 10},
        {"id": "2", "views": 3000, "likes": 100, "comments": 0, "shares": 0},
        {"id": "3", "views": None},
    ]
    avg, rate = d.video_summary(videos)
    assert avg == 2000 and rate == pytest.approx(200 / 4000)
    assert d.video_summary([{"id": "x"}]) == (None, None)
    merged = d.merge_videos(videos[:1], [videos[1], videos[0]], cap=5)
    assert [v["id"] for v in merged] == ["2", "1"]
    assert len(d.merge_videos([], [{"id": str(i), "views": i} for i in range(10)], cap=3)) == 3


def test_csv_cells_are_formula_safe() -> None:
    assert d.csv_cell('=HYPERLINK("http://x")') == '\'=HYPERLINK("http://x")'
    assert d.csv_cell("+1 555") == "'+1 555"
    assert d.csv_cell("-2+3") == "'-2+3"
    assert d.csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert d.csv_cell("\t=1") == "'\t=1"
    assert d.csv_cell("plain é 🙂") == "plain é 🙂"
    assert d.csv_cell(-5) == "-5" and d.csv_cell(0.25) == "0.25" and d.csv_cell(None) == ""
    assert d.csv_cell(["a", "=b"]) == "a; =b"  # the joined cell does not start with a formula sign
    assert d.csv_cell(["=a"]) == "'=a"
    assert d.csv_cell(True) == "true"


def test_signed_image_links() -> None:
    url = "https://p16-sign-va.tiktokcdn.com/avatar/x.heic?x-expires=1&sig=abc"
    token = d.sign_image_url(b"secret", url)
    assert d.verify_image_token(b"secret", token) == url
    with pytest.raises(Forbidden):
        d.verify_image_token(b"other", token)
    encoded, _, mac = token.rpartition(".")
    other = d.sign_image_url(b"secret", "https://evil.example/x.jpg").split(".")[0]
    with pytest.raises(Forbidden):
        d.verify_image_token(b"secret", f"{other}.{mac}")
    for junk in ("", "abc", "!!!.0123456789abcdef0123456789abcdef", encoded, f"{encoded}.{'é' * 32}"):
        with pytest.raises(Forbidden):
            d.verify_image_token(b"secret", junk)


def test_host_allow_list() -> None:
    patterns = d.parse_host_patterns(" *.tiktokcdn.com, cdn.example.org ,")
    assert patterns == ("*.tiktokcdn.com", "cdn.example.org")
    assert d.host_allowed("p16-sign.tiktokcdn.com", patterns)
    assert d.host_allowed("TIKTOKCDN.com", patterns)
    assert d.host_allowed("cdn.example.org", patterns)
    assert not d.host_allowed("eviltiktokcdn.com", patterns)
    assert not d.host_allowed("tiktokcdn.com.evil.net", patterns)
    assert not d.host_allowed("x.cdn.example.org", patterns)
