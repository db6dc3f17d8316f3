"""Subtitle cues within the broadcast limits: ≤ 7 s, ≤ 42 characters a line, two lines at
most, breaks at phrase boundaries, words never split."""

from __future__ import annotations

import re

from reelflow.domain import captions as cap
from reelflow.domain.clipping import CAPTION_STYLES, PRESETS, Word, build_ass


def _words(text: str, *, start: float = 0.0, wps: float = 3.0) -> list[Word]:
    out, t = [], start
    for token in text.split():
        out.append(Word(token, t, t + 0.8 / wps))
        t += 1 / wps
    return out


LONG = (
    "This is a long sentence without much punctuation that goes on and on because the speaker keeps "
    "talking about state-of-the-art editing tools and the well-known trade-offs of vertical video, "
    "which matter to every creator who posts every single day."
)


def test_cues_respect_the_limits_and_keep_every_word() -> None:
    words = _words(LONG + " Short one. " + LONG, wps=2.2)
    cues = cap.subtitle_cues(words)
    assert len(cues) > 5
    for cue in cues:
        assert cue.end - cue.start <= 7.0 + 1e-9
        assert 1 <= len(cue.lines) <= 2
        assert all(len(line) <= 42 for line in cue.lines), cue.lines
    flat = " ".join(line for cue in cues for line in cue.lines).split()
    assert flat == [w.text for w in words]  # nothing lost, hyphenated words whole
    assert any("state-of-the-art" in line for cue in cues for line in cue.lines)
    # A sentence end closes the cue: "Short one." never shares a cue with the next sentence.
    assert any(cue.lines[-1].endswith("one.") for cue in cues)


def test_lines_break_at_phrase_boundaries() -> None:
    words = _words("When you know where the story lands, every cut becomes obvious and easy.")
    lines = cap.layout_lines(words)
    assert lines == ["When you know where the story lands,", "every cut becomes obvious and easy."]
    words = _words("Most viewers scroll with the sound off because they are on a train")
    cues = cap.subtitle_cues(words)
    # The break goes before "because", not after it.
    assert not any(re.search(r"\bbecause$", line) for cue in cues for line in cue.lines)


def test_srt_and_vtt_use_the_cues() -> None:
    words = _words(LONG, wps=2.0)
    srt = cap.to_srt(words)
    blocks = [b for b in srt.strip().split("\n\n") if b]
    assert len(blocks) == len(cap.subtitle_cues(words))
    for block in blocks:
        lines = block.split("\n")
        assert 2 <= len(lines) - 1 <= 3 and all(len(line) <= 42 for line in lines[2:])
    assert cap.to_vtt(words).startswith("WEBVTT\n\n00:00:00.000 --> ")


def test_burned_in_captions_never_split_a_word() -> None:
    preset, style = PRESETS["tiktok_1080"], CAPTION_STYLES["hormozi"]
    words = _words("Unbelievably-overcomplicated state-of-the-art workflows")
    ass = build_ass(words, clip_start_s=0.0, clip_end_s=10.0, style=style, preset=preset)
    events = [line for line in ass.splitlines() if line.startswith("Dialogue:")]
    text = " ".join(re.sub(r"\{[^}]*\}", "", e.split(",,0,0,0,,", 1)[1]).replace("\\N", " ") for e in events)
    assert "UNBELIEVABLY-OVERCOMPLICATED" in text and "STATE-OF-THE-ART" in text
    assert "\\fscx" in ass  # the over-long word is drawn smaller instead of being cut
