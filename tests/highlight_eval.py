"""The labelled highlight set (tests/fixtures/highlights/labelled.json) as transcripts with
synthetic word times, and precision@k of a ranking against it (used by tests and bench)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from reelflow.domain import clipping as dc

LABELLED = Path(__file__).resolve().parent / "fixtures" / "highlights" / "labelled.json"


@dataclass(frozen=True)
class LabelledTalk:
    name: str
    transcript: dc.Transcript
    good: tuple[tuple[float, float], ...]  # spans a person would clip


def labelled_talks(
    *, wps: float = 2.6, sentence_pause_s: float = 0.45, passage_pause_s: float = 0.9
) -> list[LabelledTalk]:
    data = json.loads(LABELLED.read_text(encoding="utf-8"))
    talks = []
    for talk in data["talks"]:
        words: list[dc.Word] = []
        good: list[tuple[float, float]] = []
        t = 0.5
        for passage in talk["passages"]:
            start = t
            for token in passage["text"].split():
                length = max(0.12, 0.06 * len(token.strip(".,?!")))
                words.append(dc.Word(token, round(t, 3), round(t + length, 3)))
                t += max(length + 0.05, 1.0 / wps)
                if token[-1] in ".?!":
                    t += sentence_pause_s
            if passage["good"]:
                good.append((start, t))
            t += passage_pause_s
        transcript = dc.Transcript.from_words(words, language="en", duration_s=t + 1.0)
        talks.append(LabelledTalk(talk["name"], transcript, tuple(good)))
    return talks


def is_hit(h: dc.Highlight, good: tuple[tuple[float, float], ...]) -> bool:
    """A highlight is a hit when at least 60 % of it lies in passages labelled good."""
    inside = sum(max(0.0, min(h.end_s, b) - max(h.start_s, a)) for a, b in good)
    return inside >= 0.6 * h.duration_s


def precision_at(k: int = 5, **options: float) -> tuple[float, list[float]]:
    """Mean precision@k of `detect_highlights` over the labelled talks, and per talk."""
    per_talk = []
    for talk in labelled_talks():
        hs = dc.detect_highlights(
            talk.transcript,
            min_len_s=float(options.get("min_len_s", 8.0)),
            max_len_s=float(options.get("max_len_s", 30.0)),
            top_n=k,
        )
        per_talk.append(sum(is_hit(h, talk.good) for h in hs[:k]) / k)
    return sum(per_talk) / len(per_talk), per_talk
