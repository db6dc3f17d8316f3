"""Clipping domain rules: sentences, highlight scoring, captions, crops, presets."""

from __future__ import annotations

import re

import pytest

from reelflow.domain import clipping as dc
from reelflow.errors import InvalidInput


def _words(
    text: str, *, start: float = 0.0, wps: float = 2.5, gap_after: dict[int, float] | None = None
) -> list[dc.Word]:
    """Words at a steady pace; `gap_after` adds pauses after given word indexes."""
    out: list[dc.Word] = []
    t = start
    step = 1.0 / wps
    for i, tok in enumerate(text.split()):
        out.append(dc.Word(tok, round(t, 3), round(t + step * 0.8, 3), 0.9))
        t += step + (gap_after or {}).get(i, 0.0)
    return out


FLAT = "This is a sentence about the weather and little happens in it at all today."
QUESTION = "Why do most people never finish what they start in their first year?"
CLAIM = "Nobody tells you the truth about pricing and it costs you a million every year."


def _transcript(sentences: list[str], *, pause: float = 0.4) -> dc.Transcript:
    words: list[dc.Word] = []
    t = 0.0
    for s in sentences:
        ws = _words(s, start=t)
        words.extend(ws)
        t = ws[-1].end + pause
    return dc.Transcript.from_words(words, language="en", duration_s=t + 1.0)


def test_split_sentences_on_punctuation_and_pauses() -> None:
    words = _words("Hello there. How are you? fine thanks no punctuation here", gap_after={6: 1.5})
    sentences = dc.split_sentences(words)
    assert [s.text for s in sentences] == ["Hello there.", "How are you?", "fine thanks", "no punctuation here"]


def test_split_sentences_breaks_long_runs_without_punctuation() -> None:
    words = _words(" ".join(["word"] * 200), wps=3.0)  # ~67 s without punctuation
    sentences = dc.split_sentences(words, max_sentence_s=20.0)
    assert len(sentences) >= 3
    assert all(s.end - s.start <= 30.5 for s in sentences)
    assert sum(len(s.words) for s in sentences) == 200


def test_highlights_lie_on_sentence_boundaries_within_range_and_never_cut_words() -> None:
    transcript = _transcript([FLAT, QUESTION, CLAIM, FLAT, FLAT, QUESTION, FLAT, CLAIM, FLAT, FLAT] * 3)
    hs = dc.detect_highlights(transcript, min_len_s=15, max_len_s=40, top_n=4)
    assert 1 <= len(hs) <= 4
    starts = {s.start for s in transcript.sentences}
    ends = {s.end for s in transcript.sentences}
    words = transcript.words
    for h in hs:
        assert 15 <= h.duration_s <= 40
        inside = [w for w in words if w.end > h.start_s and w.start < h.end_s]
        # Every word touching the clip lies wholly inside it: no word is cut in half.
        assert all(h.start_s <= w.start and w.end <= h.end_s for w in inside)
        assert inside[0].start in starts and inside[-1].end in ends
        assert h.reasons and 0 <= h.score <= 100
        assert h.text.split()[0] == inside[0].text
    # best first, no overlaps
    assert [h.score for h in hs] == sorted((h.score for h in hs), reverse=True)
    for a in hs:
        for b in hs:
            if a is not b:
                assert a.end_s <= b.start_s or b.end_s <= a.start_s


def test_a_question_hook_beats_a_flat_opening() -> None:
    transcript = _transcript([FLAT, FLAT, FLAT, QUESTION, FLAT, FLAT])
    best = dc.detect_highlights(transcript, min_len_s=10, max_len_s=20, top_n=1)[0]
    assert best.text.startswith("Why do most people")
    assert any("question" in r for r in best.reasons)
    assert best.features["hook"] == 1.0


def test_strong_claim_and_keywords_are_named_in_reasons() -> None:
    transcript = _transcript([FLAT, FLAT, CLAIM, FLAT, FLAT, FLAT])
    best = dc.detect_highlights(transcript, min_len_s=10, max_len_s=20, top_n=1, keywords=["pricing", "budget"])[0]
    assert best.text.startswith("Nobody")
    assert any(r.startswith("Hook +") and "opens with a strong claim" in r for r in best.reasons)
    assert any(r.startswith("Keywords +") and r.endswith("mentions pricing") for r in best.reasons)


def test_energy_raises_the_score_of_loud_passages() -> None:
    transcript = _transcript([FLAT] * 12)
    duration = transcript.duration_s
    n = int(duration / 0.5) + 1
    loud_from, loud_to = 40.0, 60.0
    energy = [0.3 if loud_from <= i * 0.5 < loud_to else 0.05 for i in range(n)]
    best = dc.detect_highlights(transcript, energy=energy, min_len_s=15, max_len_s=25, top_n=1)[0]
    assert best.start_s >= loud_from - 8 and best.end_s <= loud_to + 8
    assert any(r.startswith("Energy +") and "% energy against the average" in r for r in best.reasons)


