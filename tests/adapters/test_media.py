"""Media adapters on real media: PyAV probing, ffmpeg rendering, faster-whisper.

Test media is made at test time from the committed speech sample (tests/media_helpers.py)
and kept short; renders use the 540x960 preview preset except one at 1080x1920.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from reelflow.adapters.media import ffmpeg as ff
from reelflow.adapters.media.probe import probe
from reelflow.adapters.media.whisper import Transcription, transcribe
from reelflow.domain import clipping as dc
from reelflow.errors import InvalidInput
from tests import media_helpers as mh

TALK_S = 40.0


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def talk_video(media_dir: Path) -> Path:
    return mh.make_talk_video(media_dir / "talk.mp4", seconds=TALK_S)


@pytest.fixture(scope="module")
def talk_wav(talk_video: Path, media_dir: Path) -> Path:
    return ff.extract_audio(talk_video, media_dir / "talk.wav")


@pytest.fixture(scope="module")
def asr(talk_wav: Path) -> Transcription:
    return transcribe(talk_wav)


@pytest.fixture(scope="module")
def transcript(asr: Transcription) -> dc.Transcript:
    return dc.Transcript.from_words(asr.words, language=asr.language, duration_s=asr.duration_s)


def _streams(path: Path) -> tuple[str, str | None, int, int, float]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        a = c.streams.audio[0] if c.streams.audio else None
        return (
            v.codec_context.name,
            a.codec_context.name if a else None,
            v.codec_context.width,
            v.codec_context.height,
            (c.duration or 0) / 1_000_000,
        )


def _frame_at(path: Path, t: float) -> np.ndarray:
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if frame.time is not None and frame.time >= t:
                return frame.to_ndarray(format="rgb24").astype(np.int16)
    raise AssertionError(f"no frame at {t}")


# --- probe ---------------------------------------------------------------------------


def test_probe_reads_streams_and_duration(talk_video: Path) -> None:
    info = probe(talk_video)
    assert info.has_video and info.has_audio
    assert (info.width, info.height, info.rotation) == (1280, 720, 0)
    assert info.video_codec == "h264" and info.audio_codec == "aac"
    assert abs(info.duration_s - TALK_S) < 0.5
    assert info.fps == pytest.approx(15, abs=0.1)
    assert info.size_bytes == talk_video.stat().st_size


def test_probe_rejects_files_that_are_not_video(tmp_path: Path, talk_video: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video at all\n" * 20)
    with pytest.raises(InvalidInput, match="not a video"):
        probe(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="empty"):
        probe(empty)
    corrupt = mh.make_corrupt_copy(talk_video, tmp_path / "corrupt.mp4")
    with pytest.raises(InvalidInput) as exc:
        probe(corrupt)
    assert exc.value.field == "source"


def test_audio_only_and_no_audio_files(tmp_path: Path) -> None:
    audio = probe(mh.make_audio_only(tmp_path / "a.m4a", seconds=3))
    assert audio.has_audio and not audio.has_video and audio.width is None
    mute = mh.make_video_without_audio(tmp_path / "mute.mp4")
    assert not probe(mute).has_audio
    with pytest.raises(InvalidInput, match="no audio track"):
        ff.extract_audio(mute, tmp_path / "mute.wav")


# --- audio + whisper ------------------------------------------------------------------


def test_extract_audio_is_16k_mono_wav_and_energy_follows_speech(talk_wav: Path) -> None:
    import wave

    with wave.open(str(talk_wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert abs(w.getnframes() / 16000 - TALK_S) < 0.5
    energy = ff.audio_energy(talk_wav, window_s=0.5)
    assert len(energy) == pytest.approx(TALK_S / 0.5, abs=2)
    assert not ff.is_silent(energy)
    assert max(energy) > 5 * min(energy)  # speech vs pauses


def test_transcript_has_the_spoken_words_with_times(asr: Transcription, transcript: dc.Transcript) -> None:
    spoken = {w.text.lower().strip(".,?!") for w in transcript.words}
    expected = {"creators", "quit", "month", "answer", "truth", "nobody", "video", "question", "pricing", "audience"}
    assert len(expected & spoken) >= 7, spoken
    times = [(w.start, w.end) for w in transcript.words]
    assert all(0 <= s <= e <= TALK_S + 0.5 for s, e in times)
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(times))
    assert all(0 <= w.probability <= 1 for w in transcript.words)
    assert asr.language == "en" and asr.duration_s == pytest.approx(TALK_S, abs=0.5)
    # "Why do most creators quit after their first month?" is said in the first ~4 s.
    creators = next(w for w in transcript.words if w.text.lower().startswith("creators"))
    assert 0.2 < creators.start < 3.0
    assert len(transcript.sentences) >= 5


def test_silence_gives_no_words_and_highlights_refuse(tmp_path: Path) -> None:
    silent = mh.make_silent_video(tmp_path / "silent.mp4", seconds=4)
    wav = ff.extract_audio(silent, tmp_path / "silent.wav")
    assert ff.is_silent(ff.audio_energy(wav))
    asr = transcribe(wav)
    assert asr.words == ()
    empty = dc.Transcript.from_words(asr.words, language=asr.language, duration_s=asr.duration_s)
    with pytest.raises(InvalidInput, match="no speech"):
        dc.detect_highlights(empty)


# --- highlights on real speech + render ------------------------------------------------


def test_highlights_on_real_speech_never_cut_a_word(transcript: dc.Transcript, talk_wav: Path) -> None:
    hs = dc.detect_highlights(transcript, energy=ff.audio_energy(talk_wav), min_len_s=8, max_len_s=20, top_n=3)
    assert len(hs) >= 2
    for h in hs:
        assert 8 <= h.duration_s <= 20
        for w in transcript.words:
            assert w.end <= h.start_s or w.start >= h.end_s or (h.start_s <= w.start and w.end <= h.end_s)


@pytest.fixture(scope="module")
def rendered(transcript: dc.Transcript, talk_video: Path, media_dir: Path) -> dict[str, Path | dc.Highlight]:
    h = dc.detect_highlights(transcript, min_len_s=6, max_len_s=10, top_n=1)[0]
    preset = dc.PRESETS["preview_540"]
    ass = media_dir / "clip.ass"
    words = dc.words_between(transcript.words, h.start_s, h.end_s)
    ass.write_text(
        dc.build_ass(words, clip_start_s=h.start_s, clip_end_s=h.end_s, style=dc.CAPTION_STYLES["boxed"], preset=preset)
    )
    with_captions = ff.render_clip(
        talk_video, media_dir / "clip.mp4", start_s=h.start_s, end_s=h.end_s, preset=preset, captions_ass=ass
    )
    without = ff.render_clip(
        talk_video, media_dir / "plain.mp4", start_s=h.start_s, end_s=h.end_s, preset=preset, captions_ass=None
    )
    return {"highlight": h, "captions": with_captions, "plain": without}


def test_rendered_clip_is_h264_aac_at_preset_size_and_duration(rendered: dict) -> None:
    h = rendered["highlight"]
    vcodec, acodec, w, hgt, duration = _streams(rendered["captions"])
    assert (vcodec, acodec, w, hgt) == ("h264", "aac", 540, 960)
    assert duration == pytest.approx(h.duration_s, abs=0.2)
    data = rendered["captions"].read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # +faststart: index before the media data
    assert not list(rendered["captions"].parent.glob(".*.part.*"))


def test_captions_are_burned_in(rendered: dict) -> None:
    h = rendered["highlight"]
    first_word_t = 0.3  # a caption is on screen while the first word is spoken
    a = _frame_at(rendered["captions"], first_word_t + (h.duration_s / 4))
    b = _frame_at(rendered["plain"], first_word_t + (h.duration_s / 4))
    band = slice(int(960 * 0.45), int(960 * 0.75))  # where captions sit (margin_bottom 30 %)
    assert np.abs(a[band] - b[band]).mean() > 3.0
    top = slice(0, int(960 * 0.3))
    assert np.abs(a[top] - b[top]).mean() < 3.0  # the rest of the frame is the same picture


def test_thumbnail_and_poster(rendered: dict, media_dir: Path) -> None:
    thumb = ff.make_thumbnail(rendered["captions"], media_dir / "thumb.jpg")
    poster = ff.make_poster(
        thumb, "Why do most creators quit after their first month?", media_dir / "poster.jpg", dc.PRESETS["preview_540"]
    )
    for path in (thumb, poster):
        assert path.read_bytes()[:2] == b"\xff\xd8"  # JPEG
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            assert (stream.codec_context.width, stream.codec_context.height) == (540, 960)
    t = ff.representative_time(rendered["captions"])
    assert 0 <= t <= rendered["highlight"].duration_s
    assert np.abs(_frame_at(poster, 0)[: 960 // 3] - _frame_at(thumb, 0)[: 960 // 3]).mean() > 2.0


def test_render_at_1080x1920_with_a_custom_crop(talk_video: Path, tmp_path: Path) -> None:
    preset = dc.PRESETS["tiktok_1080"]
    crop = dc.crop_for_centre(1280, 720, preset, 200, 360)  # left edge: clamped to x=0
    assert crop.x == 0
    out = ff.render_clip(
        talk_video, tmp_path / "full.mp4", start_s=1.0, end_s=3.0, preset=preset, captions_ass=None, crop=crop
    )
    vcodec, acodec, w, h, duration = _streams(out)
    assert (vcodec, acodec, w, h) == ("h264", "aac", 1080, 1920)
    assert duration == pytest.approx(2.0, abs=0.15)


def test_render_rejects_spans_outside_the_video(talk_video: Path, tmp_path: Path) -> None:
    preset = dc.PRESETS["preview_540"]
    with pytest.raises(InvalidInput):
        ff.render_clip(talk_video, tmp_path / "x.mp4", start_s=100, end_s=120, preset=preset, captions_ass=None)
    with pytest.raises(InvalidInput):
        ff.render_clip(talk_video, tmp_path / "x.mp4", start_s=0, end_s=200, preset=preset, captions_ass=None)
    with pytest.raises(InvalidInput):
        ff.render_clip(talk_video, tmp_path / "x.mp4", start_s=5, end_s=5, preset=preset, captions_ass=None)


def test_shipped_samples_are_small_and_valid() -> None:
    video = mh.SAMPLES.parent / "sandbox" / "media" / "sample-talk.mp4"
    for path in (mh.SAMPLE_SPEECH, video):
        assert path.stat().st_size < 1_000_000
    info = probe(video)
    assert info.has_video and info.has_audio and (info.width, info.height) == (1280, 720)
    assert mh.SAMPLE_SPEECH_S - 1 <= info.duration_s <= mh.SAMPLE_SPEECH_S + 6
    data = video.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # streams over HTTP without a full download
    assert probe(mh.SAMPLE_SPEECH).has_audio


def test_rotated_source_is_cropped_in_display_orientation(tmp_path: Path) -> None:
    landscape = mh.make_video_without_audio(tmp_path / "land.mp4", seconds=2, size="640x360")
    rotated = mh.make_rotated_copy(landscape, tmp_path / "rot.mp4", degrees=90)
    info = probe(rotated)
    assert info.rotation in (90, 270)
    assert (info.display_width, info.display_height) == (360, 640)
    out = ff.render_clip(
        rotated, tmp_path / "r.mp4", start_s=0, end_s=1.5, preset=dc.PRESETS["preview_540"], captions_ass=None
    )
    vcodec, acodec, w, h, _ = _streams(out)
    assert (vcodec, acodec, w, h) == ("h264", None, 540, 960)
