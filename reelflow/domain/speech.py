"""Speech activity from audio levels, word-timing clean-up, transcript coverage and clean
cut points (pure code, no I/O).

Levels are RMS in dBFS per short frame (the media adapter's `audio_levels`, 10 ms by
default). Speech-active time is where the level rises well above the recording's own
noise floor; a silence gap is a stretch quiet enough and long enough to cut in.
"""

from __future__ import annotations

import bisect
import math
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
    active = active_spans(levels_db, hop_s, threshold_db=threshold_db, bridge_s=0.1, min_span_s=0.03)
    onsets = [a for a, _ in active]
    quiet = silence_gaps(active, len(levels_db) * hop_s, min_gap_s=0.1) if levels_db else []
    quiet_starts = [g[0] for g in quiet]

    def gap_at(t: float) -> Span | None:
        k = bisect.bisect_right(quiet_starts, t) - 1
        return quiet[k] if k >= 0 and quiet[k][0] < t < quiet[k][1] else None

    out: list[Word] = []
    for i, w in enumerate(words):
        prev_end = out[-1].end if out else 0.0
        start, end = w.start, max(w.end, w.start)
        # A word does not start or end in silence: Whisper sometimes stretches a word over
        # the pause next to it.
        g = gap_at(start)
        if g is not None and g[1] < end:
            start = g[1]
        g = gap_at(end)
        if g is not None and g[0] > start:
            end = g[0]
        else:
            # A pause inside the word after some sound: the word ended there, and what
            # follows the pause is the next word's onset (Whisper ran the end over it).
            k = bisect.bisect_right(quiet_starts, end) - 1
            while k >= 0 and quiet[k][0] > start + min_word_s:
                if quiet[k][1] < end:
                    end = quiet[k][0]
                    break
                k -= 1
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


# --- clean cuts -------------------------------------------------------------------------------


def _gap_near(gaps: Sequence[Span], t: float, tolerance: float, *, edge: int) -> Span | None:
    """The silence gap whose end (edge=1) or start (edge=0) lies nearest to `t` within
    `tolerance`, or the gap containing `t`."""
    best: Span | None = None
    best_d = math.inf
    for gap in gaps:
        if gap[0] <= t <= gap[1]:
            return gap
        d = abs(gap[edge] - t)
        if d <= tolerance and d < best_d:
            best, best_d = gap, d
    return best


def clean_cut_start(
    first_start: float, prev_end: float | None, gaps: Sequence[Span], *, tolerance: float, lead_in: float
) -> float:
    """Where a clip whose first word starts at `first_start` should begin: in the silence
    before the sound (the audio's gap nearest the word start, within `tolerance`), keeping
    a `lead_in` of silence; without a usable gap, `lead_in` before the word but never
    before the previous word's end."""
    lo = 0.0 if prev_end is None else prev_end
    gap = _gap_near(gaps, first_start, tolerance, edge=1)
    if gap is not None and gap[1] >= lo - tolerance:
        onset = gap[1]
        return round(max(0.0, gap[0], onset - lead_in), 3)
    return round(max(0.0, first_start - lead_in, min(lo, first_start)), 3)


def clean_cut_end(
    last_end: float, next_start: float | None, gaps: Sequence[Span], duration_s: float, *, tolerance: float, tail: float
) -> float:
    """Where a clip whose last word ends at `last_end` should stop: in the silence after
    the sound (the gap starting nearest the word end, within `tolerance`) after a `tail`;
    without a usable gap, `tail` after the word but never after the next word's start."""
    hi = max(duration_s, last_end) if next_start is None else next_start
    gap = _gap_near(gaps, last_end, tolerance, edge=0)
    if gap is not None and gap[0] <= hi + tolerance:
        return round(min(gap[1], gap[0] + tail), 3)
    return round(min(last_end + tail, max(hi, last_end)), 3)


def cut_in_word(
    cut: float, words: Sequence[Word], levels_db: Sequence[float], hop_s: float, *, margin_s: float = 0.02
) -> bool:
    """Whether a cut at `cut` falls inside a word: inside a word's span (by more than
    `margin_s`) or on sound (the level within ±`margin_s` above the speech threshold).
    The very start and end of the media are never inside a word."""
    if cut <= margin_s or (levels_db and cut >= len(levels_db) * hop_s - margin_s):
        return False
    for w in words:
        if w.start + margin_s < cut < w.end - margin_s:
            return True
    if not levels_db:
        return False
    threshold = speech_threshold_db(levels_db)
    a = max(0, int((cut - margin_s) / hop_s))
    b = min(len(levels_db), int((cut + margin_s) / hop_s) + 1)
    return any(levels_db[i] >= threshold for i in range(a, b))


def cut_gaps(levels_db: Sequence[float], hop_s: float, *, min_gap_s: float = 0.12) -> list[Span]:
    """Silences a clip may be cut in: quiet stretches of at least `min_gap_s` between the
    sounds (short dips inside a word are not gaps: spans are bridged over 50 ms)."""
    active = active_spans(levels_db, hop_s, bridge_s=0.05, min_span_s=0.03)
    return silence_gaps(active, len(levels_db) * hop_s, min_gap_s=min_gap_s)
