"""Test media made at test time with the bundled ffmpeg (no espeak-ng needed).

Speech comes from the committed sample `reelflow/samples/sample-talk.opus` (97 s of
synthetic English made once with espeak-ng from `sample-talk.txt`). Videos are small and
quick to encode (ultrafast, low frame rate) so tests stay fast on 2 cores.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

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
