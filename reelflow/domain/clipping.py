"""Clipping rules: the public face of the clipping domain (pure code, no I/O).

The media adapters (`reelflow.adapters.media`) produce transcripts and audio measurements
and consume presets, crops and caption text; the domain decides *what* to cut and *how it
should look*. The code lives in one module per concern, re-exported here:

- `transcript`  words, sentences, transcripts
- `speech`      speech activity from audio levels, word-timing clean-up, coverage, clean cut points
- `highlights`  candidate windows and their explainable scores
- `captions`    ASS (burned in), SRT and WebVTT cues within the broadcast limits
- `render`      render presets, crops and caption styles
- `framing`     following a face with the 9:16 window
"""

from __future__ import annotations

from reelflow.domain.captions import (
    build_ass,
    caption_cues,
    max_chars_per_line,
    to_srt,
    to_vtt,
)
from reelflow.domain.highlights import (
    FILLER_START,
    HOOK_OPENERS,
    QUESTION_OPENERS,
    STRONG_WORDS,
    TARGET_LEN_S,
    WEIGHTS,
    Highlight,
    detect_highlights,
    hook_strength,
)
from reelflow.domain.render import (
    CAPTION_STYLES,
    DEFAULT_CAPTION_STYLE,
    DEFAULT_PRESET,
    PRESETS,
    CaptionStyle,
    CropBox,
    RenderPreset,
    centre_crop,
    crop_for_centre,
    get_caption_style,
    get_preset,
)
from reelflow.domain.transcript import (
    Sentence,
    Transcript,
    Word,
    WordLike,
    join_words,
    language_verdict,
    sentences_as_clip_groups,
    split_sentences,
    words_between,
)

__all__ = [
    "CAPTION_STYLES",
    "DEFAULT_CAPTION_STYLE",
    "DEFAULT_PRESET",
    "FILLER_START",
    "HOOK_OPENERS",
    "PRESETS",
    "QUESTION_OPENERS",
    "STRONG_WORDS",
    "TARGET_LEN_S",
    "WEIGHTS",
    "CaptionStyle",
    "CropBox",
    "Highlight",
    "RenderPreset",
    "Sentence",
    "Transcript",
    "Word",
    "WordLike",
    "build_ass",
    "caption_cues",
    "centre_crop",
    "crop_for_centre",
    "detect_highlights",
    "get_caption_style",
    "get_preset",
    "hook_strength",
    "join_words",
    "language_verdict",
    "max_chars_per_line",
    "sentences_as_clip_groups",
    "split_sentences",
    "to_srt",
    "to_vtt",
    "words_between",
]
