"""Clipping rules: transcripts, highlight scoring, caption files, crops and render presets.

Pure code (no I/O). The media adapters (`reelflow.adapters.media`) produce transcripts and
audio energy and consume presets, crops and ASS text; this module decides *what* to cut
and *how it should look*. Every highlight carries the named features that produced its
score, so an editor can see why a clip was chosen.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from reelflow.errors import InvalidInput

# --- transcript -----------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span (seconds from the start of the media)."""

    text: str
    start: float
    end: float
    probability: float = 1.0


class WordLike(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def probability(self) -> float: ...


@dataclass(frozen=True)
class Sentence:
    """Consecutive words ending at terminal punctuation or a long pause."""

    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return join_words(self.words)


@dataclass(frozen=True)
class Transcript:
    """What was said, word by word; `sentences` are derived from `words`."""

    language: str
    duration_s: float
    words: tuple[Word, ...]
    sentences: tuple[Sentence, ...]

    @classmethod
    def from_words(cls, words: Iterable[WordLike], *, language: str, duration_s: float) -> Transcript:
        """Build from any word objects with text/start/end/probability (e.g. the whisper
        adapter's `SpokenWord`)."""
        ws = tuple(
            w if isinstance(w, Word) else Word(w.text, float(w.start), float(w.end), float(w.probability))
            for w in words
        )
        return cls(language=language, duration_s=duration_s, words=ws, sentences=tuple(split_sentences(ws)))

    @property
    def text(self) -> str:
        return join_words(self.words)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (sentences are not stored: they are derived again on load)."""
        return {
            "language": self.language,
            "duration_s": self.duration_s,
            "words": [[w.text, round(w.start, 3), round(w.end, 3), round(w.probability, 3)] for w in self.words],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        words = [Word(str(t), float(s), float(e), float(p)) for t, s, e, p in data["words"]]
        return cls.from_words(words, language=str(data["language"]), duration_s=float(data["duration_s"]))


def join_words(words: Iterable[Word]) -> str:
    return " ".join(w.text for w in words).strip()


_TERMINAL = re.compile(r"[.?!…]['\")\]]*$")
_SOFT_BREAK = re.compile(r"[,;:–—]['\")\]]*$")


def split_sentences(words: Sequence[Word], *, pause_s: float = 1.0, max_sentence_s: float = 20.0) -> list[Sentence]:
    """Group words into sentences.

    A sentence ends at terminal punctuation or at a pause of `pause_s`; a run longer than
    `max_sentence_s` (speech without punctuation) is broken at a comma, or hard at 1.5×, so
    that clip windows always have boundaries to choose from.
    """
    sentences: list[Sentence] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        length = word.end - current[0].start
        end_here = (
            nxt is None
            or bool(_TERMINAL.search(word.text))
            or nxt.start - word.end >= pause_s
            or (length >= max_sentence_s and bool(_SOFT_BREAK.search(word.text)))
            or length >= max_sentence_s * 1.5
        )
        if end_here:
            sentences.append(Sentence(tuple(current)))
            current = []
    return sentences


# --- highlights -----------------------------------------------------------------------


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
    "hook": 30.0,
    "density": 15.0,
    "energy": 15.0,
    "keywords": 15.0,
    "complete": 10.0,
    "clean_edges": 5.0,
    "length": 10.0,
}
# Short-form retention favours clips of about this length (clamped to the asked range).
TARGET_LEN_S = 30.0
FILLER_START = {"um", "uh", "er", "erm", "ah", "and", "but", "or", "so", "like", "mean", "yeah", "okay", "ok"}
STRONG_WORDS = {
    "never", "always", "nobody", "everyone", "everybody", "secret", "truth", "mistake", "mistakes",
    "biggest", "best", "worst", "most", "only", "stop", "wrong", "actually", "really", "huge",
    "crazy", "insane", "simple", "easy", "fastest", "important", "remember", "warning", "proven",
    "guaranteed", "must", "nothing", "every", "million", "billion", "percent", "double", "half",
}  # fmt: skip
HOOK_OPENERS = ("here's", "here is", "the secret", "the truth", "the reason", "what if", "imagine", "did you know")
QUESTION_OPENERS = frozenset("why how what who when where which is are do does did can would".split())  # noqa: SIM905


def _norm(token: str) -> str:
    return re.sub(r"[^\w'%]+", "", token.lower())


def hook_strength(sentence: Sentence) -> tuple[float, str | None]:
    """0..1 for how well the first sentence grabs attention, with the reason."""
    text = sentence.text.strip()
    tokens = [_norm(w.text) for w in sentence.words]
    lower = text.lower()
    if text.endswith("?") or (tokens and tokens[0] in QUESTION_OPENERS and "?" in text):
        return 1.0, "opens with a question"
    if lower.startswith(HOOK_OPENERS):
        return 0.9, f"opens with a hook phrase ({lower.split()[0]} …)"
    strong = [t for t in tokens if t in STRONG_WORDS]
    numbers = [t for t in tokens if any(ch.isdigit() for ch in t)]
    if strong or numbers:
        found = ", ".join(dict.fromkeys(strong + numbers))
        return min(1.0, 0.55 + 0.15 * (len(strong) + len(numbers))), f"opens with a strong claim ({found})"
    if text.endswith("!"):
        return 0.6, "opens with an exclamation"
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
    words: Sequence[Word], first: int, last: int, duration_s: float, pad_before: float, pad_after: float
) -> tuple[float, float]:
    """Padded span of words[first..last] that stays inside the silence around them."""
    w0, w1 = words[first], words[last]
    lo = words[first - 1].end if first > 0 else 0.0
    hi = words[last + 1].start if last + 1 < len(words) else max(duration_s, w1.end)
    start = max(w0.start - pad_before, min(lo, w0.start), 0.0)
    end = min(w1.end + pad_after, max(hi, w1.end))
    if duration_s > 0:
        end = min(end, max(duration_s, w1.end))
    return start, end


def detect_highlights(
    transcript: Transcript,
    *,
    energy: Sequence[float] = (),
    energy_window_s: float = 0.5,
    min_len_s: float = 15.0,
    max_len_s: float = 60.0,
    top_n: int = 5,
    keywords: Sequence[str] = (),
    pad_before_s: float = 0.15,
    pad_after_s: float = 0.35,
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
    for i in range(len(sentences)):
        for j in range(i, len(sentences)):
            first, last = spans[i][0], spans[j][1]
            start, end = _clip_bounds(words, first, last, transcript.duration_s, pad_before_s, pad_after_s)
            length = end - start
            if length > max_len_s:
                break
            if length < min_len_s:
                continue
            candidates.append(
                _score_window(
                    words[first : last + 1], sentences[i], sentences[j], start, end, energy_in, keywords, target_len
                )
            )

    candidates.sort(key=lambda h: (-h.score, h.start_s, h.duration_s))
    chosen: list[Highlight] = []
    for cand in candidates:
        if all(cand.end_s <= c.start_s or cand.start_s >= c.end_s for c in chosen):
            chosen.append(cand)
            if len(chosen) >= top_n:
                break
    return chosen


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
    length = end - start
    reasons: list[str] = []
    features: dict[str, float] = {}

    hook, why = hook_strength(first_sentence)
    features["hook"] = hook
    if why:
        reasons.append(f"hook: {why}")
    first_token = _norm(first_sentence.words[0].text)
    if first_token in FILLER_START:
        features["hook"] = hook = max(0.0, hook - 0.3)
        reasons.append(f"starts with a filler word ('{first_token}')")

    speaking = sum(max(0.0, w.end - w.start) for w in words)
    wps = len(words) / length
    speech_ratio = min(1.0, speaking / length)
    # 2.0–3.5 words/s is lively conversational speech; below ~1 it is mostly pauses.
    density = min(1.0, 0.5 * speech_ratio / 0.8 + 0.5 * min(1.0, wps / 3.0))
    features.update(words_per_s=round(wps, 2), speech_ratio=round(speech_ratio, 3), density=round(density, 3))
    if density >= 0.75:
        reasons.append(f"dense speech ({wps:.1f} words/s)")
    elif density < 0.45:
        reasons.append(f"sparse speech ({wps:.1f} words/s)")

    rel = energy_in(start, end)
    # Average loudness scores 1/3, twice the average or more scores 1; unknown counts as average.
    energy_score = 1 / 3 if rel is None else max(0.0, min(1.0, (rel - 0.5) / 1.5))
    features["energy"] = round(energy_score, 3)
    if rel is not None:
        features["energy_ratio"] = round(rel, 3)
        if rel >= 1.1:
            reasons.append(f"louder than average (+{(rel - 1) * 100:.0f}% energy)")
        elif rel <= 0.85:
            reasons.append(f"quieter than average ({(rel - 1) * 100:.0f}% energy)")

    text = join_words(words)
    hits = _keyword_hits(text, keywords)
    kw_score = min(1.0, len(hits) / 2) if keywords else 0.0
    features["keywords"] = kw_score
    if hits:
        reasons.append("keywords: " + ", ".join(hits))

    complete = 1.0 if _TERMINAL.search(last_sentence.words[-1].text) else 0.4
    features["complete"] = complete
    if complete == 1.0:
        reasons.append("ends on a complete sentence")

    # Dead air near the edges: the longest pause within the first and last 3 seconds.
    edge_gap = 0.0
    for a, b in itertools.pairwise(words):
        if a.end - start <= 3.0 or end - b.start <= 3.0:
            edge_gap = max(edge_gap, b.start - a.end)
    clean = max(0.0, 1.0 - max(0.0, edge_gap - 0.4) / 1.6)
    features["edge_gap_s"] = round(edge_gap, 2)
    features["clean_edges"] = round(clean, 3)
    if edge_gap > 0.8:
        reasons.append(f"{edge_gap:.1f} s pause near an edge")

    length_fit = max(0.0, 1.0 - abs(length - target_len_s) / target_len_s)
    features["length_s"] = round(length, 2)
    features["length"] = round(length_fit, 3)
    if length_fit >= 0.8:
        reasons.append(f"good length ({length:.0f} s)")

    score = (
        WEIGHTS["length"] * length_fit
        + WEIGHTS["hook"] * hook
        + WEIGHTS["density"] * density
        + WEIGHTS["energy"] * energy_score
        + WEIGHTS["keywords"] * kw_score
        + WEIGHTS["complete"] * complete
        + WEIGHTS["clean_edges"] * clean
    )
    if not keywords:
        # Keywords were not asked for: rescale so scores stay comparable on 0–100.
        score = score * 100.0 / (100.0 - WEIGHTS["keywords"])
    return Highlight(
        start_s=round(start, 3),
        end_s=round(end, 3),
        score=round(score, 1),
        reasons=reasons,
        text=text,
        features=features,
    )


# --- render presets, crops, caption styles -----------------------------------------------


@dataclass(frozen=True)
class RenderPreset:
    """Output format of a clip. `x264_preset=None` means the configured default."""

    name: str
    width: int
    height: int
    crf: int = 21
    x264_preset: str | None = None
    max_fps: float = 60.0
    audio_bitrate: str = "128k"
    maxrate: str = "8M"
    loudness_lufs: float = -14.0
    max_duration_s: float = 180.0


PRESETS: dict[str, RenderPreset] = {
    # TikTok and Shorts both recommend 1080x1920; Shorts accepts up to 3 minutes.
    "tiktok_1080": RenderPreset("tiktok_1080", 1080, 1920),
    "shorts_1080": RenderPreset("shorts_1080", 1080, 1920, max_duration_s=180.0),
    "reels_1080": RenderPreset("reels_1080", 1080, 1920, max_duration_s=90.0),
    "tiktok_720": RenderPreset("tiktok_720", 720, 1280, crf=22),
    "preview_540": RenderPreset("preview_540", 540, 960, crf=26, max_fps=30.0, audio_bitrate="96k", maxrate="2M"),
    "square_1080": RenderPreset("square_1080", 1080, 1080),
}
DEFAULT_PRESET = "tiktok_1080"


def get_preset(name: str) -> RenderPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidInput(f"unknown render preset {name!r}; known: {', '.join(PRESETS)}", field="preset") from None


@dataclass(frozen=True)
class CropBox:
    """A crop of the (display-oriented) source frame, even sizes and offsets."""

    x: int
    y: int
    width: int
    height: int


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


def crop_for_centre(src_w: int, src_h: int, preset: RenderPreset, centre_x: float, centre_y: float) -> CropBox:
    """Largest crop with the preset's aspect ratio around a centre point, clamped to the frame."""
    if src_w <= 0 or src_h <= 0:
        raise InvalidInput("the video has no frame size", field="source")
    target = preset.width / preset.height
    if src_w / src_h > target:
        h = _even(src_h)
        w = min(_even(h * target), _even(src_w))
    else:
        w = _even(src_w)
        h = min(_even(w / target), _even(src_h))
    x = round(min(max(centre_x - w / 2, 0), src_w - w))
    y = round(min(max(centre_y - h / 2, 0), src_h - h))
    return CropBox(x - x % 2, y - y % 2, w, h)


def centre_crop(src_w: int, src_h: int, preset: RenderPreset) -> CropBox:
    """The largest centred crop of the source with the preset's aspect ratio."""
    return crop_for_centre(src_w, src_h, preset, src_w / 2, src_h / 2)


@dataclass(frozen=True)
class CaptionStyle:
    """Look of burned-in captions. Sizes are in output pixels at the preset's height 1920
    and scale with the preset; colours are RGB hex ("FFFFFF")."""

    name: str
    font: str = "DejaVu Sans"
    font_size: int = 84
    bold: bool = True
    colour: str = "FFFFFF"
    highlight_colour: str = "FFE600"
    outline_colour: str = "000000"
    outline: float = 5.0
    shadow: float = 2.0
    box: bool = False
    uppercase: bool = False
    words_per_cue: int = 3
    max_lines: int = 2
    # Vertical position: distance of the caption's bottom from the frame's bottom, as a
    # fraction of the height (TikTok's own UI covers the bottom ~20 %).
    margin_bottom: float = 0.30
    margin_side: float = 0.08


CAPTION_STYLES: dict[str, CaptionStyle] = {
    "bold": CaptionStyle("bold"),
    "hormozi": CaptionStyle("hormozi", font_size=96, highlight_colour="39FF14", uppercase=True, words_per_cue=2),
    "minimal": CaptionStyle(
        "minimal", font_size=64, bold=False, highlight_colour="FFFFFF", outline=3.0, shadow=0.0, words_per_cue=5
    ),
    "boxed": CaptionStyle("boxed", font_size=72, box=True, outline=10.0, shadow=0.0, outline_colour="101010"),
}
DEFAULT_CAPTION_STYLE = "bold"


def get_caption_style(name: str) -> CaptionStyle:
    try:
        return CAPTION_STYLES[name]
    except KeyError:
        raise InvalidInput(
            f"unknown caption style {name!r}; known: {', '.join(CAPTION_STYLES)}", field="caption_style"
        ) from None


# --- captions --------------------------------------------------------------------------


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


def words_between(words: Sequence[Word], start_s: float, end_s: float) -> list[Word]:
    """Words that lie (at least partly) inside [start_s, end_s]."""
    return [w for w in words if w.end > start_s and w.start < end_s]


def sentences_as_clip_groups(transcript: Transcript, start_s: float, end_s: float) -> list[Sentence]:
    """Sentences of the transcript inside a clip (for a clip's SRT/VTT)."""
    return [s for s in transcript.sentences if s.end > start_s and s.start < end_s]
