"""Thumbnails and posters: a frame between captions, and a title that fits (pure, no I/O)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from reelflow.domain.transcript import Word

# DejaVu Sans Bold: average advance ≈ 0.62 em per character (wide letters more, narrow less).
CHAR_EM = 0.62


@dataclass(frozen=True)
class TitleLayout:
    """A title laid out for a poster: whole-word lines and the font size (px)."""

    lines: tuple[str, ...]
    font_px: int

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _wrap_words(words: Sequence[str], chars: int) -> list[str]:
    """Greedy wrap at spaces only: a word (hyphenated or not) is never split."""
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= chars:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def fit_title(
    title: str,
    width_px: int,
    height_px: int,
    *,
    max_lines: int = 4,
    max_font_frac: float = 0.045,
    min_font_frac: float = 0.026,
    width_frac: float = 0.84,
) -> TitleLayout:
    """Fit a title into a poster: wrap at word boundaries, shrink the font (from 4.5 % to
    2.6 % of the height) until every line fits the width and there are at most
    `max_lines`; only when even the smallest size cannot hold it are trailing whole words
    replaced by an ellipsis. A word is never cut; a single word wider than the line shrinks
    the font below the minimum rather than being broken."""
    words = title.split()
    if not words:
        return TitleLayout((), round(height_px * max_font_frac))
    usable = width_px * width_frac
    font = height_px * max_font_frac
    min_font = height_px * min_font_frac
    while True:
        chars = max(1, int(usable / (font * CHAR_EM)))
        lines = _wrap_words(words, chars)
        if len(lines) <= max_lines and all(len(line) <= chars for line in lines):
            return TitleLayout(tuple(lines), max(8, int(font)))
        if font <= min_font:
            break
        font = max(min_font, font * 0.92)
    # At the smallest size: keep whole words that fit, end with an ellipsis.
    chars = max(1, int(usable / (font * CHAR_EM)))
    longest = max(len(w) for w in words)
    if longest > chars:  # one very long word: shrink to fit it whole
        font = usable / (longest * CHAR_EM)
        chars = longest
    kept = list(words)
    while kept:
        lines = _wrap_words([*kept[:-1], kept[-1] + "…"] if len(kept) < len(words) else kept, chars)
        if len(lines) <= max_lines:
            return TitleLayout(tuple(lines), max(8, int(font)))
        kept.pop()
    return TitleLayout((words[0] + "…",), max(8, int(font)))


def thumbnail_time(words: Sequence[Word], start_s: float, end_s: float) -> float:
    """A moment for the thumbnail: the middle of the longest pause between words in the
    clip's inner 80 % (no caption fragment is on screen then, and the speaker's face is
    at rest), else a third into the clip. Seconds from the clip's start."""
    length = end_s - start_s
    lo, hi = start_s + 0.1 * length, end_s - 0.1 * length
    inside = [w for w in words if w.end > start_s and w.start < end_s]
    best: tuple[float, float] | None = None
    for a, b in itertools.pairwise(inside):
        gap_lo, gap_hi = max(a.end, lo), min(b.start, hi)
        if gap_hi - gap_lo > 0.15 and (best is None or gap_hi - gap_lo > best[1] - best[0]):
            best = (gap_lo, gap_hi)
    at = (best[0] + best[1]) / 2 if best else start_s + length / 3
    return round(max(0.0, at - start_s), 3)
