"""Clipping engine benchmark: a 10-minute 1080p source with speech → 5 captioned 9:16 clips.

Runs the engine functions directly, stage by stage (extract audio, transcribe, highlights,
render ×5, thumbnails + posters), then, in the same run, a naive baseline that makes each
clip in separate full re-encodes (cut with output seeking → temp file, crop+scale → temp
file, burn captions + loudnorm → final), as scripts glued from ffmpeg one-liners do.

    python bench/clipping.py [--minutes 10] [--json PATH] [--render-workers 1]
                             [--x264-preset veryfast] [--no-baseline] [--presets]
                             [--coverage-repeats 1]

The generated source is cached (`--source` to choose where); generating it is not timed.
JSON keys: source_s, transcribe_rtf, total_s, total_ratio, peak_mem_mb, baseline_total_s,
clips (+ stages, settings, preset comparison when asked), and the quality figures:
coverage (speech-active time with words, long mixed recording), language_ok (the French
sample detected as French, multilingual model), cut_in_word (clip boundaries inside a word,
all clips), true_peak_dbtp (max over clips, ebur128), precision_at_5 (labelled set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reelflow.adapters.media import faces
from reelflow.adapters.media import ffmpeg as ff
from reelflow.adapters.media.probe import probe
from reelflow.adapters.media.whisper import default_model_path, load_model, transcribe
from reelflow.domain import clipping as dc
from reelflow.domain import speech as sp
from reelflow.domain.framing import CropPath, crop_path
from reelflow.domain.highlights import CutRules
from reelflow.domain.posters import fit_title, thumbnail_time
from tests.highlight_eval import precision_at
from tests.media_helpers import FIXTURES, FRENCH_SPEECH, SAMPLE_SPEECH, make_long_mix

FACE = FIXTURES / "astronaut-face.jpg"


class PeakMemory:
    """Samples the RSS of this process plus all its children (ffmpeg) every 50 ms."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            try:
                total = me.memory_info().rss
                for child in me.children(recursive=True):
                    try:
                        total += child.memory_info().rss
                    except psutil.Error:
                        pass
            except psutil.Error:
                pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _cpu() -> float:
    """CPU seconds used so far by this process and its finished children (ffmpeg)."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _load() -> float:
    return os.getloadavg()[0]


def _ffmpeg(*args: str) -> None:
    subprocess.run([ff.ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args], check=True)


def source_video(path: Path, minutes: float) -> Path:
    if path.exists() and abs(probe(path).duration_s - minutes * 60) < 1:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating a {minutes:g}-minute 1920x1080 source at {path} (not timed) ...", flush=True)
    # A test pattern with a face (the astronaut still) drifting left and right, so that the
    # subject tracking has someone to follow; the sample speech looped.
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-loop", "1", "-i", str(FACE),
        "-stream_loop", "-1", "-i", str(SAMPLE_SPEECH), "-t", f"{minutes * 60}",
        "-filter_complex", "[1:v]scale=500:600[f];[0:v][f]overlay=x='700+550*sin(t/9)':y=240:shortest=1[v]",
        "-map", "[v]", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "26",
        "-pix_fmt", "yuv420p", "-g", "60", "-c:a", "aac", "-b:a", "64k", "-ac", "1", str(path),
    )  # fmt: skip
    return path


def render_all(
    src: Path, work: Path, highlights: list[dc.Highlight], transcript: dc.Transcript, *,
    preset: dc.RenderPreset, x264: str, workers: int, tag: str, paths: list[CropPath] | None = None,
) -> list[Path]:  # fmt: skip
    """Render every highlight (captions: the default style; the face-tracked crop when
    `paths` are given), `workers` ffmpeg processes at a time."""
    info = probe(src)
    style = dc.CAPTION_STYLES["bold"]

    def render(k: int, h: dc.Highlight) -> Path:
        ass = work / f"{tag}{k}.ass"
        ass.write_text(
            dc.build_ass(transcript.words, clip_start_s=h.start_s, clip_end_s=h.end_s, style=style, preset=preset),
            encoding="utf-8",
        )
        path = paths[k] if paths else None
        return ff.render_clip(
            src, work / f"{tag}{k}.mp4", start_s=h.start_s, end_s=h.end_s, preset=preset,
            captions_ass=ass, info=info, x264_preset=x264,
            crop=path.first if path else None, pan=path.keys if path and path.tracked else None,
        )  # fmt: skip

    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda kh: render(*kh), enumerate(highlights)))
    return [render(k, h) for k, h in enumerate(highlights)]


def run_pipeline(
    src: Path, work: Path, *, preset: dc.RenderPreset, x264: str, workers: int, top_n: int
) -> dict[str, Any]:
    stages: dict[str, float] = {}
    t_all = time.perf_counter()
    cpu0 = _cpu()

    t = time.perf_counter()
    info = probe(src)
    wav = ff.extract_audio(src, work / "audio.wav", info=info)
    energy = ff.audio_energy(wav)
    stages["extract_audio"] = time.perf_counter() - t

    t = time.perf_counter()
    load_model()
    stages["load_model"] = time.perf_counter() - t
    t = time.perf_counter()
    asr = transcribe(wav, language="auto")  # detection + transcription, as the pipeline does
    levels = ff.audio_levels(wav, 0.01)
    words = sp.refine_word_times([dc.Word(w.text, w.start, w.end, w.probability) for w in asr.words], levels, 0.01)
    stages["transcribe"] = time.perf_counter() - t
    transcript = dc.Transcript.from_words(words, language=asr.language, duration_s=asr.duration_s)

    t = time.perf_counter()
    gaps = tuple(sp.cut_gaps(levels, 0.01))
    highlights = dc.detect_highlights(
        transcript, energy=energy, min_len_s=30, max_len_s=60, top_n=top_n, cuts=CutRules(gaps=gaps)
    )
    stages["highlights"] = time.perf_counter() - t

    t = time.perf_counter()
    paths = [
        crop_path(faces.detect_faces(src, h.start_s, h.end_s, info=info), info.display_width or 0,
                  info.display_height or 0, preset)
        for h in highlights
    ]  # fmt: skip
    stages["subject_tracking"] = time.perf_counter() - t

    t = time.perf_counter()
    outs = render_all(
        src, work, highlights, transcript, preset=preset, x264=x264, workers=workers, tag="clip", paths=paths
    )
    stages["render"] = time.perf_counter() - t

    t = time.perf_counter()
    for k, h in enumerate(highlights):
        at = thumbnail_time(transcript.words, h.start_s, h.end_s)
        path = paths[k]
        crop = dc.CropBox(path.x_at(at), path.y, path.width, path.height)
        thumb = ff.source_thumbnail(src, h.start_s + at, work / f"thumb{k}.jpg", crop=crop, preset=preset, info=info)
        title = h.text.split(".")[0][:90]
        layout = fit_title(title, preset.width, preset.height)
        ff.make_poster(thumb, title, work / f"poster{k}.jpg", preset, lines=layout.lines, font_px=layout.font_px)
    stages["thumbnails"] = time.perf_counter() - t

    total = time.perf_counter() - t_all
    cpu = _cpu() - cpu0
    clips = [
        {
            "start_s": h.start_s,
            "end_s": h.end_s,
            "duration_s": round(h.duration_s, 2),
            "score": h.score,
            "reasons": h.reasons,
            "size_bytes": out.stat().st_size,
        }
        for h, out in zip(highlights, outs, strict=True)
    ]
    loud = [ff.loudness(out) for out in outs]
    cuts_in_words = sum(
        sp.cut_in_word(b, transcript.words, levels, 0.01) for h in highlights for b in (h.start_s, h.end_s)
    )
    return {
        "language": asr.language,
        "cut_in_word": cuts_in_words,
        "true_peak_dbtp": max(tp for _, tp in loud),
        "integrated_lufs": [i for i, _ in loud],
        "tracked_clips": sum(1 for p in paths if p.tracked),
        "stages": {k: round(v, 2) for k, v in stages.items()},
        "total_s": round(total, 2),
        "cpu_s": round(cpu, 1),
        "transcribe_rtf": round(stages["transcribe"] / asr.duration_s, 4),
        "words": len(transcript.words),
        "clips": clips,
        "highlights": highlights,
        "transcript": transcript,
    }


def run_baseline(
    src: Path, work: Path, highlights: list[dc.Highlight], transcript: dc.Transcript, *,
    preset: dc.RenderPreset, x264: str,
) -> dict[str, Any]:  # fmt: skip
    """Naive: three full re-encodes per clip (cut → crop+scale → captions+loudnorm), each to a
    temp file. The cut seeks on the input side (`-ss` before `-i`), as the seeds' renderer does
    (research/clipping.md): ffmpeg jumps to the keyframe before the start and decodes from
    there, exactly like the engine's one-encode render; only the extra encodes differ."""
    info = probe(src)
    crop = dc.centre_crop(info.display_width or 0, info.display_height or 0, preset)
    enc = ["-c:v", "libx264", "-preset", x264, "-crf", str(preset.crf), "-pix_fmt", "yuv420p"]
    t_all = time.perf_counter()
    cpu0 = _cpu()
    for k, h in enumerate(highlights):
        cut, cropped, final = work / f"b{k}_cut.mp4", work / f"b{k}_crop.mp4", work / f"b{k}.mp4"
        ass = work / f"b{k}.ass"
        ass.write_text(
            dc.build_ass(
                transcript.words, clip_start_s=h.start_s, clip_end_s=h.end_s,
                style=dc.CAPTION_STYLES["bold"], preset=preset,
            ),
            encoding="utf-8",
        )  # fmt: skip
        _ffmpeg("-ss", f"{h.start_s:.3f}", "-i", str(src), "-t", f"{h.duration_s:.3f}", *enc, "-c:a", "aac", str(cut))
        _ffmpeg(
            "-i", str(cut), "-vf",
            f"crop={crop.width}:{crop.height}:{crop.x}:{crop.y},scale={preset.width}:{preset.height}",
            *enc, "-c:a", "aac", str(cropped),
        )  # fmt: skip
        _ffmpeg(
            "-i", str(cropped), "-vf", f"ass={ass}:fontsdir={ff.FONTS_DIR}", "-af", "loudnorm=I=-14:TP=-1.5:LRA=11",
            *enc, "-c:a", "aac", "-ar", "48000", "-movflags", "+faststart", str(final),
        )  # fmt: skip
    return {"baseline_total_s": round(time.perf_counter() - t_all, 2), "baseline_cpu_s": round(_cpu() - cpu0, 1)}


