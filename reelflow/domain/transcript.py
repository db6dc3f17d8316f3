"""Transcripts: words with times, sentences derived from them (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from reelflow.errors import InvalidInput


@dataclass(frozen=True)
class Word:
    """One recognised word with its time span (seconds from the start of the media)."""

    text: str
    start: float
    end: float
    probability: float = 1.0


class WordLike(Protocol):
    @property
    def text(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...
    @property
    def probability(self) -> float: ...


@dataclass(frozen=True)
class Sentence:
    """Consecutive words ending at terminal punctuation or a long pause."""

    words: tuple[Word, ...]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return self.words[-1].end

    @property
    def text(self) -> str:
        return join_words(self.words)


@dataclass(frozen=True)
class Transcript:
    """What was said, word by word; `sentences` are derived from `words`."""

    language: str
    duration_s: float
    words: tuple[Word, ...]
    sentences: tuple[Sentence, ...]

    @classmethod
    def from_words(cls, words: Iterable[WordLike], *, language: str, duration_s: float) -> Transcript:
        """Build from any word objects with text/start/end/probability (e.g. the whisper
        adapter's `SpokenWord`)."""
        ws = tuple(
            w if isinstance(w, Word) else Word(w.text, float(w.start), float(w.end), float(w.probability))
            for w in words
        )
        return cls(language=language, duration_s=duration_s, words=ws, sentences=tuple(split_sentences(ws)))

    @property
    def text(self) -> str:
        return join_words(self.words)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (sentences are not stored: they are derived again on load)."""
        return {
            "language": self.language,
            "duration_s": self.duration_s,
            "words": [[w.text, round(w.start, 3), round(w.end, 3), round(w.probability, 3)] for w in self.words],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        words = [Word(str(t), float(s), float(e), float(p)) for t, s, e, p in data["words"]]
        return cls.from_words(words, language=str(data["language"]), duration_s=float(data["duration_s"]))


def join_words(words: Iterable[Word]) -> str:
    return " ".join(w.text for w in words).strip()


_TERMINAL = re.compile(r"[.?!…]['\")\]]*$")
_SOFT_BREAK = re.compile(r"[,;:–—]['\")\]]*$")


def split_sentences(words: Sequence[Word], *, pause_s: float = 1.0, max_sentence_s: float = 20.0) -> list[Sentence]:
    """Group words into sentences.

    A sentence ends at terminal punctuation or at a pause of `pause_s`; a run longer than
    `max_sentence_s` (speech without punctuation) is broken at a comma, or hard at 1.5×, so
    that clip windows always have boundaries to choose from.
    """
    sentences: list[Sentence] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        current.append(word)
        nxt = words[i + 1] if i + 1 < len(words) else None
        length = word.end - current[0].start
        end_here = (
            nxt is None
            or bool(_TERMINAL.search(word.text))
            or nxt.start - word.end >= pause_s
            or (length >= max_sentence_s and bool(_SOFT_BREAK.search(word.text)))
            or length >= max_sentence_s * 1.5
        )
        if end_here:
            sentences.append(Sentence(tuple(current)))
            current = []
    return sentences


def words_between(words: Sequence[Word], start_s: float, end_s: float) -> list[Word]:
    """Words that lie (at least partly) inside [start_s, end_s]."""
    return [w for w in words if w.end > start_s and w.start < end_s]


def sentences_as_clip_groups(transcript: Transcript, start_s: float, end_s: float) -> list[Sentence]:
    """Sentences of the transcript inside a clip (for a clip's SRT/VTT)."""
    return [s for s in transcript.sentences if s.end > start_s and s.start < end_s]


def language_verdict(
    language: str, probability: float, *, detected: bool, warn_below: float, fail_below: float
) -> str | None:
    """Judge a detected language: None when sure enough, a warning for the project when
    unsure, InvalidInput (naming `options.language`) when too unsure to transcribe."""
    if not detected:
        return None
    if probability < fail_below:
        raise InvalidInput(
            f"could not tell the spoken language (best guess {language!r}, {probability:.0%} sure); "
            "set options.language to the language spoken",
            field="options.language",
        )
    if probability < warn_below:
        return (
            f"the spoken language was detected as {language!r} with only {probability:.0%} confidence; "
            "if the captions look wrong, set options.language and run the project again"
        )
    return None
