"""Test media made at test time with the bundled ffmpeg (no espeak-ng needed).

Speech comes from the committed sample `reelflow/samples/sample-talk.opus` (97 s of
synthetic English made once with espeak-ng from `sample-talk.txt`). Videos are small and
quick to encode (ultrafast, low frame rate) so tests stay fast on 2 cores.
"""

from __future__ import annotations

import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reelflow.adapters.media.ffmpeg import ffmpeg_binary

SAMPLES = Path(__file__).resolve().parents[1] / "reelflow" / "samples"
SAMPLE_SPEECH = SAMPLES / "sample-talk.opus"
SAMPLE_TEXT = SAMPLES / "sample-talk.txt"
SAMPLE_SPEECH_S = 96.8
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "media"
FRENCH_SPEECH = FIXTURES / "french-talk.opus"  # 17.7 s of French (espeak-ng, fixtures/media/french.txt)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def make_talk_video(
    out: Path,
    *,
    seconds: float = 40.0,
    size: str = "1280x720",
    fps: int = 15,
    offset_s: float = 0.0,
    loop: bool = False,
    crf: int = 32,
    preset: str = "ultrafast",
    speech: Path = SAMPLE_SPEECH,
) -> Path:
    """A test-pattern video (testsrc2) with the sample speech as AAC audio.

    `loop=True` repeats the speech to fill `seconds` (for long benchmark sources).
    """
    looping = ["-stream_loop", "-1"] if loop else []
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={fps}",
        *looping, "-ss", f"{offset_s}", "-i", str(speech),
        "-t", f"{seconds}", "-map", "0:v", "-map", "1:a",
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p", "-g", str(fps * 2),
        "-c:a", "aac", "-b:a", "64k", "-ac", "1", "-shortest", str(out),
    )  # fmt: skip
    return out


def make_silent_video(out: Path, *, seconds: float = 5.0, size: str = "640x360") -> Path:
    """A video whose audio track is digital silence."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10",
        "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono",
        "-t", f"{seconds}", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-shortest", str(out),
    )  # fmt: skip
    return out


def make_video_without_audio(out: Path, *, seconds: float = 3.0, size: str = "640x360") -> Path:
    """A video with no audio stream at all."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=10", "-t", f"{seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(out),
    )  # fmt: skip
    return out


def make_audio_only(out: Path, *, seconds: float = 10.0) -> Path:
    """An audio-only file (M4A) with the sample speech."""
    _ffmpeg("-i", str(SAMPLE_SPEECH), "-t", f"{seconds}", "-c:a", "aac", "-b:a", "64k", str(out))
    return out


def make_corrupt_copy(source: Path, out: Path) -> Path:
    """The first half of a valid MP4 with the header bytes scrambled: not decodable."""
    data = bytearray(source.read_bytes())
    half = data[: len(data) // 2]
    for i in range(0, min(len(half), 4096)):
        half[i] ^= 0x5A
    out.write_bytes(bytes(half))
    return out


def make_rotated_copy(source: Path, out: Path, *, degrees: int = 90) -> Path:
    """The same streams with a display rotation (as phones record portrait video)."""
    _ffmpeg("-display_rotation", str(degrees), "-i", str(source), "-c", "copy", str(out))
    return out


def _decode_16k(path: Path, out: Path) -> np.ndarray:
    _ffmpeg("-i", str(path), "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", str(out))
    with wave.open(str(out), "rb") as wf:
        return np.frombuffer(wf.readframes(wf.getnframes()), dtype=np.int16).astype(np.float32) / 32768.0


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as wf:
        wf.setnchannels(1)
        wf.setsampwidth(2)
        wf.setframerate(rate)
        wf.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def _music(seconds: float, rate: int = 16000, seed: int = 7) -> np.ndarray:
    """A synthetic music bed: a chord progression with tremolo and a noise hi-hat."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 329.6)]
    out = np.zeros_like(t)
    for k, chord in enumerate(chords * int(seconds // 8 + 1)):
        seg = (t >= k * 2.0) & (t < (k + 1) * 2.0)
        for f in chord:
            out[seg] += np.sin(2 * np.pi * f * t[seg]) / 3
    out *= 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t) ** 2
    hat = rng.standard_normal(len(t)) * (np.mod(t, 0.25) < 0.03)
    return (0.8 * out + 0.3 * hat).astype(np.float32)


@dataclass(frozen=True)
class LongMix:
    """A long recording: speech, silences, music alone, speech over music, speech over noise.

    `mix` is what is transcribed; `clean` is the same timeline with the voice only (the
    reference for speech-active time)."""

    mix: Path
    clean: Path
    duration_s: float


def make_long_mix(folder: Path, *, repeats: int = 1) -> LongMix:
    """~3.1 min per repeat (16 kHz mono WAVs made from the committed English sample)."""
    rate = 16000
    talk = _decode_16k(SAMPLE_SPEECH, folder / "talk16k.wav")
    rng = np.random.default_rng(3)

    def sec(a: float, b: float) -> np.ndarray:
        return talk[int(a * rate) : int(b * rate)]

    voice: list[np.ndarray] = []
    bed: list[np.ndarray] = []

    def add(v: np.ndarray, b: np.ndarray | None = None) -> None:
        voice.append(v)
        bed.append(np.zeros_like(v) if b is None else b[: len(v)])

    for _ in range(repeats):
        add(np.zeros(2 * rate, np.float32))
        add(sec(0, 45.2))
        add(np.zeros(4 * rate, np.float32))
        add(np.zeros(6 * rate, np.float32), 0.5 * _music(6))  # music alone
        part = sec(45.2, 96.8)
        add(part, 0.12 * _music(len(part) / rate + 1))  # speech over music (about -16 dB)
        add(np.zeros(3 * rate, np.float32))
        part = sec(0, 50.5)
        add(part, (0.02 * rng.standard_normal(len(part))).astype(np.float32))  # over noise
        add(np.zeros(2 * rate, np.float32))
        part = 0.1 * sec(50.5, 75.2)  # a quiet talker about 10 dB under loud music
        add(part, 0.3 * _music(len(part) / rate + 1))
    clean = np.concatenate(voice)
    mix = clean + np.concatenate(bed)
    return LongMix(
        mix=write_wav(folder / "long-mix.wav", mix),
        clean=write_wav(folder / "long-clean.wav", clean),
        duration_s=len(clean) / rate,
    )