def quality_checks(work: Path, *, coverage_repeats: int) -> dict[str, Any]:
    """coverage on the long mixed recording (speech, silence, music alone, speech under loud
    music, speech over noise; reference = the clean voice), language_ok on the French sample,
    precision_at_5 on the labelled highlight set."""
    out: dict[str, Any] = {}
    mix = make_long_mix(work, repeats=coverage_repeats)
    t = time.perf_counter()
    asr = transcribe(mix.mix, language="en")
    speech = sp.active_spans(ff.audio_levels(mix.clean, 0.01), 0.01)
    report = sp.transcript_coverage(speech, [dc.Word(w.text, w.start, w.end) for w in asr.words])
    out["coverage"] = round(report.coverage, 4)
    out["coverage_longest_gap_s"] = round(report.longest_gap_s, 2)
    out["coverage_audio_s"] = round(mix.duration_s, 1)
    out["coverage_transcribe_rtf"] = round((time.perf_counter() - t) / mix.duration_s, 4)
    fr = transcribe(ff.extract_audio(FRENCH_SPEECH, work / "fr.wav"), language="auto")
    out["language_detected"] = f"{fr.language} (p={fr.language_probability:.2f})"
    out["language_ok"] = int(fr.language == "fr" and fr.model != default_model_path())
    out["precision_at_5"] = round(precision_at(5)[0], 3)
    return out


