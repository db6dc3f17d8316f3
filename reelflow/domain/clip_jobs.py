"""Rules of the clipping product around the engine: project options, deterministic blob
names, the render-input hash (same inputs → same output, no re-render) and caption edits."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Sequence
from typing import Any

from reelflow.domain.clipping import (
    DEFAULT_CAPTION_STYLE,
    DEFAULT_PRESET,
    Word,
    get_caption_style,
    get_preset,
    words_between,
)
from reelflow.errors import InvalidInput

# Bump when the renderer's output for the same inputs changes (forces re-renders).
RENDER_VERSION = 2  # 2: clean cuts, fades, two-pass loudnorm, caption wrapping, face framing


def resolve_options(raw: dict[str, Any], *, defaults: dict[str, Any]) -> dict[str, Any]:
    """Validated project options, unset ones taken from `defaults` (the settings), stored on
    the project so that a later change of settings does not change a running project."""
    options = {key: value for key, value in raw.items() if value is not None}
    for key in ("min_len_s", "max_len_s", "top_n", "preset", "caption_style"):
        options.setdefault(key, defaults.get(key))
    options.setdefault("keywords", [])
    options["language"] = normalise_language(options.get("language"))
    options["preset"] = get_preset(options.get("preset") or DEFAULT_PRESET).name
    options["caption_style"] = get_caption_style(options.get("caption_style") or DEFAULT_CAPTION_STYLE).name
    options["min_len_s"] = float(options.get("min_len_s") or 15.0)
    options["max_len_s"] = float(options.get("max_len_s") or 60.0)
    options["top_n"] = int(options.get("top_n") or 5)
    if options["min_len_s"] > options["max_len_s"]:
        raise InvalidInput("min_len_s must not be larger than max_len_s", field="options.min_len_s")
    preset = get_preset(options["preset"])
    if options["max_len_s"] > preset.max_duration_s:
        raise InvalidInput(
            f"the {preset.name} preset allows clips up to {preset.max_duration_s:.0f} s", field="options.max_len_s"
        )
    return options


def normalise_language(value: Any) -> str:
    """ "auto" (detect) or a lower-case ISO 639-1/639-3 code; anything else is refused."""
    language = str(value or "auto").strip().lower()
    if language != "auto" and not re.fullmatch(r"[a-z]{2,3}", language):
        raise InvalidInput("language must be an ISO 639-1 code such as fr, or auto", field="options.language")
    return language


# --- blob names -------------------------------------------------------------------------


def source_key(project_id: uuid.UUID, extension: str) -> str:
    ext = extension if re.fullmatch(r"\.[a-z0-9]{1,5}", extension) else ".bin"
    return f"projects/{project_id}/source{ext}"


def audio_key(project_id: uuid.UUID) -> str:
    return f"projects/{project_id}/work/audio.wav"


def transcript_keys(project_id: uuid.UUID) -> dict[str, str]:
    base = f"projects/{project_id}/transcript"
    return {"json": f"{base}/transcript.json", "srt": f"{base}/transcript.srt", "vtt": f"{base}/transcript.vtt"}


def clip_prefix(project_id: uuid.UUID, clip_id: uuid.UUID) -> str:
    return f"projects/{project_id}/clips/{clip_id}"


def clip_keys(project_id: uuid.UUID, clip_id: uuid.UUID, render_hash: str) -> dict[str, str]:
    base = f"{clip_prefix(project_id, clip_id)}/{render_hash[:16]}"
    return {
        "video": f"{base}.mp4",
        "thumbnail": f"{base}.jpg",
        "poster": f"{base}-poster.jpg",
        "srt": f"{base}.srt",
    }


def poster_title(text: str, max_chars: int = 90) -> str:
    """The clip's opening sentence (its hook), shortened on a word boundary if long."""
    text = " ".join(text.split())
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    title = match.group(1) if match else text
    if len(title) > max_chars:
        title = title[: max_chars - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"
    return title


# --- render inputs ----------------------------------------------------------------------


def render_hash(
    *,
    source_key: str,
    transcript_key: str | None,
    start_s: float,
    end_s: float,
    preset: str,
    caption_style: str,
    caption_text: str | None,
) -> str:
    """A digest of everything a clip's render depends on; equal digests → equal files."""
    inputs = {
        "v": RENDER_VERSION,
        "source": source_key,
        "transcript": transcript_key,
        "start": round(start_s, 3),
        "end": round(end_s, 3),
        "preset": preset,
        "style": caption_style,
        "caption_text": caption_text,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def check_bounds(start_s: float, end_s: float, *, duration_s: float, max_len_s: float) -> None:
    if start_s < 0 or end_s <= start_s:
        raise InvalidInput("end_s must be after start_s, both within the source", field="end_s")
    if end_s > duration_s + 0.05:
        raise InvalidInput(f"end_s is past the end of the source ({duration_s:.2f} s)", field="end_s")
    if end_s - start_s < 1.0:
        raise InvalidInput("a clip is at least 1 second long", field="end_s")
    if end_s - start_s > max_len_s:
        raise InvalidInput(f"a clip is at most {max_len_s:.0f} s long", field="end_s")


def caption_words(words: Sequence[Word], start_s: float, end_s: float, caption_text: str | None) -> list[Word]:
    """The words shown as captions for a clip: the transcript's words inside the clip, or an
    editor's replacement text laid over the same spoken span. With as many words as were
    spoken, each keeps its spoken timing; otherwise the new words share the span evenly."""
    spoken = words_between(words, start_s, end_s)
    if caption_text is None:
        return spoken
    tokens = caption_text.split()
    if not tokens:
        return []
    if len(tokens) == len(spoken):
        return [Word(t, w.start, w.end, 1.0) for t, w in zip(tokens, spoken, strict=True)]
    span_start = spoken[0].start if spoken else start_s
    span_end = spoken[-1].end if spoken else end_s
    span_start, span_end = max(span_start, start_s), min(span_end, end_s)
    step = (span_end - span_start) / len(tokens)
    return [Word(t, span_start + i * step, span_start + (i + 1) * step, 1.0) for i, t in enumerate(tokens)]
