"""Speech activity from audio levels, word-timing clean-up, transcript coverage and clean
cut points (pure code, no I/O).

Levels are RMS in dBFS per short frame (the media adapter's `audio_levels`, 10 ms by
default). Speech-active time is where the level rises well above the recording's own
noise floor; a silence gap is a stretch quiet enough and long enough to cut in.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

from reelflow.domain.transcript import Word

Span = tuple[float, float]


def noise_floor_db(levels_db: Sequence[float]) -> float:
    """The level of the quiet parts: the 10th percentile of frame levels (≥ -90 dBFS)."""
    if not levels_db:
        return -90.0
    ordered = sorted(levels_db)
    return max(-90.0, ordered[int(0.1 * (len(ordered) - 1))])


def speech_threshold_db(levels_db: Sequence[float]) -> float:
    """Level above which a frame counts as active: halfway (in dB) between the noise floor
    and the loud parts (95th percentile), at least 10 dB over the floor."""
    if not levels_db:
        return 0.0
    ordered = sorted(levels_db)
    floor = noise_floor_db(levels_db)
    loud = ordered[int(0.95 * (len(ordered) - 1))]
    return max(floor + 10.0, (floor + loud) / 2)


def active_spans(
    levels_db: Sequence[float],
    hop_s: float,
    *,
    threshold_db: float | None = None,
    bridge_s: float = 0.3,
    min_span_s: float = 0.1,
) -> list[Span]:
    """Spans where the level is above `threshold_db` (default `speech_threshold_db`);
    pauses shorter than `bridge_s` are bridged, spans shorter than `min_span_s` dropped."""
    if not levels_db:
        return []
    threshold = speech_threshold_db(levels_db) if threshold_db is None else threshold_db
    spans: list[Span] = []
    start: float | None = None
    for i, level in enumerate(levels_db):
        t = i * hop_s
        if level >= threshold:
            if start is None:
                start = t
        elif start is not None:
            spans.append((start, t))
            start = None
    if start is not None:
        spans.append((start, len(levels_db) * hop_s))
    merged: list[Span] = []
    for span in spans:
        if merged and span[0] - merged[-1][1] < bridge_s:
            merged[-1] = (merged[-1][0], span[1])
        else:
            merged.append(span)
    return [(round(a, 3), round(b, 3)) for a, b in merged if b - a >= min_span_s]


def silence_gaps(active: Sequence[Span], duration_s: float, *, min_gap_s: float = 0.12) -> list[Span]:
    """The quiet stretches between active spans (and before the first / after the last)
    that are at least `min_gap_s` long: the places a cut can go without clipping a sound."""
    gaps: list[Span] = []
    cursor = 0.0
    for a, b in active:
        if a - cursor >= min_gap_s:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if duration_s - cursor >= min_gap_s:
        gaps.append((cursor, duration_s))
    return gaps


# --- coverage ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """How much of the speech-active time has words on it.

    `coverage`: covered / speech-active seconds (1.0 when there is no speech); `gaps`: the
    stretches of speech with no word, longest first; `longest_gap_s` the longest of them."""

    speech_s: float
    covered_s: float
    gaps: tuple[Span, ...]

    @property
    def coverage(self) -> float:
        return 1.0 if self.speech_s <= 0 else min(1.0, self.covered_s / self.speech_s)

    @property
    def longest_gap_s(self) -> float:
        return max((b - a for a, b in self.gaps), default=0.0)


def transcript_coverage(speech: Sequence[Span], words: Sequence[Word], *, slack_s: float = 0.25) -> Coverage:
    """Share of speech-active time (`speech`, e.g. `active_spans` of the clean voice) that
    lies within `slack_s` of a recognised word. Uncovered stretches inside speech spans are
    reported, merged when less than `slack_s` apart."""
    word_spans = sorted((w.start - slack_s, w.end + slack_s) for w in words)
    merged: list[list[float]] = []
    for a, b in word_spans:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    starts = [m[0] for m in merged]
    speech_s = covered_s = 0.0
    gaps: list[Span] = []
    for a, b in speech:
        speech_s += b - a
        cursor = a
        i = max(0, bisect.bisect_right(starts, a) - 1)
        while i < len(merged) and merged[i][0] < b:
            lo, hi = max(a, merged[i][0]), min(b, merged[i][1])
            if hi > lo:
                if lo > cursor:
                    gaps.append((cursor, lo))
                covered_s += hi - max(lo, cursor) if hi > cursor else 0.0
                cursor = max(cursor, hi)
            i += 1
        if b > cursor:
            gaps.append((cursor, b))
    joined: list[Span] = []
    for gap in gaps:
        if joined and gap[0] - joined[-1][1] < slack_s:
            joined[-1] = (joined[-1][0], gap[1])
        else:
            joined.append(gap)
    joined.sort(key=lambda g: g[0] - g[1])
    return Coverage(round(speech_s, 3), round(covered_s, 3), tuple((round(a, 3), round(b, 3)) for a, b in joined))


# --- word timing ----------------------------------------------------------------------------


def refine_word_times(
    words: Sequence[Word],
    levels_db: Sequence[float],
    hop_s: float,
    *,
    min_word_s: float = 0.08,
    snap_s: float = 0.35,
    threshold_db: float | None = None,
) -> list[Word]:
    """Clean up recogniser word times so captions appear with the word.

    Whisper's word starts come late (they lag the onset by 0.1–0.3 s after a pause) and some
    words have zero length. A word that starts a phrase (the first word, or one after a
    pause) moves its start to the energy onset nearest to it within `snap_s` (never before
    the previous word's end); every word then lasts at least `min_word_s` (growing into the
    following gap, never past the next word's start), and words stay in order.
    """
    if not words:
        return []
    onsets = [a for a, _ in active_spans(levels_db, hop_s, threshold_db=threshold_db, bridge_s=0.1, min_span_s=0.03)]
    out: list[Word] = []
    for i, w in enumerate(words):
        prev_end = out[-1].end if out else 0.0
        start, end = w.start, max(w.end, w.start)
        if onsets and (i == 0 or start - words[i - 1].end > 0.05):
            k = bisect.bisect_left(onsets, start - snap_s)
            candidates = [o for o in onsets[k : k + 4] if abs(o - start) <= snap_s and prev_end <= o < end]
            if candidates:
                start = min(candidates, key=lambda o: abs(o - start))
        start = max(start, prev_end)
        if end - start < min_word_s:
            # Grow back into a pause before the word, then forward (the next word may
            # then start a little later: a caption a few ms late beats one never seen).
            start = max(prev_end, min(start, end - min_word_s))
            end = max(end, start + min_word_s)
        out.append(replace(w, start=round(start, 3), end=round(end, 3)))
    return out
