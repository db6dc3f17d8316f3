"""Render presets, crops and caption styles (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

from reelflow.errors import InvalidInput


@dataclass(frozen=True)
class RenderPreset:
    """Output format of a clip. `x264_preset=None` means the configured default."""

    name: str
    width: int
    height: int
    crf: int = 21
    x264_preset: str | None = None
    max_fps: float = 60.0
    audio_bitrate: str = "128k"
    maxrate: str = "8M"
    loudness_lufs: float = -14.0
    max_duration_s: float = 180.0


PRESETS: dict[str, RenderPreset] = {
    # TikTok and Shorts both recommend 1080x1920; Shorts accepts up to 3 minutes.
    "tiktok_1080": RenderPreset("tiktok_1080", 1080, 1920),
    "shorts_1080": RenderPreset("shorts_1080", 1080, 1920, max_duration_s=180.0),
    "reels_1080": RenderPreset("reels_1080", 1080, 1920, max_duration_s=90.0),
    "tiktok_720": RenderPreset("tiktok_720", 720, 1280, crf=22),
    "preview_540": RenderPreset("preview_540", 540, 960, crf=26, max_fps=30.0, audio_bitrate="96k", maxrate="2M"),
    "square_1080": RenderPreset("square_1080", 1080, 1080),
}
DEFAULT_PRESET = "tiktok_1080"


def get_preset(name: str) -> RenderPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise InvalidInput(f"unknown render preset {name!r}; known: {', '.join(PRESETS)}", field="preset") from None


@dataclass(frozen=True)
class CropBox:
    """A crop of the (display-oriented) source frame, even sizes and offsets."""

    x: int
    y: int
    width: int
    height: int


def _even(v: float) -> int:
    return max(2, int(v) // 2 * 2)


def crop_for_centre(src_w: int, src_h: int, preset: RenderPreset, centre_x: float, centre_y: float) -> CropBox:
    """Largest crop with the preset's aspect ratio around a centre point, clamped to the frame."""
    if src_w <= 0 or src_h <= 0:
        raise InvalidInput("the video has no frame size", field="source")
    target = preset.width / preset.height
    if src_w / src_h > target:
        h = _even(src_h)
        w = min(_even(h * target), _even(src_w))
    else:
        w = _even(src_w)
        h = min(_even(w / target), _even(src_h))
    x = round(min(max(centre_x - w / 2, 0), src_w - w))
    y = round(min(max(centre_y - h / 2, 0), src_h - h))
    return CropBox(x - x % 2, y - y % 2, w, h)


def centre_crop(src_w: int, src_h: int, preset: RenderPreset) -> CropBox:
    """The largest centred crop of the source with the preset's aspect ratio."""
    return crop_for_centre(src_w, src_h, preset, src_w / 2, src_h / 2)


@dataclass(frozen=True)
class CaptionStyle:
    """Look of burned-in captions. Sizes are in output pixels at the preset's height 1920
    and scale with the preset; colours are RGB hex ("FFFFFF")."""

    name: str
    font: str = "DejaVu Sans"
    font_size: int = 84
    bold: bool = True
    colour: str = "FFFFFF"
    highlight_colour: str = "FFE600"
    outline_colour: str = "000000"
    outline: float = 5.0
    shadow: float = 2.0
    box: bool = False
    uppercase: bool = False
    words_per_cue: int = 3
    max_lines: int = 2
    # Vertical position: distance of the caption's bottom from the frame's bottom, as a
    # fraction of the height (TikTok's own UI covers the bottom ~20 %).
    margin_bottom: float = 0.30
    margin_side: float = 0.08


CAPTION_STYLES: dict[str, CaptionStyle] = {
    "bold": CaptionStyle("bold"),
    "hormozi": CaptionStyle("hormozi", font_size=96, highlight_colour="39FF14", uppercase=True, words_per_cue=2),
    "minimal": CaptionStyle(
        "minimal", font_size=64, bold=False, highlight_colour="FFFFFF", outline=3.0, shadow=0.0, words_per_cue=5
    ),
    "boxed": CaptionStyle("boxed", font_size=72, box=True, outline=10.0, shadow=0.0, outline_colour="101010"),
}
DEFAULT_CAPTION_STYLE = "bold"


def get_caption_style(name: str) -> CaptionStyle:
    try:
        return CAPTION_STYLES[name]
    except KeyError:
        raise InvalidInput(
            f"unknown caption style {name!r}; known: {', '.join(CAPTION_STYLES)}", field="caption_style"
        ) from None
