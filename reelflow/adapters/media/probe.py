"""Media probing with PyAV (the bundled ffmpeg has no ffprobe)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error

from reelflow.errors import InvalidInput


@dataclass(frozen=True)
class MediaInfo:
    """What a media file holds. `width`/`height` are the coded size; `rotation` is the
    display rotation in degrees (0, 90, 180, 270), see `display_width`/`display_height`."""

    duration_s: float
    width: int | None
    height: int | None
    rotation: int
    fps: float | None
    has_video: bool
    has_audio: bool
    video_codec: str | None
    audio_codec: str | None
    size_bytes: int
    format_name: str = ""
    # With `probe(..., scan=True)`: where each stream's data really ends (seconds, by
    # stream type), read by demuxing the whole file. Empty when not scanned.
    stream_end_s: dict[str, float] = field(default_factory=dict)

    @property
    def display_width(self) -> int | None:
        return self.height if self.rotation in (90, 270) else self.width

    @property
    def display_height(self) -> int | None:
        return self.width if self.rotation in (90, 270) else self.height


def probe(path: Path, *, scan: bool = False) -> MediaInfo:
    """Read a file's streams and duration; decodes the first video frame to prove the
    stream is usable and to read its rotation. `scan=True` also demuxes the whole file
    (no decoding: about as fast as reading it) and records where each stream's data ends
    in `stream_end_s`, so a truncated file whose header declares the full length is caught
    (`reelflow.domain.ingest.verified_duration`).

    Raises InvalidInput for a missing, empty, non-media or corrupt file, and for a file
    with neither audio nor video.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path.name}: file not found", field="source")
    size = path.stat().st_size
    if size == 0:
        raise InvalidInput(f"{path.name}: the file is empty, not a video", field="source")
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{path.name}: not a video or audio file ({_reason(exc)})", field="source") from None
    try:
        with container:
            vstream = next(iter(container.streams.video), None)
            astream = next(iter(container.streams.audio), None)
            if vstream is None and astream is None:
                raise InvalidInput(f"{path.name}: not a video (no audio or video stream)", field="source")
            duration = _duration(container, vstream, astream)
            rotation = 0
            width = height = None
            fps = None
            if vstream is not None:
                width = vstream.codec_context.width or None
                height = vstream.codec_context.height or None
                rate = vstream.average_rate or vstream.guessed_rate
                fps = float(rate) if rate else None
                frame = _first_frame(container, vstream, path)
                rotation = round(getattr(frame, "rotation", 0) or 0) % 360
                width = width or frame.width
                height = height or frame.height
            ends = _stream_ends(path, vstream is not None, astream is not None) if scan else {}
            return MediaInfo(
                stream_end_s=ends,
                duration_s=duration,
                width=width,
                height=height,
                rotation=rotation,
                fps=fps,
                has_video=vstream is not None,
                has_audio=astream is not None,
                video_codec=vstream.codec_context.name if vstream is not None else None,
                audio_codec=astream.codec_context.name if astream is not None else None,
                size_bytes=size,
                format_name=container.format.name,
            )
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{path.name}: corrupt or unreadable media ({_reason(exc)})", field="source") from None


def _stream_ends(path: Path, has_video: bool, has_audio: bool) -> dict[str, float]:
    """End time (s) of the last packet of the first video and audio stream, demuxing to the
    end of the file; a read error ends the scan (what was read before it counts)."""
    ends: dict[str, float] = {}
    if has_video:
        ends["video"] = 0.0
    if has_audio:
        ends["audio"] = 0.0
    with av.open(str(path), metadata_errors="ignore") as container:
        first = (next(iter(container.streams.video), None), next(iter(container.streams.audio), None))
        streams = [s for s in first if s is not None]
        start: dict[str, float] = {
            s.type: float(s.start_time * s.time_base) if s.start_time and s.time_base else 0.0 for s in streams
        }
        try:
            for packet in container.demux(streams):
                if packet.pts is None or packet.time_base is None or packet.size == 0:
                    continue
                kind = packet.stream.type
                end = float((packet.pts + (packet.duration or 0)) * packet.time_base) - start.get(kind, 0.0)
                if end > ends.get(kind, 0.0):
                    ends[kind] = end
        except (av.error.FFmpegError, EOFError):
            pass
    return {k: round(v, 3) for k, v in ends.items()}


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _duration(container: av.container.InputContainer, *streams: av.stream.Stream | None) -> float:
    if container.duration:
        return container.duration / 1_000_000
    best = 0.0
    for s in streams:
        if s is not None and s.duration and s.time_base:
            best = max(best, float(s.duration * s.time_base))
    return best


def _first_frame(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path
) -> av.VideoFrame:
    for frame in container.decode(stream):
        return frame
    raise InvalidInput(f"{path.name}: corrupt video (no decodable frame)", field="source")
