"""`LocalMediaEngine`: the `MediaEngine` protocol on this machine (PyAV probes, ffmpeg children,
faster-whisper, OpenCV faces).

Every call runs its blocking work in a thread through `children.in_thread`, so the event
loop (and the runtime's heartbeat) keeps running while ffmpeg or whisper works, and a
cancelled job stops its ffmpeg children and whisper at the next checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reelflow.adapters.media import children, faces, ffmpeg, whisper
from reelflow.adapters.media.ffmpeg import CropBox, RenderPreset
from reelflow.adapters.media.probe import MediaInfo, probe


class LocalMediaEngine:
    """Media work in this process's threads and ffmpeg children (the `media` queue's workers)."""

    async def probe(self, source: Path, *, scan: bool = False) -> MediaInfo:
        return await children.in_thread(probe, source, scan=scan)

    async def extract_audio(self, source: Path, wav: Path, *, info: MediaInfo | None = None) -> Path:
        return await children.in_thread(ffmpeg.extract_audio, source, wav, info=info)

    async def wav_duration(self, wav: Path) -> float:
        return await children.in_thread(ffmpeg.wav_duration, wav)

    async def audio_energy(self, wav: Path, window_s: float = 0.5) -> list[float]:
        return await children.in_thread(ffmpeg.audio_energy, wav, window_s)

    async def audio_levels(self, wav: Path, hop_s: float) -> list[float]:
        return await children.in_thread(ffmpeg.audio_levels, wav, hop_s)

    def is_silent(self, energy: list[float]) -> bool:
        return ffmpeg.is_silent(energy)

    async def transcribe(self, wav: Path, *, language: str | None = None) -> whisper.Transcription:
        return await children.in_thread(whisper.transcribe, wav, language=language)

    async def detect_faces(
        self, source: Path, start_s: float, end_s: float, *, info: MediaInfo | None = None
    ) -> list[tuple[float, list[faces.Box]]]:
        return await children.in_thread(faces.detect_faces, source, start_s, end_s, info=info)

    async def render_clip(
        self,
        source: Path,
        out: Path,
        *,
        start_s: float,
        end_s: float,
        preset: RenderPreset,
        captions_ass: Path | None,
        info: MediaInfo | None = None,
        crop: CropBox | None = None,
        pan: Sequence[tuple[float, int]] | None = None,
    ) -> Path:
        return await children.in_thread(
            ffmpeg.render_clip,
            source,
            out,
            start_s=start_s,
            end_s=end_s,
            preset=preset,
            captions_ass=captions_ass,
            info=info,
            crop=crop,
            pan=pan,
        )

    async def source_thumbnail(
        self,
        source: Path,
        at_s: float,
        out: Path,
        *,
        crop: CropBox | None,
        preset: RenderPreset,
        info: MediaInfo | None = None,
    ) -> Path:
        return await children.in_thread(ffmpeg.source_thumbnail, source, at_s, out, crop=crop, preset=preset, info=info)

    async def make_poster(
        self,
        frame: Path,
        title: str,
        out: Path,
        preset: RenderPreset,
        *,
        lines: Sequence[str] | None = None,
        font_px: int | None = None,
    ) -> Path:
        return await children.in_thread(ffmpeg.make_poster, frame, title, out, preset, lines=lines, font_px=font_px)
