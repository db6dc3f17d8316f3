"""Highlight detection: candidate windows of whole sentences, scored from named features.

Every highlight carries the features that produced its score and readable reasons, so an
editor can see why a clip was chosen. Pure code, no I/O.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from reelflow.domain.speech import Span, clean_cut_end, clean_cut_start
from reelflow.domain.transcript import _TERMINAL, Sentence, Transcript, Word, join_words, split_sentences
from reelflow.errors import InvalidInput


@dataclass(frozen=True)
class Highlight:
    """A candidate clip: its span, score (0–100), the reasons and the spoken text.

    `start_s`/`end_s` lie in the silence around the first and last word (never inside a
    word); `features` holds the raw feature values behind `score`.
    """

    start_s: float
    end_s: float
    score: float
    reasons: list[str]
    text: str
    features: dict[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Weights of the score (sum of positive weights = 100). Named so the docs and the reasons
# can refer to them.
WEIGHTS: dict[str, float] = {
    "hook": 25.0,
    "substance": 15.0,
    "density": 10.0,
    "energy": 10.0,
    "keywords": 15.0,
    "complete": 10.0,
    "clean_edges": 5.0,
    "length": 10.0,
}
# Penalties (points taken off): filler and logistics talk, and strings of figures that make
# no point (dates, times, row numbers): they looked like "claims" to the old score.
PENALTIES: dict[str, float] = {"filler": 30.0, "figures": 15.0}
# Short-form retention favours clips of about this length (clamped to the asked range).
TARGET_LEN_S = 30.0
FILLER_START = {"um", "uh", "er", "erm", "ah", "and", "but", "or", "so", "like", "mean", "yeah", "okay", "ok"}
STRONG_WORDS = {
    "never", "always", "nobody", "everyone", "everybody", "secret", "truth", "mistake", "mistakes",
    "biggest", "best", "worst", "most", "only", "stop", "wrong", "actually", "huge",
    "crazy", "insane", "simple", "easy", "fastest", "important", "remember", "warning", "proven",
    "guaranteed", "must", "nothing", "every", "double", "doubled", "half", "lesson", "rule",
}  # fmt: skip
# Words that carry an argument: a reason, a contrast, a lesson.
SUBSTANCE_WORDS = {
    "because", "why", "how", "but", "instead", "lesson", "rule", "mistake", "secret", "truth", "never",
    "always", "stop", "better", "worse", "worst", "best", "biggest", "remember", "learn", "learned",
    "matters", "matter", "problem", "reason", "simple", "only", "choose", "should", "if",
}  # fmt: skip
# Filler and meeting logistics: nobody clips these.
FILLER_WORDS = {"um", "uh", "er", "erm", "ah", "hmm", "okay", "ok", "alright", "yeah", "sorry"}
LOGISTICS_PHRASES = (
    "let me",
    "hang on",
    "one second",
    "give me",
    "share my screen",
    "can everyone",
    "can you hear",
    "next slide",
    "the chat",
    "the slides",
    "the recording",
    "the file",
    "folder",
    "time check",
    "the agenda",
    "the link",
    "where was i",
    "sponsor",
    "newsletter",
    "welcome back",
    "questions at the end",
    "hi everyone",
    "hello everyone",
)
# A figure makes a point when it has a unit of change or size next to it ("doubled", "40 %").
FIGURE_UNITS = {"%", "percent", "x", "times", "million", "billion", "thousand", "k"}
HOOK_OPENERS = ("here's", "here is", "the secret", "the truth", "the reason", "what if", "imagine", "did you know")
QUESTION_OPENERS = frozenset("why how what who when where which is are do does did can would".split())  # noqa: SIM905


def _norm(token: str) -> str:
    return re.sub(r"[^\w'%]+", "", token.lower())


def _is_figure(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


def _logistics(text: str) -> list[str]:
    lower = " " + re.sub(r"[^\w' ]+", " ", text.lower()) + " "
    lower = re.sub(r"\s+", " ", lower)
    return [p for p in LOGISTICS_PHRASES if f" {p} " in lower]


def hook_strength(sentence: Sentence) -> tuple[float, str | None]:
    """0..1 for how well the first sentence grabs attention, with the reason.

    A question or a hook phrase scores; so does a strong claim word (never, mistake,
    truth …). Figures alone do not: "at 5 pm in room 2" claims nothing. A figure counts only
    with a unit of size or change next to it ("40 percent", "3x"), and a question about
    logistics ("can everyone hear me?") is no hook."""
    text = sentence.text.strip()
    tokens = [_norm(w.text) for w in sentence.words]
    lower = text.lower()
    if _logistics(text):
        return 0.0, None
    if len(tokens) >= 3 and (text.endswith("?") or (tokens[0] in QUESTION_OPENERS and "?" in text)):
        return 1.0, "opens with a question"
    if lower.startswith(HOOK_OPENERS):
        return 0.9, f"opens with a hook phrase (“{' '.join(lower.split()[:2])} …”)"
    strong = [t for t in tokens if t in STRONG_WORDS]
    figures = [
        t for i, t in enumerate(tokens)
        if _is_figure(t) and (t.endswith("%") or (i + 1 < len(tokens) and tokens[i + 1] in FIGURE_UNITS))
    ]  # fmt: skip
    if strong:
        found = ", ".join(dict.fromkeys(strong + figures))
        return min(1.0, 0.55 + 0.15 * (len(strong) + len(figures))), f"opens with a strong claim ({found})"
    if figures and text.endswith("!"):
        return 0.6, f"opens with a striking figure ({', '.join(figures)})"
    if text.endswith("!"):
        return 0.5, "opens with an exclamation"
    return 0.0, None


def _keyword_hits(text: str, keywords: Sequence[str]) -> list[str]:
    lower = " " + re.sub(r"[^\w'%]+", " ", text.lower()) + " "
    hits = []
    for kw in keywords:
        k = " " + re.sub(r"[^\w'%]+", " ", kw.lower()).strip() + " "
        if k.strip() and k in lower:
            hits.append(kw.strip())
    return hits


def _clip_bounds(
    words: Sequence[Word], first: int, last: int, duration_s: float, cuts: CutRules
) -> tuple[float, float]:
    """Span of words[first..last] cut in the silence around them (see `CutRules`)."""
    w0, w1 = words[first], words[last]
    prev_end = words[first - 1].end if first > 0 else None
    next_start = words[last + 1].start if last + 1 < len(words) else None
    start = clean_cut_start(w0.start, prev_end, cuts.gaps, tolerance=cuts.tolerance_s, lead_in=cuts.lead_in_s)
    end = clean_cut_end(w1.end, next_start, cuts.gaps, duration_s, tolerance=cuts.tolerance_s, tail=cuts.tail_s)
    if duration_s > 0:
        end = min(end, max(duration_s, w1.end))
    return start, end


@dataclass(frozen=True)
class CutRules:
    """How clip boundaries are placed: in the audio's silence `gaps` (from
    `speech.silence_gaps`) nearest the first word's start / last word's end within
    `tolerance_s`, with `lead_in_s` of silence before the first word and `tail_s` after the
    last. Without gaps, the same lead-in/tail around the word times."""

    gaps: tuple[Span, ...] = ()
    tolerance_s: float = 0.3
    lead_in_s: float = 0.12
    tail_s: float = 0.3


def detect_highlights(
    transcript: Transcript,
    *,
    energy: Sequence[float] = (),
    energy_window_s: float = 0.5,
    min_len_s: float = 15.0,
    max_len_s: float = 60.0,
    top_n: int = 5,
    keywords: Sequence[str] = (),
    cuts: CutRules | None = None,
) -> list[Highlight]:
    """Best `top_n` non-overlapping clips, best first.

    Candidates are windows of whole sentences whose padded length lies in
    [`min_len_s`, `max_len_s`]. Each is scored from named features (see `WEIGHTS`): a hook
    in the first sentence, speech density, audio energy relative to the whole media,
    project keyword matches, ending on a complete sentence, no dead air near the edges and
    a length near `TARGET_LEN_S`. Ties go to the earlier clip.
    Raises InvalidInput when the media has no speech.
    """
    if min_len_s <= 0 or max_len_s < min_len_s:
        raise InvalidInput("clip length range must satisfy 0 < min ≤ max", field="min_len_s")
    if top_n < 1:
        raise InvalidInput("top_n must be at least 1", field="top_n")
    words = transcript.words
    if not words:
        raise InvalidInput("no speech was detected in the media", field="source")
    sentences = transcript.sentences or tuple(split_sentences(words))
    # Map each sentence to the indexes of its first and last word in `words`.
    spans: list[tuple[int, int]] = []
    idx = 0
    for s in sentences:
        spans.append((idx, idx + len(s.words) - 1))
        idx += len(s.words)

    energy_arr = [max(0.0, float(e)) for e in energy]
    mean_energy = sum(energy_arr) / len(energy_arr) if energy_arr else 0.0

    def energy_in(start: float, end: float) -> float | None:
        if not energy_arr or mean_energy <= 0:
            return None
        a = max(0, int(start / energy_window_s))
        b = min(len(energy_arr), max(a + 1, math.ceil(end / energy_window_s)))
        if a >= len(energy_arr):
            return None
        window = energy_arr[a:b]
        return sum(window) / len(window) / mean_energy

    target_len = min(max(TARGET_LEN_S, min_len_s), max_len_s)
    candidates: list[Highlight] = []
    cuts = cuts or CutRules()
    complete = [bool(_TERMINAL.search(s.words[-1].text)) for s in sentences]
    for i in range(len(sentences)):
        # A clip starts where a sentence starts and ends where one ends (terminal
        # punctuation); only when no such window fits the length range (unpunctuated
        # speech, a sentence longer than the maximum) may it start or end elsewhere.
        whole: list[Highlight] = []
        partial: list[Highlight] = []
        starts_clean = i == 0 or complete[i - 1]
        for j in range(i, len(sentences)):
            first, last = spans[i][0], spans[j][1]
            start, end = _clip_bounds(words, first, last, transcript.duration_s, cuts)
            length = end - start
            if length > max_len_s:
                break
            if length < min_len_s:
                continue
            window = _score_window(
                words[first : last + 1], sentences[i], sentences[j], start, end, energy_in, keywords, target_len
            )
            (whole if starts_clean and complete[j] else partial).append(window)
        candidates.extend(whole)
        if not _fits_whole(spans, complete, words, i, min_len_s, max_len_s):
            candidates.extend(partial)

    candidates.sort(key=lambda h: (-h.score, h.start_s, h.duration_s))
    chosen: list[Highlight] = []
    for cand in candidates:
        if all(cand.end_s <= c.start_s or cand.start_s >= c.end_s for c in chosen):
            chosen.append(cand)
            if len(chosen) >= top_n:
                break
    return chosen


def _fits_whole(
    spans: Sequence[tuple[int, int]],
    complete: Sequence[bool],
    words: Sequence[Word],
    i: int,
    min_len_s: float,
    max_len_s: float,
) -> bool:
    """Whether some window of whole sentences around sentence i fits the length range (if
    not, windows that start or end mid-sentence are allowed there)."""
    lo = i
    while lo > 0 and not complete[lo - 1]:
        lo -= 1
    for j in range(i, len(spans)):
        if complete[j]:
            length = words[spans[j][1]].end - words[spans[lo][0]].start
            if length > max_len_s:
                return False
            if length >= min_len_s * 0.8:
                return True
    return False


def _score_window(
    words: Sequence[Word],
    first_sentence: Sentence,
    last_sentence: Sentence,
    start: float,
    end: float,
    energy_in: Any,
    keywords: Sequence[str],
    target_len_s: float,
) -> Highlight:
    """Score one window; every feature that moved the score by a point or more becomes a
    readable reason with its points ("Hook +25: opens with a question"), largest first."""
    length = end - start
    features: dict[str, float] = {}
    notes: dict[str, str] = {}
    scale = 100.0 / (100.0 - WEIGHTS["keywords"]) if not keywords else 1.0
    tokens = [_norm(w.text) for w in words]
    text = join_words(words)

    hook, why = hook_strength(first_sentence)
    first_token = _norm(first_sentence.words[0].text)
    if first_token in FILLER_START and hook > 0:
        hook = max(0.0, hook - 0.3)
        why = f"{why}, but starts with “{first_token}”"
    features["hook"] = hook
    notes["hook"] = why or "no hook in the first sentence"

    substance_hits = [t for t in tokens if t in SUBSTANCE_WORDS]
    substance = min(1.0, len(substance_hits) / max(3.0, len(tokens) / 12))
    features["substance"] = round(substance, 3)
    shown = ", ".join(list(dict.fromkeys(substance_hits))[:4])
    notes["substance"] = f"makes a point ({shown})" if substance_hits else "no clear point"

    speaking = sum(max(0.0, w.end - w.start) for w in words)
    wps = len(words) / length
    speech_ratio = min(1.0, speaking / length)
    # 2.0–3.5 words/s is lively conversational speech; below ~1 it is mostly pauses.
    density = min(1.0, 0.5 * speech_ratio / 0.8 + 0.5 * min(1.0, wps / 3.0))
    features.update(words_per_s=round(wps, 2), speech_ratio=round(speech_ratio, 3), density=round(density, 3))
    notes["density"] = f"{wps:.1f} words a second"

    rel = energy_in(start, end)
    # Average loudness scores 1/3, twice the average or more scores 1; unknown counts as average.
    energy_score = 1 / 3 if rel is None else max(0.0, min(1.0, (rel - 0.5) / 1.5))
    features["energy"] = round(energy_score, 3)
    notes["energy"] = "loudness unknown" if rel is None else f"{(rel - 1) * 100:+.0f} % energy against the average"
    if rel is not None:
        features["energy_ratio"] = round(rel, 3)

    hits = _keyword_hits(text, keywords)
    kw_score = min(1.0, len(hits) / 2) if keywords else 0.0
    features["keywords"] = kw_score
    notes["keywords"] = "mentions " + ", ".join(hits) if hits else "none of the keywords"

    complete = 1.0 if _TERMINAL.search(last_sentence.words[-1].text) else 0.4
    features["complete"] = complete
    notes["complete"] = "ends on a complete sentence" if complete == 1.0 else "ends mid-sentence"

    # Dead air near the edges: the longest pause within the first and last 3 seconds.
    edge_gap = 0.0
    for a, b in itertools.pairwise(words):
        if a.end - start <= 3.0 or end - b.start <= 3.0:
            edge_gap = max(edge_gap, b.start - a.end)
    clean = max(0.0, 1.0 - max(0.0, edge_gap - 0.4) / 1.6)
    features["edge_gap_s"] = round(edge_gap, 2)
    features["clean_edges"] = round(clean, 3)
    notes["clean_edges"] = f"{edge_gap:.1f} s pause near an edge" if edge_gap > 0.8 else "no dead air at the edges"

    length_fit = max(0.0, 1.0 - abs(length - target_len_s) / target_len_s)
    features["length_s"] = round(length, 2)
    features["length"] = round(length_fit, 3)
    notes["length"] = f"{length:.0f} s long (best near {target_len_s:.0f} s)"

    filler = [t for t in tokens if t in FILLER_WORDS] + _logistics(text)
    filler_share = min(1.0, len(filler) / max(1.0, len(tokens) / 10))
    features["filler"] = round(filler_share, 3)
    notes["filler"] = "filler and logistics: " + ", ".join(list(dict.fromkeys(filler))[:4])
    figures = [t for t in tokens if _is_figure(t)]
    figure_share = min(1.0, max(0.0, len(figures) / max(1.0, len(tokens)) - 0.03) / 0.1)
    features["figures"] = round(figure_share, 3)
    notes["figures"] = f"{len(figures)} figures without a point (" + ", ".join(figures[:4]) + ")"

    labels = {
        "hook": "Hook", "substance": "Substance", "density": "Pace", "energy": "Energy", "keywords": "Keywords",
        "complete": "Ending", "clean_edges": "Edges", "length": "Length", "filler": "Filler", "figures": "Figures",
    }  # fmt: skip
    points: dict[str, float] = {name: WEIGHTS[name] * features[name] * scale for name in WEIGHTS}
    if not keywords:
        points.pop("keywords")
    points["filler"] = -PENALTIES["filler"] * filler_share
    points["figures"] = -PENALTIES["figures"] * figure_share
    score = max(0.0, min(100.0, sum(points.values())))
    reasons = [
        f"{labels[name]} {pts:+.0f}: {notes[name]}"
        for name, pts in sorted(points.items(), key=lambda kv: -abs(kv[1]))
        if abs(pts) >= 1.0
    ]
    return Highlight(
        start_s=round(start, 3),
        end_s=round(end, 3),
        score=round(score, 1),
        reasons=reasons,
        text=text,
        features=features,
    )
