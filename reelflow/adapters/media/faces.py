"""Face detection for reframing: OpenCV's Haar cascade (it ships in opencv-python-headless
4.x: no model download) on small grey frames sampled a few times a second.

Frames come from the bundled ffmpeg (`fps` + `scale` + grey, as raw bytes on a pipe), so
rotation metadata is applied the same way as in the render, and only small frames reach
Python. Boxes are returned in display-oriented source pixels.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from reelflow.adapters.media.ffmpeg import ffmpeg_binary
from reelflow.adapters.media.probe import MediaInfo, probe
from reelflow.errors import InvalidInput

ANALYSIS_WIDTH = 480
Box = tuple[float, float, float, float]


@functools.lru_cache(maxsize=1)
def _cascade() -> Any:
    import cv2

    path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
    cascade = cv2.CascadeClassifier(str(path))
    if cascade.empty():  # pragma: no cover - a broken install
        raise InvalidInput("the OpenCV face model is missing", field="framing")
    return cascade


def detect_faces(
    source: Path, start_s: float, end_s: float, *, fps: float = 3.0, info: MediaInfo | None = None
) -> list[tuple[float, list[Box]]]:
    """Faces in the span, sampled `fps` times a second: [(seconds from start_s, boxes)]."""
    info = info or probe(source)
    src_w, src_h = info.display_width or 0, info.display_height or 0
    if not info.has_video or src_w <= 0 or src_h <= 0 or end_s <= start_s:
        return []
    w = min(ANALYSIS_WIDTH, src_w) // 2 * 2
    h = max(2, round(w * src_h / src_w / 2) * 2)
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error",
        # Frames only feed a face detector: skip the deblocking filter and take the fast paths.
        "-skip_loop_filter", "all", "-flags2", "+fast",
        "-ss", f"{max(0.0, start_s):.3f}", "-t", f"{end_s - start_s:.3f}", "-i", str(source),
        "-an", "-sn", "-vf", f"fps={fps},scale={w}:{h},format=gray", "-f", "rawvideo", "-",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        return []
    frame_bytes = w * h
    n = len(proc.stdout) // frame_bytes
    frames = np.frombuffer(proc.stdout[: n * frame_bytes], dtype=np.uint8).reshape(n, h, w)
    scale = src_w / w
    cascade = _cascade()
    out: list[tuple[float, list[Box]]] = []
    min_side = max(16, int(min(w, h) * 0.06))
    for k in range(n):
        found = cascade.detectMultiScale(frames[k], scaleFactor=1.1, minNeighbors=4, minSize=(min_side, min_side))
        boxes = [(float(x) * scale, float(y) * scale, float(bw) * scale, float(bh) * scale) for x, y, bw, bh in found]
        out.append((round(k / fps, 3), boxes))
    return out
