"""Generated text cut into sentences as it streams, each with the passage numbers it cites.

Owns `SentenceCutter`: fed the model's text piece by piece, it hands back each sentence once it is complete: its end
(punctuation, or `[n]` markers, or both in either order: 'six years [1].', 'six years. [1][2]') seen, and the next
sentence begun (a capital, a digit, a quote or a list mark after the space) or a line ended, or the text finished.
A marker followed by lower-case words is inside its sentence; 'e.g.' and list numbers end nothing. Markers are read
in the forms models write: `[1]`, `[1, 2]`, `[1][2]`, `[1-3]`, `[Passage 2]`. Each `Generated` sentence keeps its
text without markers (list marks and bold removed) and the passage numbers in the order cited. `declines` tells a
reply that says the passages do not answer. Leaves checking the sentences to `rag.generate.verify`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARKER = r"\[\s*(?:passages?\s*|p\.?\s*)?\d{1,3}(?:\s*(?:,|;|and|-|–)\s*(?:passages?\s*)?\d{1,3})*\s*\]"
_MARKER = re.compile(MARKER, re.IGNORECASE)
_RUN = re.compile(rf"(?:\s*(?:{MARKER}|[.!?]+[\"'”’)]*))+", re.IGNORECASE)
_NEXT = re.compile(r"\s+[\"'“‘(*•\-–A-Z0-9]")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]\s+|\d{1,2}[.)]\s+)")
_ABBREVIATION = re.compile(r"(?:\b(?:e\.g|i\.e|etc|incl|approx|vs|no|nos|st|mr|mrs|ms|dr|cf)|\b[A-Za-z])\.$", re.IGNORECASE)
_LIST_NUMBER = re.compile(r"(?:^|\n)\s*\d{1,3}\.$")  # '1.' opening a list item ends nothing
_DECLINES = re.compile(r"^\W*(?:the\s+|these\s+|those\s+)?(?:provided\s+)?(?:documents?|passages?|context|sources?|texts?)"
                       r"(?:\s+provided)?\s+(?:do|does|did)\s*(?:not|n[’']t)\s+(?:answer|say|mention|contain|cover|specify|state)",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Generated:
    """One sentence as the model wrote it: its text without markers, and the passages it cites, in order."""

    text: str
    passages: tuple[int, ...]


def cited_numbers(markers: str) -> list[int]:
    """Passage numbers in marker text: '[1, 2]' -> [1, 2]; '[2-4]' -> [2, 3, 4]."""
    out: list[int] = []
    for marker in _MARKER.findall(markers):
        for a, b in re.findall(r"(\d+)(?:\s*[-–]\s*(\d+))?", marker):
            first, last = int(a), int(b) if b else int(a)
            out += list(range(first, min(last, first + 20) + 1))
    return list(dict.fromkeys(out))


def generated(raw: str) -> Generated | None:
    """A piece of reply text as a sentence (None when nothing but marks)."""
    passages = tuple(cited_numbers(raw))
    text = _MARKER.sub("", raw)
    text = _LIST_MARK.sub("", text.replace("**", "").replace("__", ""))
    text = re.sub(r"\s+([.!?,;:])", r"\1", " ".join(text.split()))
    return Generated(text, passages) if re.search(r"\w", text) else None


def declines(sentence: Generated) -> bool:
    """The reply says the passages do not answer ('The documents do not answer this question.')."""
    return bool(_DECLINES.match(sentence.text))


class SentenceCutter:
    """Streamed text in, complete sentences out."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, piece: str) -> list[Generated]:
        self.buffer += piece
        return self._cut(final=False)

    def close(self) -> list[Generated]:
        """The sentences left when the text has ended (an unfinished last one included)."""
        return self._cut(final=True)

    def _cut(self, final: bool) -> list[Generated]:
        out, start = [], 0
        for m in _RUN.finditer(self.buffer):
            end = m.end()
            if not self._ends_sentence(m, end):
                continue
            sentence = generated(self.buffer[start:end])
            if sentence is not None:
                out.append(sentence)
            start = end
        self.buffer = self.buffer[start:]
        if final:
            rest, self.buffer = generated(self.buffer), ""
            out += [rest] if rest is not None else []
        return out

    def _ends_sentence(self, run: re.Match[str], end: int) -> bool:
        after = self.buffer[end:]
        if not (after.startswith("\n") or _NEXT.match(after)):
            return False  # the text goes on in the same sentence, or it is not known yet
        if not _MARKER.search(run.group(0)):
            before = self.buffer[: run.end()].rstrip("\"'”’)").rstrip()
            return not (_ABBREVIATION.search(before) or _LIST_NUMBER.search(before))
        return True