def compare_presets(src: Path, work: Path, start_s: float, length: float) -> list[dict[str, Any]]:
    """One 1080x1920 captioned clip per x264 preset, sequential; then two clips at once."""
    preset = dc.PRESETS["tiktok_1080"]
    rows = []
    for name in ("ultrafast", "superfast", "veryfast", "faster", "medium"):
        t = time.perf_counter()
        out = ff.render_clip(
            src, work / f"p_{name}.mp4", start_s=start_s, end_s=start_s + length, preset=preset,
            captions_ass=None, x264_preset=name,
        )  # fmt: skip
        wall = time.perf_counter() - t
        rows.append({"x264_preset": name, "clip_s": length, "wall_s": round(wall, 2),
                     "x_realtime": round(wall / length, 3), "size_bytes": out.stat().st_size})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--source", type=Path, default=Path(tempfile.gettempdir()) / "reelflow-bench" / "src.mp4")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--render-workers", type=int, default=1)
    parser.add_argument("--x264-preset", default=None, help="default: the clip_x264_preset setting")
    parser.add_argument("--preset", default="tiktok_1080")
    parser.add_argument("--top-n", type=int, default=5)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--coverage-repeats", type=int, default=1, help="3.1 min of mixed audio per repeat")
    parser.add_argument("--presets", action="store_true", help="also compare x264 presets on one 30 s clip")
    parser.add_argument(
        "--compare-workers", type=int, default=0, help="also re-render the same clips with this many workers"
    )
    args = parser.parse_args()

    from reelflow.settings import get_settings

    x264 = args.x264_preset or get_settings().media.x264_preset
    preset = dc.get_preset(args.preset)
    src = source_video(args.source.resolve(), args.minutes)
    info = probe(src)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, {platform.python_version()}",
        "source_s": round(info.duration_s, 2),
        "source": f"{info.width}x{info.height} {info.fps:g} fps {info.video_codec}/{info.audio_codec}",
        "preset": preset.name,
        "x264_preset": x264,
        "render_workers": args.render_workers,
    }
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp:
        work = Path(tmp)
        result["load_avg_before"] = round(_load(), 2)
        with PeakMemory() as mem:
            run = run_pipeline(src, work, preset=preset, x264=x264, workers=args.render_workers, top_n=args.top_n)
        highlights, transcript = run.pop("highlights"), run.pop("transcript")
        result.update(run)
        result["load_avg_after"] = round(_load(), 2)
        result["total_ratio"] = round(run["total_s"] / info.duration_s, 4)
        result.update(quality_checks(work, coverage_repeats=args.coverage_repeats))
        result["peak_mem_mb"] = round(mem.peak / 2**20, 1)
        result["peak_rss_self_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        print(json.dumps({k: v for k, v in result.items() if k != "clips"}, indent=2), flush=True)
        if not args.no_baseline:
            base = run_baseline(src, work, highlights, transcript, preset=preset, x264=x264)
            result.update(base)
            result["baseline_ratio"] = round(base["baseline_total_s"] / info.duration_s, 4)
            render_only = run["stages"]["render"]
            result["speedup_render_vs_baseline"] = round(base["baseline_total_s"] / render_only, 2)
            result["load_avg_after_baseline"] = round(_load(), 2)
        else:
            result["baseline_total_s"] = None
        if args.compare_workers:
            t, c = time.perf_counter(), _cpu()
            render_all(src, work, highlights, transcript, preset=preset, x264=x264,
                       workers=args.compare_workers, tag="w")  # fmt: skip
            result["render_compare"] = {
                "workers": args.compare_workers,
                "render_s": round(time.perf_counter() - t, 2),
                "cpu_s": round(_cpu() - c, 1),
                "vs_render_s_with_workers_" + str(args.render_workers): run["stages"]["render"],
            }
        if args.presets:
            result["x264_presets"] = compare_presets(src, work, start_s=60.0, length=30.0)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
