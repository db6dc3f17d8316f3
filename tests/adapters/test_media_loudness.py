"""Loudness of rendered clips, measured with ffmpeg's ebur128 (EBU R128 integrated loudness,
true peak by oversampling): -14 LUFS, true peak at most -1.5 dBTP, quiet and hot sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelflow.adapters.media import ffmpeg
from reelflow.domain import clipping as dc
from tests.media_helpers import SAMPLE_SPEECH, _ffmpeg


def _source(folder: Path, name: str, gain_db: float) -> Path:
    out = folder / f"{name}.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10", "-i", str(SAMPLE_SPEECH),
        "-t", "20", "-map", "0:v", "-map", "1:a", "-af", f"volume={gain_db}dB",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-shortest", str(out),
    )  # fmt: skip
    return out


@pytest.mark.parametrize(("name", "gain_db"), [("quiet", -20.0), ("hot", 8.0)])
def test_clip_is_normalised_to_minus_14_lufs_with_true_peak_below_minus_1_5(
    tmp_path: Path, name: str, gain_db: float
) -> None:
    source = _source(tmp_path, name, gain_db)
    src_i, src_tp = ffmpeg.loudness(source)
    if name == "hot":
        assert src_tp > -1.0  # the problem: peaks above the platforms' limit
    out = ffmpeg.render_clip(
        source, tmp_path / "clip.mp4", start_s=2.0, end_s=17.0, preset=dc.PRESETS["preview_540"], captions_ass=None
    )
    integrated, true_peak = ffmpeg.loudness(out)
    assert integrated == pytest.approx(-14.0, abs=1.0), (src_i, integrated)
    assert true_peak <= -1.5, (src_tp, true_peak)
