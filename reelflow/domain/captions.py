"""Caption files: burned-in ASS (active word highlighted), SRT and WebVTT (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

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
    """Lay tokens out in lines of at most `limit` characters, as (piece, token index).

    Words longer than a line are split with a hyphen so nothing runs off the frame.
    """
    pieces: list[tuple[str, int]] = []
    for idx, tok in enumerate(tokens):
        while len(tok) > limit:
            pieces.append((tok[: limit - 1] + "-", idx))
            tok = tok[limit - 1 :]
        pieces.append((tok, idx))
    lines: list[list[tuple[str, int]]] = [[]]
    for piece in pieces:
        line = lines[-1]
        if line and len(" ".join([p for p, _ in line] + [piece[0]])) > limit:
            lines.append([piece])
        else:
            line.append(piece)
    return lines


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


def _cues_for_text(items: Sequence[Word] | Sequence[Sentence], offset_s: float) -> list[tuple[float, float, str]]:
    """(start, end, text) per item, shifted by -offset_s; items ending before the offset are dropped."""
    cues: list[tuple[float, float, str]] = []
    for item in items:
        text = item.text.strip()
        start, end = item.start - offset_s, item.end - offset_s
        if end > 0 and text:
            cues.append((max(0.0, start), end, text))
    return cues


def to_srt(items: Sequence[Word] | Sequence[Sentence], offset_s: float = 0.0) -> str:
    """SubRip text: one cue per sentence (or per word), times shifted by -offset_s."""
    blocks = [
        f"{n}\n{_srt_time(a, ',')} --> {_srt_time(b, ',')}\n{t}\n"
        for n, (a, b, t) in enumerate(_cues_for_text(items, offset_s), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(items: Sequence[Word] | Sequence[Sentence], offset_s: float = 0.0) -> str:
    """WebVTT text: one cue per sentence (or per word), times shifted by -offset_s."""
    blocks = [f"{_srt_time(a, '.')} --> {_srt_time(b, '.')}\n{t}\n" for a, b, t in _cues_for_text(items, offset_s)]
    return "WEBVTT\n\n" + "\n".join(blocks)
