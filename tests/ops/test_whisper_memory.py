"""The whisper model is loaded on first use and released after the idle time."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reelflow.adapters.media import whisper
from reelflow.adapters.media.ffmpeg import ffmpeg_binary


def test_model_is_loaded_lazily_and_released_when_idle(tmp_path: Path) -> None:
    wav = tmp_path / "tone.wav"
    subprocess.run(
        [ffmpeg_binary(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
         "-ac", "1", "-ar", "16000", str(wav)],
        check=True,
    )  # fmt: skip
    whisper.release_idle(0)
    assert whisper.loaded_models() == 0  # nothing loaded at import
    whisper.transcribe(wav, language="en", beam_size=1)  # one model: no detection
    assert whisper.loaded_models() == 1
    assert whisper.release_idle(3600) == 0  # used just now: kept
    assert whisper.release_idle(0) == 1  # idle: released
    assert whisper.loaded_models() == 0
    whisper.transcribe(wav, language="en", beam_size=1)  # one model: no detection  # loaded again on the next use
    assert whisper.loaded_models() == 1
    whisper.release_idle(0)
