"""ffmpeg work: audio extraction, clip rendering, frames, thumbnails and posters.

Uses the static ffmpeg that `imageio-ffmpeg` ships (libx264, libass, drawtext) through
`ffmpeg-python`. Every clip is ONE encode from the source: seek, trim, crop, scale,
burned-in captions and loudness normalisation run in a single filter graph, so there is
no generation loss and no intermediate file. Outputs are written to a temporary name and
renamed, so a retried job never sees a half-written file.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import subprocess
import tempfile
import textwrap
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import av
import av.error
import ffmpeg
import imageio_ffmpeg
import numpy as np

from reelflow.adapters.media import children
from reelflow.adapters.media.probe import MediaInfo, probe
from reelflow.errors import InvalidInput, Permanent, Retryable
from reelflow.settings import get_settings

FONTS_DIR = Path(__file__).with_name("fonts")
FONT_FILE = FONTS_DIR / "DejaVuSans-Bold.ttf"
AUDIO_FADE_S = 0.05  # audio fade-in/out of every clip (30–80 ms hides a click, not a word)


class RenderPreset(Protocol):
    """What the renderer needs of a preset (`reelflow.domain.clipping.RenderPreset` fits;
    adapters may not import the domain, so the shape is stated here)."""

    @property
    def name(self) -> str: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def crf(self) -> int: ...
    @property
    def x264_preset(self) -> str | None: ...
    @property
    def max_fps(self) -> float: ...
    @property
    def audio_bitrate(self) -> str: ...
    @property
    def maxrate(self) -> str: ...
    @property
    def loudness_lufs(self) -> float: ...
    @property
    def max_duration_s(self) -> float: ...


class CropBox(Protocol):
    """A crop of the display-oriented source (`reelflow.domain.clipping.CropBox` fits)."""

    @property
    def x(self) -> int: ...
    @property
    def y(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...


@dataclass(frozen=True)
class _Crop:
    x: int
    y: int
    width: int
    height: int


def _centre_crop(src_w: int, src_h: int, out_w: int, out_h: int) -> _Crop:
    """Largest centred crop with the output's aspect ratio, even sizes (libx264 needs them)."""
    if src_w <= 0 or src_h <= 0:
        raise InvalidInput("the video has no frame size", field="source")
    target = out_w / out_h
    if src_w / src_h > target:
        h = src_h // 2 * 2
        w = min(int(h * target) // 2 * 2, src_w // 2 * 2)
    else:
        w = src_w // 2 * 2
        h = min(int(w / target) // 2 * 2, src_h // 2 * 2)
    x, y = (src_w - w) // 2, (src_h - h) // 2
    return _Crop(x - x % 2, y - y % 2, w, h)


@functools.lru_cache(maxsize=1)
def ffmpeg_binary() -> str:
    """Path of the bundled static ffmpeg."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _run(stream: Any, what: str) -> None:
    """Run ffmpeg as a tracked child (own process group, dies with the worker; see children.py).

    Killed by a signal (a deploy's SIGTERM to every process, a stop) is not the media's
    fault: Retryable (or Interrupted when this call was asked to stop), never Permanent."""
    argv = (
        stream.global_args("-hide_banner", "-nostdin", "-loglevel", "error")
        .overwrite_output()
        .compile(cmd=ffmpeg_binary())
    )
    code, _, err = children.run(argv)
    if code == 0:
        return
    children.checkpoint()
    if code < 0:
        raise Retryable(f"ffmpeg was stopped by signal {-code} while trying to {what}")
    tail = (err or b"").decode("utf-8", "replace").strip()[-800:]
    raise Permanent(f"ffmpeg failed to {what}: {tail or 'no message'}")


def _part(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.stem}.part{out.suffix}")


def extract_audio(source: Path, out_wav: Path, *, info: MediaInfo | None = None) -> Path:
    """Decode the source's first audio track to 16 kHz mono 16-bit PCM WAV (Whisper's input).

    Raises InvalidInput when the file is not media or has no audio track.
    """
    info = info or probe(source)
    if not info.has_audio:
        raise InvalidInput(f"{Path(source).name}: the video has no audio track, nothing to transcribe", field="source")
    part = _part(Path(out_wav))
    stream = ffmpeg.input(str(source)).output(str(part), vn=None, ac=1, ar=16000, acodec="pcm_s16le", f="wav")
    try:
        _run(stream, "extract the audio")
    except Permanent as exc:  # the input, not the machine: corrupt or unsupported audio
        raise InvalidInput(f"{Path(source).name}: the audio could not be decoded ({exc})", field="source") from None
    part.replace(out_wav)
    return Path(out_wav)


def audio_energy(wav: Path, window_s: float = 0.5) -> list[float]:
    """RMS level (0..1 of full scale) per `window_s` window of a 16-bit PCM WAV."""
    with wave.open(str(wav), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise InvalidInput("audio_energy expects 16-bit PCM WAV", field="wav")
        rate, channels = wf.getframerate(), wf.getnchannels()
        raw = wf.readframes(wf.getnframes())
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    window = max(1, int(rate * window_s))
    n = len(samples) // window
    if n == 0:
        return [float(np.sqrt(np.mean(samples**2)))] if len(samples) else []
    blocks = samples[: n * window].reshape(n, window)
    rms = np.sqrt(np.mean(blocks**2, axis=1))
    out = [float(v) for v in rms]
    rest = samples[n * window :]
    if len(rest) > window // 4:
        out.append(float(np.sqrt(np.mean(rest**2))))
    return out


def read_wav(wav: Path) -> tuple[np.ndarray, int]:
    """Samples of a 16-bit PCM WAV as float32 mono in -1..1, and the sample rate."""
    with wave.open(str(wav), "rb") as wf:
        if wf.getsampwidth() != 2:
            raise InvalidInput("expected a 16-bit PCM WAV", field="wav")
        rate, channels = wf.getframerate(), wf.getnchannels()
        raw = wf.readframes(wf.getnframes())
    samples = np.frombuffer(raw, dtype=np.int16).astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    return samples, rate


def wav_duration(wav: Path) -> float:
    """Length of a WAV file in seconds."""
    with wave.open(str(wav), "rb") as wf:
        return wf.getnframes() / float(wf.getframerate() or 1)


def audio_levels(wav: Path, hop_s: float = 0.01) -> list[float]:
    """RMS level in dBFS (floor -90) per `hop_s` frame of a 16-bit PCM WAV: the input of
    speech activity, word-timing clean-up and cut snapping (`reelflow.domain.speech`)."""
    samples, rate = read_wav(wav)
    hop = max(1, int(rate * hop_s))
    n = len(samples) // hop
    if n == 0:
        return []
    blocks = samples[: n * hop].reshape(n, hop).astype(np.float64)
    rms = np.sqrt(np.mean(blocks**2, axis=1))
    db = 20 * np.log10(np.maximum(rms, 10 ** (-90 / 20)))
    return [round(float(v), 2) for v in db]


def is_silent(energy: list[float], threshold: float = 0.003) -> bool:
    """True when no window rises above about -50 dBFS (a silent track)."""
    return not energy or max(energy) < threshold


def _escape_filter_path(path: Path) -> str:
    # ffmpeg-python quotes filter arguments, but the ass filter parses its own value again.
    return str(path).replace("\\", "/")


def render_clip(
    source: Path,
    out: Path,
    *,
    start_s: float,
    end_s: float,
    preset: RenderPreset,
    captions_ass: Path | None,
    crop: CropBox | None = None,
    info: MediaInfo | None = None,
    x264_preset: str | None = None,
    threads: int | None = None,
    pan: Sequence[tuple[float, int]] | None = None,
) -> Path:
    """Render one 9:16 clip in ONE encode: seek + trim + crop + scale + captions + loudness.

    `pan`: the crop's x offset over time ((seconds from `start_s`, x) keys, e.g. a face
    track from `reelflow.domain.framing.crop_path`), applied with `sendcmd` at 15 Hz with
    linear steps between keys; `crop` then gives the size, y and starting x.

    H.264 (High, yuv420p) + AAC 48 kHz in MP4 with `+faststart`. `crop` defaults to the
    centre crop; `captions_ass` is an ASS file whose times are relative to `start_s`.
    `x264_preset`/`threads` default to the settings. Raises InvalidInput for a bad span.
    """
    settings = get_settings()
    info = info or probe(source)
    if not info.has_video:
        raise InvalidInput(f"{Path(source).name}: not a video (no video stream)", field="source")
    start_s = max(0.0, start_s)
    if info.duration_s > 0 and (end_s > info.duration_s + 0.5 or start_s >= info.duration_s):
        raise InvalidInput(
            f"clip span {start_s:.2f}–{end_s:.2f} s lies outside the video ({info.duration_s:.2f} s)", field="end_s"
        )
    end_s = min(end_s, info.duration_s) if info.duration_s > 0 else end_s
    length = end_s - start_s
    if length <= 0.1:
        raise InvalidInput(f"clip span {start_s:.2f}–{end_s:.2f} s is empty", field="end_s")
    if length > preset.max_duration_s + 0.5:
        raise InvalidInput(
            f"clip is {length:.1f} s; preset {preset.name} allows at most {preset.max_duration_s:.0f} s", field="end_s"
        )
    src_w, src_h = info.display_width or 0, info.display_height or 0
    crop = crop or _centre_crop(src_w, src_h, preset.width, preset.height)

    inp = ffmpeg.input(str(source), ss=f"{start_s:.3f}", t=f"{length:.3f}")
    video = inp.video
    commands = _pan_commands(pan, length, max_x=src_w - crop.width) if pan else None
    if commands:
        cmd_file = _part(Path(out)).with_suffix(".cmd")
        cmd_file.write_text(commands, encoding="utf-8")
        video = video.filter("sendcmd", f=_escape_filter_path(cmd_file))
    video = video.filter("crop", crop.width, crop.height, crop.x, crop.y)
    video = video.filter("scale", preset.width, preset.height, flags="lanczos").filter("setsar", "1")
    if info.fps and info.fps > preset.max_fps + 0.5:
        video = video.filter("fps", preset.max_fps)
    if captions_ass is not None:
        video = video.filter("ass", _escape_filter_path(Path(captions_ass)), fontsdir=_escape_filter_path(FONTS_DIR))
    streams: list[Any] = [video]
    if info.has_audio:
        # Loudness: measure the clip's own audio, one gain to -14 LUFS, a true-peak limiter.
        gain = loudness_gain(source, start_s, length, target_lufs=preset.loudness_lufs) or 0.0
        audio = inp.audio
        for name, args in _loudness_filters(gain):
            audio = audio.filter(name, **args)
        # Short fades: a cut in silence still starts and ends without a click.
        fade = min(AUDIO_FADE_S, length / 4)
        audio = audio.filter("afade", t="in", st=0, d=f"{fade:.3f}")
        audio = audio.filter("afade", t="out", st=f"{max(0.0, length - fade):.3f}", d=f"{fade:.3f}")
        streams.append(audio)
    part = _part(Path(out))
    kwargs: dict[str, Any] = {
        "vcodec": "libx264",
        "preset": x264_preset or preset.x264_preset or settings.media.x264_preset,
        "crf": preset.crf,
        "maxrate": preset.maxrate,
        "bufsize": _double_rate(preset.maxrate),
        "pix_fmt": "yuv420p",
        "profile:v": "high",
        "movflags": "+faststart",
        "f": "mp4",
        # A keyframe every ~2 s: cheap seeking for previews and thumbnails (and the
        # platforms re-encode anyway), at a few percent of size.
        "g": max(1, round(2 * min(info.fps or 30.0, preset.max_fps))),
    }
    if info.has_audio:
        kwargs.update(acodec="aac", audio_bitrate=preset.audio_bitrate, ar=48000, ac=2)
    n_threads = settings.media.ffmpeg_threads if threads is None else threads
    if n_threads:
        kwargs["threads"] = n_threads
    try:
        _run(ffmpeg.output(*streams, str(part), **kwargs), "render the clip")
    finally:
        if commands:
            cmd_file.unlink(missing_ok=True)
    part.replace(out)
    return Path(out)


# Loudness targets: -14 LUFS integrated (the platforms' reference) and a true peak of at
# most -1.5 dBTP on the encoded AAC. The limiter aims lower (-2.2 dBTP, oversampled 4x)
# because AAC encoding adds up to about half a dB of inter-sample peak.
TRUE_PEAK_LIMIT_DBTP = -1.5
LIMITER_CEILING_DBTP = -2.2
LOUDNESS_PASSES = 4  # measurements: the source, then up to three corrections


def _loudness_filters(gain_db: float) -> list[tuple[str, dict[str, Any]]]:
    """Gain, a gentle speech compressor (2.5:1 above -12 dBFS) that lowers the peak-to-
    loudness ratio, then a true-peak limiter (at 192 kHz, so inter-sample peaks are
    caught) at `LIMITER_CEILING_DBTP`."""
    return [
        ("volume", {"volume": f"{gain_db:.2f}dB"}),
        ("acompressor", {"threshold": "0.25", "ratio": "2.5", "attack": "5", "release": "120"}),
        ("aresample", {"osr": "192000"}),
        ("alimiter", {"limit": f"{10 ** (LIMITER_CEILING_DBTP / 20):.4f}", "attack": "1", "release": "60",
                      "level": "false"}),
        ("aresample", {"osr": "48000"}),
    ]  # fmt: skip


def _loudness_chain(gain_db: float) -> str:
    return ",".join(
        name + "=" + ":".join(f"{k}={v}" for k, v in args.items()) for name, args in _loudness_filters(gain_db)
    )


def _integrated(source: Path, start_s: float, length_s: float, chain: str | None) -> float | None:
    """Integrated loudness (LUFS) of a span of the source's audio after `chain`."""
    af = f"{chain},ebur128" if chain else "ebur128"
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-nostats", "-ss", f"{max(0.0, start_s):.3f}",
        "-t", f"{length_s:.3f}", "-i", str(source), "-vn", "-sn", "-dn", "-af", af, "-f", "null", "-",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    summary = proc.stderr[proc.stderr.rfind("Summary:") :]
    match = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    if proc.returncode != 0 or not match:
        return None
    value = float(match.group(1))
    return value if value > -70 else None


def loudness_gain(source: Path, start_s: float, length_s: float, *, target_lufs: float) -> float | None:
    """The gain (dB) that brings a span's audio to `target_lufs` through `_loudness_chain`:
    measured first (pass 1), then re-measured through gain + limiter until within 0.3 LU
    (the limiter takes some loudness back from peaky speech). None for silence."""
    measured = _integrated(source, start_s, length_s, None)
    if measured is None:
        return None
    # Secant steps on gain → loudness (compression and limiting make it less than 1 dB per dB).
    gain, slope = target_lufs - measured, 1.0
    previous: tuple[float, float] | None = None
    for _ in range(LOUDNESS_PASSES - 1):
        after = _integrated(source, start_s, length_s, _loudness_chain(gain))
        if after is None or abs(after - target_lufs) <= 0.3:
            break
        if previous is not None and abs(gain - previous[0]) > 0.05:
            slope = min(1.0, max(0.2, (after - previous[1]) / (gain - previous[0])))
        previous = (gain, after)
        gain += (target_lufs - after) / slope
    return min(gain, 50.0)


def loudness(media: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP) of a file's audio, measured with
    ffmpeg's `ebur128` filter (EBU R128 / ITU-R BS.1770, true peak by 4x oversampling)."""
    cmd = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-i", str(media), "-vn", "-af", "ebur128=peak=true",
           "-f", "null", "-"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", check=False)
    summary = proc.stderr[proc.stderr.rfind("Summary:") :]
    i_match = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    p_match = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if proc.returncode != 0 or not i_match or not p_match:
        raise InvalidInput(f"{Path(media).name}: could not measure loudness", field="media")
    return float(i_match.group(1)), float(p_match.group(1))


def _pan_commands(pan: Sequence[tuple[float, int]], length: float, *, max_x: int, rate: float = 15.0) -> str:
    """sendcmd lines moving the crop's x along `pan` (linear between keys, even values)."""
    keys = sorted(pan)
    if len({x for _, x in keys}) <= 1:
        return ""
    lines = []
    steps = max(1, int(length * rate))
    last = None
    for k in range(steps + 1):
        t = k / rate
        x = keys[-1][1]
        if t <= keys[0][0]:
            x = keys[0][1]
        else:
            for (t0, x0), (t1, x1) in itertools.pairwise(keys):
                if t <= t1:
                    x = round(x0 + (x1 - x0) * ((t - t0) / (t1 - t0) if t1 > t0 else 1.0))
                    break
        x = min(max(0, int(x) // 2 * 2), max(0, max_x))
        if x != last:
            lines.append(f"{t:.3f} crop x {x};")
            last = x
    return "\n".join(lines) + "\n"


def _double_rate(rate: str) -> str:
    unit = rate[-1] if rate[-1].isalpha() else ""
    number = float(rate[:-1] if unit else rate)
    return f"{number * 2:g}{unit}"


def extract_frame(video: Path, at_s: float, out_jpg: Path, *, width: int | None = None) -> Path:
    """Write the frame at `at_s` as a JPEG (optionally scaled to `width`)."""
    part = _part(Path(out_jpg))
    stream = ffmpeg.input(str(video), ss=f"{max(0.0, at_s):.3f}").video
    if width:
        stream = stream.filter("scale", width, -2)
    _run(stream.output(str(part), vframes=1, q=3, f="image2", vcodec="mjpeg"), "extract a frame")
    if not part.exists() or part.stat().st_size == 0:
        raise InvalidInput(f"{Path(video).name}: no frame at {at_s:.2f} s", field="at_s")
    part.replace(out_jpg)
    return Path(out_jpg)


def _frame_features(frame: av.VideoFrame) -> tuple[np.ndarray, float]:
    """Colour histogram (4x4x4 bins, normalised) and sharpness (variance of the Laplacian)."""
    rgb = frame.to_ndarray(width=128, height=max(2, int(128 * frame.height / max(1, frame.width))), format="rgb24")
    q = (rgb // 64).astype(np.int32)
    idx = q[..., 0] * 16 + q[..., 1] * 4 + q[..., 2]
    hist = np.bincount(idx.ravel(), minlength=64).astype(np.float64)
    hist /= hist.sum() or 1.0
    gray = rgb.mean(axis=2)
    lap = -4 * gray[1:-1, 1:-1] + gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:]
    return hist, float(lap.var())


def representative_time(video: Path, *, start_s: float = 0.0, end_s: float | None = None, samples: int = 6) -> float:
    """Time of the most representative frame: among the keyframes (rendered clips have
    one every ~2 s; only keyframes are decoded, so this is cheap), the one closest to the
    mean colour histogram, preferring sharp frames (blur is penalised). Falls back to
    `samples` seeks when the video has fewer than 3 keyframes in the span."""
    feats: list[tuple[float, np.ndarray, float]] = []
    try:
        with av.open(str(video)) as container:
            stream = container.streams.video[0]
            duration = container.duration / 1_000_000 if container.duration else 0.0
            end = min(end_s, duration) if end_s is not None and duration else (end_s or duration)
            stream.codec_context.skip_frame = "NONKEY"
            for frame in container.decode(stream):
                t = frame.time or 0.0
                if t > end:
                    break
                if t >= start_s:
                    hist, sharp = _frame_features(frame)
                    feats.append((t, hist, sharp))
            if len(feats) < 3:
                feats = []
                stream.codec_context.skip_frame = "DEFAULT"
                span = max(0.0, end - start_s)
                times = [start_s + span * (k + 0.5) / samples for k in range(samples)] if span > 0 else [start_s]
                for t in times:
                    container.seek(int(t * 1_000_000), backward=True, any_frame=False)
                    for frame in container.decode(stream):
                        if frame.time is None or frame.time >= t - 0.05:
                            hist, sharp = _frame_features(frame)
                            feats.append((t, hist, sharp))
                            break
    except av.error.FFmpegError as exc:
        raise InvalidInput(f"{Path(video).name}: unreadable video ({exc})", field="video") from None
    if not feats:
        return start_s
    if len(feats) > 2:
        # The first and last keyframes are often a fade or a cut-in: skip them.
        feats = feats[1:-1] if len(feats) > 4 else feats
    mean = np.mean([h for _, h, _ in feats], axis=0)
    dists = np.array([float(np.abs(h - mean).sum()) for _, h, _ in feats])
    sharps = np.array([s for _, _, s in feats])
    sharp_n = sharps / max(float(sharps.max()), 1e-9)
    dist_n = dists / max(float(dists.max()), 1e-9)
    best = int(np.argmin(dist_n - 0.5 * sharp_n))
    return feats[best][0]


def source_thumbnail(
    source: Path,
    at_s: float,
    out_jpg: Path,
    *,
    crop: CropBox | None,
    preset: RenderPreset,
    info: MediaInfo | None = None,
) -> Path:
    """A thumbnail from the source (no burned-in captions): the frame at `at_s`, cropped
    like the clip and scaled to the preset."""
    info = info or probe(source)
    crop = crop or _centre_crop(info.display_width or 0, info.display_height or 0, preset.width, preset.height)
    part = _part(Path(out_jpg))
    stream = (
        ffmpeg.input(str(source), ss=f"{max(0.0, at_s):.3f}")
        .video.filter("crop", crop.width, crop.height, crop.x, crop.y)
        .filter("scale", preset.width, preset.height, flags="lanczos")
    )
    _run(stream.output(str(part), vframes=1, q=3, f="image2", vcodec="mjpeg"), "extract a thumbnail")
    if not part.exists() or part.stat().st_size == 0:
        raise InvalidInput(f"{Path(source).name}: no frame at {at_s:.2f} s", field="at_s")
    part.replace(out_jpg)
    return Path(out_jpg)


def make_thumbnail(video: Path, out_jpg: Path, *, samples: int = 6) -> Path:
    """JPEG of the clip's most representative frame (see `representative_time`)."""
    return extract_frame(video, representative_time(video, samples=samples), out_jpg)


def make_poster(
    frame_jpg: Path,
    title: str,
    out_jpg: Path,
    preset: RenderPreset,
    *,
    lines: Sequence[str] | None = None,
    font_px: int | None = None,
) -> Path:
    """A poster: the frame scaled to the preset with the title drawn in the top third
    (centred, on a translucent box), using the bundled DejaVu Sans Bold. `lines` and
    `font_px` come from `reelflow.domain.posters.fit_title` (whole words, scaled to fit);
    without them the title is wrapped at spaces at the default size (never mid-word)."""
    if lines is None:
        font_px = font_px or max(16, round(preset.height * 0.045))
        chars = max(8, int(preset.width * 0.84 / (font_px * 0.62)))
        lines = textwrap.wrap(" ".join(title.split()), width=chars, break_long_words=False, break_on_hyphens=False)
    font_px = font_px or max(16, round(preset.height * 0.045))
    lines = list(lines) or [""]
    part = _part(Path(out_jpg))
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as fh:
        fh.write("\n".join(lines))
        text_path = Path(fh.name)
    try:
        stream = (
            ffmpeg.input(str(frame_jpg))
            .video.filter("scale", preset.width, preset.height, force_original_aspect_ratio="increase")
            .filter("crop", preset.width, preset.height)
            .filter(
                "drawtext",
                fontfile=_escape_filter_path(FONT_FILE),
                textfile=_escape_filter_path(text_path),
                fontsize=font_px,
                fontcolor="white",
                line_spacing=round(font_px * 0.25),
                text_align="C",
                box=1,
                boxcolor="black@0.55",
                boxborderw=round(font_px * 0.4),
                x="(w-text_w)/2",
                y="h*0.14",
                expansion="none",
            )
        )
        _run(stream.output(str(part), vframes=1, q=3, f="image2", vcodec="mjpeg"), "draw the poster")
    finally:
        os.unlink(text_path)
    part.replace(out_jpg)
    return Path(out_jpg)