def test_dead_air_at_the_edges_is_penalised() -> None:
    clean = _words(FLAT + " " + FLAT)
    gappy = _words(FLAT + " " + FLAT, gap_after={0: 0.8})  # below the sentence-break pause
    t1 = dc.Transcript.from_words(clean, language="en", duration_s=clean[-1].end + 1)
    t2 = dc.Transcript.from_words(gappy, language="en", duration_s=gappy[-1].end + 1)
    h1 = dc.detect_highlights(t1, min_len_s=12, max_len_s=30, top_n=1)[0]
    h2 = dc.detect_highlights(t2, min_len_s=12, max_len_s=30, top_n=1)[0]
    assert h2.score < h1.score
    assert any("pause near an edge" in r for r in h2.reasons)


def test_no_speech_and_bad_ranges_are_clear_errors() -> None:
    empty = dc.Transcript.from_words([], language="en", duration_s=10.0)
    with pytest.raises(InvalidInput, match="no speech"):
        dc.detect_highlights(empty)
    transcript = _transcript([FLAT] * 4)
    with pytest.raises(InvalidInput):
        dc.detect_highlights(transcript, min_len_s=30, max_len_s=10)
    with pytest.raises(InvalidInput):
        dc.detect_highlights(transcript, top_n=0)
    # Media shorter than the minimum length: no candidates, an empty list (the caller explains).
    assert dc.detect_highlights(_transcript([FLAT]), min_len_s=15, max_len_s=60) == []


def test_transcript_round_trips_through_json_form() -> None:
    transcript = _transcript([QUESTION, CLAIM])
    again = dc.Transcript.from_dict(transcript.to_dict())
    assert again.words == transcript.words
    assert [s.text for s in again.sentences] == [QUESTION, CLAIM]


def test_build_ass_highlights_each_word_with_times_relative_to_the_clip() -> None:
    words = _words("one two three four five six seven", start=100.0)
    preset = dc.PRESETS["preview_540"]
    ass = dc.build_ass(words, clip_start_s=100.5, clip_end_s=102.4, style=dc.CAPTION_STYLES["bold"], preset=preset)
    assert "PlayResX: 540" in ass and "PlayResY: 960" in ass
    events = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    # Words that start before the clip but end inside are kept; "one" (100.0-100.32) is not.
    texts = " ".join(events)
    assert "one" not in texts and "two" in texts and "six" in texts
    assert all("\\1c" in e for e in events)
    first_start = events[0].split(",")[1]
    assert first_start == "0:00:00.00"
    last_end = events[-1].split(",")[2]
    assert last_end <= "0:00:01.90"


def test_build_ass_keeps_long_words_whole_and_escapes_override_braces() -> None:
    preset = dc.PRESETS["preview_540"]
    style = dc.CAPTION_STYLES["bold"]
    limit = dc.max_chars_per_line(style, preset)
    long_word = "Supercalifragilisticexpialidocious" * 2
    words = [dc.Word(long_word, 0.0, 1.0), dc.Word("{bad}", 1.0, 1.5)]
    ass = dc.build_ass(words, clip_start_s=0, clip_end_s=2, style=style, preset=preset)
    events = [line.split(",", 9)[9] for line in ass.splitlines() if line.startswith("Dialogue:")]
    scale = int(re.search(r"\\fscx(\d+)", events[0]).group(1))  # type: ignore[union-attr]
    first = re.sub(r"\{[^}]*\}", "", events[0])
    assert long_word in first.split("\\N")  # whole, on a line of its own
    assert len(long_word) * scale / 100 <= limit + 1  # drawn small enough to stay on screen
    assert "{bad}" not in ass and "(bad)" in ass


def test_srt_and_vtt() -> None:
    transcript = _transcript([QUESTION, CLAIM])
    srt = dc.to_srt(transcript.sentences, offset_s=0.0)
    assert srt.startswith("1\n00:00:00,000 --> ")
    assert "2\n" in srt and CLAIM in srt.replace("\n", " ")
    vtt = dc.to_vtt(transcript.sentences[1:], offset_s=transcript.sentences[1].start)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> ")


def test_centre_crop_is_even_centred_and_9_16() -> None:
    preset = dc.PRESETS["tiktok_1080"]
    crop = dc.centre_crop(1920, 1080, preset)
    assert (crop.width, crop.height) == (606, 1080)  # int(1080*9/16)=607 is odd: libx264 refuses it
    assert crop.x % 2 == 0 and abs(crop.x + crop.width / 2 - 960) <= 2
    portrait = dc.centre_crop(1080, 1920, preset)
    assert (portrait.x, portrait.y, portrait.width, portrait.height) == (0, 0, 1080, 1920)
    off = dc.crop_for_centre(1920, 1080, preset, 1900, 540)
    assert off.x + off.width <= 1920 and off.x == 1920 - 606


def test_unknown_preset_and_style_are_invalid_input() -> None:
    assert dc.get_preset("tiktok_1080").height == 1920
    with pytest.raises(InvalidInput):
        dc.get_preset("imax")
    with pytest.raises(InvalidInput):
        dc.get_caption_style("comic-sans")
