"""Clean cuts on real speech: boundaries in the audio's silence (never inside a word, by the
word times and by the audio level), whole sentences, short lead-in/tail and audio fades."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from reelflow.adapters.media import ffmpeg, whisper
from reelflow.domain import clipping as dc
from reelflow.domain import speech as sp
from reelflow.domain.highlights import CutRules
from tests.media_helpers import SAMPLE_SPEECH, _ffmpeg, make_talk_video

HOP = 0.01


@pytest.fixture(scope="module")
def talk(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("cuts")
    wav = folder / "talk.wav"
    _ffmpeg("-i", str(SAMPLE_SPEECH), "-ac", "1", "-ar", "16000", str(wav))
    levels = ffmpeg.audio_levels(wav, HOP)
    asr = whisper.transcribe(wav, language="en", beam_size=1)
    words = sp.refine_word_times([dc.Word(w.text, w.start, w.end, w.probability) for w in asr.words], levels, HOP)
    transcript = dc.Transcript.from_words(words, language="en", duration_s=asr.duration_s)
    return {"wav": wav, "levels": levels, "transcript": transcript, "folder": folder}


def _cuts_in_words(highlights: list[dc.Highlight], talk: dict) -> int:
    words, levels = talk["transcript"].words, talk["levels"]
    return sum(sp.cut_in_word(t, words, levels, HOP) for h in highlights for t in (h.start_s, h.end_s))


def test_boundaries_lie_in_silence_and_clips_are_whole_sentences(talk: dict) -> None:
    transcript, levels = talk["transcript"], talk["levels"]
    gaps = sp.cut_gaps(levels, HOP)
    hs = dc.detect_highlights(transcript, min_len_s=8, max_len_s=25, top_n=5, cuts=CutRules(gaps=tuple(gaps)))
    assert len(hs) == 5
    assert _cuts_in_words(hs, talk) == 0
    for h in hs:
        inside = dc.words_between(transcript.words, h.start_s, h.end_s)
        assert re.search(r"[.?!]$", inside[-1].text), h.text  # never ends mid-sentence
        before = [w for w in transcript.words if w.end <= h.start_s]
        assert not before or re.search(r"[.?!]$", before[-1].text), h.text  # starts a sentence
        # A short lead-in and tail of silence, not a second of dead air.
        assert 0.0 <= inside[0].start - h.start_s <= 0.35
        assert 0.0 <= h.end_s - inside[-1].end <= 0.6


def test_rendered_clip_fades_in_and_out(talk: dict) -> None:
    folder: Path = talk["folder"]
    video = make_talk_video(folder / "v.mp4", seconds=30, size="320x180", fps=10)
    gaps = tuple(sp.cut_gaps(talk["levels"], HOP))
    hs = dc.detect_highlights(talk["transcript"], min_len_s=6, max_len_s=12, top_n=8, cuts=CutRules(gaps=gaps))
    h = next(h for h in hs if h.end_s <= 30)  # the video below is 30 s long
    out = ffmpeg.render_clip(
        video,
        folder / "clip.mp4",
        start_s=h.start_s,
        end_s=h.end_s,
        preset=dc.PRESETS["preview_540"],
        captions_ass=None,
    )
    wav = ffmpeg.extract_audio(out, folder / "clip.wav")
    samples, rate = ffmpeg.read_wav(wav)
    edge = int(0.005 * rate)
    peak = float(np.abs(samples).max())
    assert float(np.abs(samples[:edge]).max()) < 0.05 * peak  # starts from silence
    assert float(np.abs(samples[-edge:]).max()) < 0.05 * peak  # ends in silence


def test_clean_cut_rules() -> None:
    gaps = [(0.0, 1.0), (3.0, 3.4), (6.0, 9.0)]
    # The word starts at 1.1 (Whisper late); the audio gap ends at 1.0: cut 0.12 s before the sound.
    assert sp.clean_cut_start(1.1, None, gaps, tolerance=0.3, lead_in=0.12) == pytest.approx(0.88)
    # A short gap: the cut stays inside it.
    assert sp.clean_cut_start(3.45, 2.9, gaps, tolerance=0.3, lead_in=0.12) == pytest.approx(3.28)
    assert sp.clean_cut_end(5.9, 9.5, gaps, 20.0, tolerance=0.3, tail=0.3) == pytest.approx(6.3)
    # No gap near: lead-in/tail around the words, never into a neighbour.
    assert sp.clean_cut_start(12.0, 11.95, gaps, tolerance=0.3, lead_in=0.12) == pytest.approx(11.95)
    assert sp.clean_cut_end(12.0, 12.1, gaps, 20.0, tolerance=0.3, tail=0.3) == pytest.approx(12.1)


def test_subtitles_of_real_speech_respect_the_cue_limits(talk: dict) -> None:
    transcript: dc.Transcript = talk["transcript"]
    srt = dc.to_srt(transcript.sentences)
    blocks = [b.split("\n") for b in srt.strip().split("\n\n")]
    words_out: list[str] = []
    for block in blocks:
        a, b = (_seconds(t) for t in block[1].split(" --> "))
        assert 0 < b - a <= 7.0, block
        lines = block[2:]
        assert 1 <= len(lines) <= 2 and all(len(line) <= 42 for line in lines), block
        words_out += " ".join(lines).split()
    assert words_out == [w.text for w in transcript.words]


def _seconds(stamp: str) -> float:
    h, m, s = stamp.replace(",", ".").split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)
