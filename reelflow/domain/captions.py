"""Caption files: burned-in ASS (active word highlighted), SRT and WebVTT (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reelflow.domain.render import CaptionStyle, RenderPreset
from reelflow.domain.transcript import _SOFT_BREAK, _TERMINAL, Sentence, Word


def _ass_time(t: float) -> str:
    cs = max(0, round(t * 100))
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _ass_colour(rgb: str, alpha: int = 0) -> str:
    rgb = rgb.lstrip("#").upper()
    return f"&H{alpha:02X}{rgb[4:6]}{rgb[2:4]}{rgb[0:2]}"


def _ass_escape(text: str) -> str:
    # Braces start override blocks and backslashes escapes; neither belongs in speech.
    return text.replace("\\", "").replace("{", "(").replace("}", ")")


def max_chars_per_line(style: CaptionStyle, preset: RenderPreset) -> int:
    """How many characters fit on one caption line (DejaVu Sans Bold ≈ 0.62 em per char)."""
    scale = preset.height / 1920
    font_px = style.font_size * scale
    usable = preset.width * (1 - 2 * style.margin_side)
    return max(4, int(usable / (font_px * (0.62 if style.bold else 0.56))))


def _wrap_tokens(tokens: list[str], limit: int) -> list[list[tuple[str, int]]]:
    """Lay tokens out in lines of at most `limit` characters, as (token, token index).

    Words are never split (a hyphenated word stays whole); a word longer than a line gets
    a line of its own and the cue is drawn smaller (`_fit_scale`) so it stays on screen.
    """
    lines: list[list[tuple[str, int]]] = [[]]
    for idx, tok in enumerate(tokens):
        line = lines[-1]
        if line and len(" ".join([p for p, _ in line] + [tok])) > limit:
            lines.append([(tok, idx)])
        else:
            line.append((tok, idx))
    return lines


def _fit_scale(lines: list[list[tuple[str, int]]], limit: int) -> int:
    """Font scale (percent) that fits the longest line in `limit` characters' width."""
    longest = max((len(" ".join(p for p, _ in line)) for line in lines), default=0)
    return 100 if longest <= limit else max(20, 100 * limit // longest)


def caption_cues(words: Sequence[Word], *, words_per_cue: int, max_gap_s: float = 0.6) -> list[list[Word]]:
    """Group words into cues of at most `words_per_cue`, breaking at pauses and sentence ends."""
    cues: list[list[Word]] = []
    current: list[Word] = []
    for i, w in enumerate(words):
        current.append(w)
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (
            nxt is None
            or len(current) >= words_per_cue
            or nxt.start - w.end > max_gap_s
            or _TERMINAL.search(w.text)
            or _SOFT_BREAK.search(w.text)
        ):
            cues.append(current)
            current = []
    return cues


def build_ass(
    words: Sequence[Word],
    *,
    clip_start_s: float,
    clip_end_s: float,
    style: CaptionStyle,
    preset: RenderPreset,
) -> str:
    """ASS subtitles for one clip: short cues, the word being spoken highlighted.

    Times are relative to the clip start (the renderer seeks the input, so the clip's
    first frame is t=0). Words outside the clip are dropped. Lines are wrapped by hand
    (`WrapStyle: 2`) so long words never run off the frame.
    """
    scale = preset.height / 1920
    font_px = max(12, round(style.font_size * scale))
    margin_v = round(preset.height * style.margin_bottom)
    margin_lr = round(preset.width * style.margin_side)
    limit = max_chars_per_line(style, preset)
    border_style = 3 if style.box else 1
    back = _ass_colour(style.outline_colour, 0x60) if style.box else _ass_colour("000000", 0x80)
    header = "\n".join(
        [
            "[Script Info]",
            "ScriptType: v4.00+",
            f"PlayResX: {preset.width}",
            f"PlayResY: {preset.height}",
            "WrapStyle: 2",
            "ScaledBorderAndShadow: yes",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, "
            "Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
            "Alignment, MarginL, MarginR, MarginV, Encoding",
            f"Style: Caption,{style.font},{font_px},{_ass_colour(style.colour)},{_ass_colour(style.highlight_colour)},"
            f"{_ass_colour(style.outline_colour)},{back},{-1 if style.bold else 0},0,0,0,100,100,0,0,"
            f"{border_style},{style.outline * scale:.1f},{style.shadow * scale:.1f},2,{margin_lr},{margin_lr},"
            f"{margin_v},1",
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        ]
    )
    inside = [w for w in words if w.end > clip_start_s and w.start < clip_end_s and w.text.strip()]
    clip_len = clip_end_s - clip_start_s
    events: list[str] = []
    hi = _ass_colour(style.highlight_colour)
    for cue in caption_cues(inside, words_per_cue=max(1, style.words_per_cue)):
        tokens = [_ass_escape(w.text.strip()) for w in cue]
        if style.uppercase:
            tokens = [t.upper() for t in tokens]
        lines = _wrap_tokens(tokens, limit)
        for k, w in enumerate(cue):
            t0 = max(0.0, w.start - clip_start_s)
            nxt_start = cue[k + 1].start if k + 1 < len(cue) else w.end
            t1 = min(clip_len, max(w.end, nxt_start) - clip_start_s)
            if t1 - t0 < 0.02:
                t1 = min(clip_len, t0 + 0.02)
            if t1 <= t0:
                continue
            text = _render_cue(lines, k, hi)
            scale = _fit_scale(lines, limit)
            if scale < 100:
                text = f"{{\\fscx{scale}\\fscy{scale}}}" + text
            events.append(f"Dialogue: 0,{_ass_time(t0)},{_ass_time(t1)},Caption,,0,0,0,,{text}")
    return header + "\n" + "\n".join(events) + "\n"


def _render_cue(lines: list[list[tuple[str, int]]], active: int, hi: str) -> str:
    """The cue's text with line breaks and the active word coloured."""
    out = []
    for line in lines:
        out.append(" ".join("{\\1c" + hi + "}" + p + "{\\r}" if i == active else p for p, i in line))
    return "\\N".join(out)


def _srt_time(t: float, sep: str) -> str:
    ms = max(0, round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


# Subtitle file limits (broadcast and platform norms: EBU/BBC/Netflix style guides).
MAX_CUE_S = 7.0
MAX_LINE_CHARS = 42
MAX_CUE_LINES = 2
MIN_CUE_S = 0.7  # a cue stays at least this long when the next one leaves room
PHRASE_PAUSE_S = 0.5
# Words a line or cue should not end on, better starting the next one (phrase boundaries).
_STARTERS = (
    "and but or so because that which who whom whose when where while if then than to of in on at for with "
    "from by as about after before until unless since though although et mais ou donc car que qui quand "
    "pour avec dans sur de du des le la les un une"
)
PHRASE_STARTERS = frozenset(_STARTERS.split())


@dataclass(frozen=True)
class Cue:
    """One subtitle cue: times (seconds) and at most `MAX_CUE_LINES` lines."""

    start: float
    end: float
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _bare(token: str) -> str:
    return token.lower().strip(".,;:!?…\"'()[]“”«»")


def _break_after(words: Sequence[Word], i: int) -> int:
    """How good a break after words[i] is: 3 sentence end, 2 clause punctuation or a pause,
    1 before a phrase starter, 0 anywhere else."""
    text = words[i].text
    if _TERMINAL.search(text):
        return 3
    nxt = words[i + 1] if i + 1 < len(words) else None
    if _SOFT_BREAK.search(text) or (nxt is not None and nxt.start - words[i].end >= PHRASE_PAUSE_S):
        return 2
    if nxt is not None and _bare(nxt.text) in PHRASE_STARTERS:
        return 1
    return 0


def _line_len(words: Sequence[Word]) -> int:
    return len(" ".join(w.text.strip() for w in words))


def layout_lines(words: Sequence[Word], *, max_chars: int = MAX_LINE_CHARS, max_lines: int = 2) -> list[str] | None:
    """The cue's words on at most `max_lines` lines of at most `max_chars`, broken at the
    best phrase boundary (balanced lengths break ties); words are never split (a hyphenated
    word stays whole). None when they do not fit."""
    if not words:
        return []
    if _line_len(words) <= max_chars:
        return [" ".join(w.text.strip() for w in words)]
    if max_lines < 2:
        return None
    best: tuple[float, int] | None = None
    for k in range(1, len(words)):
        a, b = _line_len(words[:k]), _line_len(words[k:])
        if a > max_chars or b > max_chars:
            continue
        score = 10 * _break_after(words, k - 1) - abs(a - b) / max_chars * 5 + (1 if a <= b else 0)
        if best is None or score > best[0]:
            best = (score, k)
    if best is None:
        return None
    k = best[1]
    return [" ".join(w.text.strip() for w in words[:k]), " ".join(w.text.strip() for w in words[k:])]


def subtitle_cues(
    words: Sequence[Word],
    *,
    max_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_CUE_LINES,
    max_s: float = MAX_CUE_S,
) -> list[Cue]:
    """Subtitle cues from timed words: each at most `max_s` long with at most `max_lines`
    lines of `max_chars`, ending at sentence ends, and otherwise at the best phrase
    boundary (clause punctuation, a pause, before a conjunction or preposition) that
    keeps the cue within the limits. Words are never split. A single word longer than a
    line gets a line of its own."""
    words = [w for w in words if w.text.strip()]
    cues: list[Cue] = []
    i = 0
    while i < len(words):
        # The longest run of words from i that fits the limits (at least one word).
        j = i
        while j + 1 < len(words):
            run = words[i : j + 2]
            if (
                run[-1].end - run[0].start > max_s
                or layout_lines(run, max_chars=max_chars, max_lines=max_lines) is None
            ):
                break
            if _break_after(words, j) == 3:
                break  # a sentence end closes the cue
            j += 1
        if j + 1 < len(words) and _break_after(words, j) < 3:
            # Prefer to end on the best boundary in the last half of the run.
            best_k, best_q = j, _break_after(words, j)
            for k in range(j - 1, i + (j - i) // 2 - 1, -1):
                q = _break_after(words, k)
                if q > best_q:
                    best_k, best_q = k, q
            j = best_k
        run = words[i : j + 1]
        lines = layout_lines(run, max_chars=max_chars, max_lines=max_lines) or [w.text.strip() for w in run]
        cues.append(Cue(run[0].start, run[-1].end, tuple(lines)))
        i = j + 1
    # Let short cues stay readable a little longer, into the pause after them.
    out: list[Cue] = []
    for n, cue in enumerate(cues):
        nxt = cues[n + 1].start if n + 1 < len(cues) else cue.end + MIN_CUE_S
        end = cue.end
        if end - cue.start < MIN_CUE_S:
            end = min(cue.start + MIN_CUE_S, nxt)
        end = min(max(end, cue.end), cue.start + max_s)
        out.append(Cue(cue.start, end, cue.lines))
    return out


def _words_of(items: Sequence[Word] | Sequence[Sentence]) -> list[Word]:
    out: list[Word] = []
    for item in items:
        if isinstance(item, Sentence):
            out.extend(item.words)
        else:
            out.append(item)
    return out


def _cues_for_text(items: Sequence[Word] | Sequence[Sentence], offset_s: float) -> list[tuple[float, float, str]]:
    """(start, end, text) per cue (see `subtitle_cues`), shifted by -offset_s; cues ending
    before the offset are dropped."""
    result: list[tuple[float, float, str]] = []
    for cue in subtitle_cues(_words_of(items)):
        start, end = cue.start - offset_s, cue.end - offset_s
        if end > 0 and cue.lines:
            result.append((max(0.0, start), end, cue.text))
    return result


def to_srt(items: Sequence[Word] | Sequence[Sentence], offset_s: float = 0.0) -> str:
    """SubRip text from timed words (or sentences): cues within `MAX_CUE_S` seconds and
    `MAX_CUE_LINES` lines of `MAX_LINE_CHARS`, times shifted by -offset_s."""
    blocks = [
        f"{n}\n{_srt_time(a, ',')} --> {_srt_time(b, ',')}\n{t}\n"
        for n, (a, b, t) in enumerate(_cues_for_text(items, offset_s), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(items: Sequence[Word] | Sequence[Sentence], offset_s: float = 0.0) -> str:
    """WebVTT text, same cues as `to_srt`."""
    blocks = [f"{_srt_time(a, '.')} --> {_srt_time(b, '.')}\n{t}\n" for a, b, t in _cues_for_text(items, offset_s)]
    return "WEBVTT\n\n" + "\n".join(blocks)
