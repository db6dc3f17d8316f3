"""Pure rules of the clipping product: plans and periods, URL safety, ranges, tokens,
render hashes and caption edits."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from reelflow.domain import clip_jobs, ingest, plans
from reelflow.domain.clipping import Word
from reelflow.errors import Forbidden, InvalidInput, LimitExceeded


def test_periods_are_calendar_months_in_utc() -> None:
    assert plans.period_start(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == date(2026, 11, 1)
    assert plans.period_end(date(2026, 11, 1)) == datetime(2026, 12, 1, tzinfo=UTC)
    assert plans.period_end(date(2026, 12, 1)) == datetime(2027, 1, 1, tzinfo=UTC)


def test_source_minutes_are_started_minutes() -> None:
    assert plans.source_minutes(0.5) == 1
    assert plans.source_minutes(60.0) == 1
    assert plans.source_minutes(60.1) == 2


def test_limits_name_the_limit_and_the_reset() -> None:
    free = plans.get_plan("free")
    with pytest.raises(LimitExceeded) as info:
        plans.check_source_length(free, free.max_source_minutes * 60 + 1)
    assert info.value.limit == "max_source_minutes"
    error = plans.limit_exceeded(free, plans.CLIPS, wanted=5, used=28, start=date(2026, 11, 1))
    assert error.limit == "clips" and error.resets_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert "2 left, 5 needed" in error.detail
    with pytest.raises(InvalidInput):
        plans.get_plan("enterprise")
    assert plans.PLANS["pro"].clips_per_month > plans.PLANS["starter"].clips_per_month > free.clips_per_month


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.0.0.8", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.251", "multicast"),
        ("0.0.0.0", "private"),
        ("100.64.0.1", "not globally routable"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("240.0.0.1", "private"),
    ],
)
def test_non_public_addresses_are_blocked(address: str, reason: str) -> None:
    assert ingest.blocked_address_reason(address) == reason


def test_public_addresses_pass_and_one_bad_record_blocks_the_host() -> None:
    assert ingest.blocked_address_reason("93.184.216.34") is None
    assert ingest.blocked_address_reason("2606:2800:220:1:248:1893:25c8:1946") is None
    source = ingest.parse_source_url("https://cdn.example.com/v.mp4")
    ingest.check_addresses(source, ["93.184.216.34"], frozenset())
    with pytest.raises(InvalidInput, match="private"):
        ingest.check_addresses(source, ["93.184.216.34", "10.0.0.1"], frozenset())


def test_sandbox_origin_is_allowed_only_outside_production() -> None:
    dev = ingest.allowed_import_origins(production=False, sandbox_url="http://127.0.0.1:8765", extra=None)
    assert dev == frozenset({"http://127.0.0.1:8765"})
    assert ingest.allowed_import_origins(production=True, sandbox_url="http://127.0.0.1:8765", extra="http://x") == (
        frozenset()
    )
    sandbox = ingest.parse_source_url("http://127.0.0.1:8765/sandbox/media/a.mp4")
    ingest.check_addresses(sandbox, ["127.0.0.1"], dev)
    other_port = ingest.parse_source_url("http://127.0.0.1:8766/a.mp4")
    with pytest.raises(InvalidInput, match="loopback"):
        ingest.check_addresses(other_port, ["127.0.0.1"], dev)


def test_content_ranges() -> None:
    assert ingest.parse_content_range("bytes 0-99/1000", body_length=100, total=1000) == ingest.ByteRange(0, 99, 1000)
    assert ingest.parse_content_range(None, body_length=1000, total=1000) == ingest.ByteRange(0, 999, 1000)
    for header, length in [
        ("bytes 0-99/999", 100),
        ("bytes 10-5/1000", None),
        ("bytes 990-1000/1000", None),
        ("items 0-1/2", None),
        ("bytes 0-99/1000", 50),
    ]:
        with pytest.raises(InvalidInput):
            ingest.parse_content_range(header, body_length=length, total=1000)


def test_tokens_bind_purpose_subject_and_expiry() -> None:
    secret = b"s3cret"
    token, expires = ingest.make_token(secret, "upload", "abc", 60, now=1000.0)
    assert expires == 1060
    ingest.verify_token(secret, "upload", "abc", token, now=1059.0)
    with pytest.raises(Forbidden, match="expired"):
        ingest.verify_token(secret, "upload", "abc", token, now=1061.0)
    for purpose, subject, key in [("blob", "abc", secret), ("upload", "abd", secret), ("upload", "abc", b"other")]:
        with pytest.raises(Forbidden, match="signature"):
            ingest.verify_token(key, purpose, subject, token, now=1000.0)
    with pytest.raises(Forbidden):
        ingest.verify_token(secret, "upload", "abc", None)


def test_video_sniffing() -> None:
    assert ingest.looks_like_video(b"\x00\x00\x00\x20ftypisom" + b"\x00" * 200)
    assert ingest.looks_like_video(b"\x1a\x45\xdf\xa3" + b"\x00" * 200)
    assert not ingest.looks_like_video(b"<!doctype html><html>" + b" " * 200)
    assert not ingest.looks_like_video(b"OggS" + b"\x00" * 200)


def test_render_hash_changes_with_every_input() -> None:
    base = {
        "source_key": "projects/p/source.mp4",
        "transcript_key": "projects/p/transcript/transcript.json",
        "start_s": 1.0,
        "end_s": 11.0,
        "preset": "tiktok_1080",
        "caption_style": "bold",
        "caption_text": None,
    }
    digest = clip_jobs.render_hash(**base)  # type: ignore[arg-type]
    assert digest == clip_jobs.render_hash(**base)  # type: ignore[arg-type]
    for field, value in [("start_s", 1.5), ("end_s", 10.0), ("preset", "preview_540"), ("caption_style", "boxed"),
                         ("caption_text", "Hi")]:  # fmt: skip
        assert clip_jobs.render_hash(**{**base, field: value}) != digest  # type: ignore[arg-type]
    keys = clip_jobs.clip_keys(__import__("uuid").UUID(int=1), __import__("uuid").UUID(int=2), digest)
    assert keys["video"].endswith(f"/{digest[:16]}.mp4") and keys["video"].startswith("projects/")
    assert keys["poster"].endswith(f"/{digest[:16]}-poster.jpg")


def test_poster_title_is_the_opening_sentence_shortened_on_a_word() -> None:
    assert clip_jobs.poster_title("Why do creators quit?  Because of   this.") == "Why do creators quit?"
    assert clip_jobs.poster_title("no punctuation at all") == "no punctuation at all"
    long = clip_jobs.poster_title("word " * 40, max_chars=30)
    assert long.endswith("…") and len(long) <= 30 and " wor…" not in long


def test_caption_edits_keep_or_share_the_spoken_timing() -> None:
    words = [Word("one", 1.0, 1.4), Word("two", 1.5, 1.9), Word("three", 2.0, 2.6), Word("later", 9.0, 9.5)]
    assert [w.text for w in clip_jobs.caption_words(words, 0.9, 3.0, None)] == ["one", "two", "three"]
    same_count = clip_jobs.caption_words(words, 0.9, 3.0, "uno dos tres")
    assert [(w.text, w.start, w.end) for w in same_count] == [("uno", 1.0, 1.4), ("dos", 1.5, 1.9), ("tres", 2.0, 2.6)]
    spread = clip_jobs.caption_words(words, 0.9, 3.0, "just two")
    assert [w.text for w in spread] == ["just", "two"]
    assert spread[0].start == pytest.approx(1.0) and spread[-1].end == pytest.approx(2.6)
    assert clip_jobs.caption_words(words, 0.9, 3.0, "   ") == []


def test_options_take_defaults_and_are_validated() -> None:
    defaults = {"min_len_s": 15, "max_len_s": 60, "top_n": 5, "preset": "tiktok_1080", "caption_style": "bold"}
    options = clip_jobs.resolve_options({"top_n": 2, "preset": None}, defaults=defaults)
    assert options["top_n"] == 2 and options["preset"] == "tiktok_1080" and options["min_len_s"] == 15.0
    with pytest.raises(InvalidInput):
        clip_jobs.resolve_options({"min_len_s": 50, "max_len_s": 20}, defaults=defaults)
    with pytest.raises(InvalidInput):
        clip_jobs.resolve_options({"preset": "imax"}, defaults=defaults)
    with pytest.raises(InvalidInput):
        clip_jobs.resolve_options({"caption_style": "comic-sans"}, defaults=defaults)
    with pytest.raises(InvalidInput):
        clip_jobs.check_bounds(5.0, 4.0, duration_s=30, max_len_s=60)
    with pytest.raises(InvalidInput):
        clip_jobs.check_bounds(5.0, 40.0, duration_s=30, max_len_s=60)


def test_verified_duration_refuses_truncated_and_empty_streams() -> None:
    from reelflow.domain.ingest import verified_duration
    from reelflow.errors import InvalidInput

    assert verified_duration(30.0, {"video": 30.0, "audio": 29.98}) == 30.0
    assert verified_duration(600.0, {"video": 590.0}) == 600.0  # within 2 %
    with pytest.raises(InvalidInput, match=r"truncated: it declares 30\.0 s but its audio data stops at 17\.8 s"):
        verified_duration(30.0, {"video": 30.0, "audio": 17.8})
    with pytest.raises(InvalidInput, match="no data"):
        verified_duration(30.0, {"video": 0.0})
    with pytest.raises(InvalidInput, match=r"decoded only up to 12\.0 s"):
        verified_duration(30.0, {}, decoded_audio_s=12.0)
