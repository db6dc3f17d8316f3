"""Following the speaker with the 9:16 window (pure, no I/O).

Face boxes are sampled a few times a second (the media adapter's `faces.detect_faces`);
this module turns them into a smooth horizontal path for the crop: the main face per
sample (largest, preferring the one near the previous pick), gaps held, a dead zone so the
window does not wander while the speaker sways, a pan-speed limit, and the centre when no
face is found at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from reelflow.domain.render import CropBox, RenderPreset, centre_crop

Box = tuple[float, float, float, float]  # x, y, width, height in source pixels


@dataclass(frozen=True)
class CropPath:
    """The crop's size and its x offset over time: (seconds from the clip start, x)."""

    width: int
    height: int
    y: int
    keys: tuple[tuple[float, int], ...]
    tracked: bool  # False: no face was found, the centre crop is used

    def x_at(self, t: float) -> int:
        """The x offset at time t, linear between keys."""
        keys = self.keys
        if t <= keys[0][0]:
            return keys[0][1]
        for (t0, x0), (t1, x1) in itertools.pairwise(keys):
            if t <= t1:
                f = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
                x = x0 + (x1 - x0) * f
                return int(x) // 2 * 2
        return keys[-1][1]

    @property
    def first(self) -> CropBox:
        return CropBox(self.keys[0][1], self.y, self.width, self.height)


def main_face(faces: Sequence[Box], previous_cx: float | None) -> Box | None:
    """The face to follow: the largest, unless one within 1.5 face widths of the previous
    pick is at least half as large (no jumping between people on every sample)."""
    if not faces:
        return None
    largest = max(faces, key=lambda f: f[2] * f[3])
    if previous_cx is None:
        return largest
    near = [f for f in faces if abs(f[0] + f[2] / 2 - previous_cx) <= 1.5 * f[2]]
    if near:
        best_near = max(near, key=lambda f: f[2] * f[3])
        if best_near[2] * best_near[3] >= 0.5 * largest[2] * largest[3]:
            return best_near
    return largest


def crop_path(
    samples: Sequence[tuple[float, Sequence[Box]]],
    src_w: int,
    src_h: int,
    preset: RenderPreset,
    *,
    dead_zone: float = 0.12,
    max_speed: float = 0.35,
    smoothing: float = 0.5,
) -> CropPath:
    """A smooth path for the crop window from face samples ((t, boxes) with t in seconds
    from the clip start, boxes in display-oriented source pixels).

    The window keeps still while the face stays within `dead_zone` (a fraction of the
    window width) of its centre, eases towards it otherwise (`smoothing` per sample),
    never moves faster than `max_speed` window widths a second, holds its position
    while no face is seen and starts at the first face found. No face in any sample:
    the centre crop (`tracked=False`)."""
    base = centre_crop(src_w, src_h, preset)
    w, h, y = base.width, base.height, base.y
    max_x = src_w - w
    if max_x <= 0 or not samples:
        return CropPath(w, h, y, ((0.0, base.x),), tracked=False)
    targets: list[tuple[float, float | None]] = []
    previous: float | None = None
    for t, faces in samples:
        face = main_face(faces, previous)
        if face is None:
            targets.append((t, None))
            continue
        previous = face[0] + face[2] / 2
        targets.append((t, previous))
    seen = [c for _, c in targets if c is not None]
    if not seen:
        return CropPath(w, h, y, ((0.0, base.x),), tracked=False)

    def clamp(x: float) -> float:
        return min(max(x, 0.0), float(max_x))

    x = clamp(seen[0] - w / 2)
    keys: list[tuple[float, int]] = []
    last_t = targets[0][0]
    for t, c in targets:
        dt = max(0.0, t - last_t)
        last_t = t
        if c is not None:
            offset = c - (x + w / 2)
            if abs(offset) > dead_zone * w:
                step = smoothing * (offset - (dead_zone * w if offset > 0 else -dead_zone * w))
                limit = max_speed * w * max(dt, 1e-3)
                x = clamp(x + max(-limit, min(limit, step)))
        keys.append((round(t, 3), int(x) // 2 * 2))
    if keys[0][0] > 0:
        keys.insert(0, (0.0, keys[0][1]))
    return CropPath(w, h, y, tuple(keys), tracked=True)
