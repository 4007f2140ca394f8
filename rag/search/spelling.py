"""Spelling: a question's misspelt words read as the words of the build it is asked of.

Owns `Speller`. A word of the question is read as another only when nothing knows it: not an English word list
(pyspellchecker's English frequency list, MIT licence, 160k words), not the embedding model's vocabulary (whole
words only: 'gmail' and 'texting' are words to it), and not the build's documents. It is then read as the build's word
one slip away: a letter missing, one too many, two swapped, or (from six letters) one wrong; two slips from eight
letters. Never corrected: words under five letters (most are acronyms or slang: 'mhfa', 'saye'), the first letter
(people rarely mistype it; changing it turns brands into words: 'uber' -> 'user'), contractions typed without their
apostrophe ('theyre', 'dont'), plurals or possessives of a known word ('agencys'), British spellings of a listed American
one ('realised', 'organises'), and a word whose likeliest reading is a stopword ('thier'). Among readings the build's
most used word wins, the English list's frequency breaking ties. 'servce pasword' reads 'service password'.

Measured on the questions of eval/gold and four synthetic organisations before it was built (scripts counted every
change): about 3% of staff-voice questions hold a word it changes, nearly all true slips ('confidental', 'reciept',
'seperation'); a few changes are a near form of the intended word ('actualy' -> 'actual', 'withdrawl' -> 'withdraw').
Leaves what is searched and answered with the reading to the assistant (`rag.assistant`), which keeps the question as
typed and records the reading as the answer's standalone question.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Callable, Iterable

from rag.errors import ConfigError
from rag.ingest.text import STOPWORDS

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
MIN_LENGTH = 5  # shorter unknown words are mostly acronyms and slang
SUBSTITUTE_FROM = 6  # one wrong letter is considered from this length
TWO_SLIPS_FROM = 8
CONTRACTIONS = frozenset(
    "dont cant wont isnt arent wasnt werent doesnt didnt hasnt havent hadnt shouldnt wouldnt couldnt mustnt neednt "
    "theyre theyve theyll youre youve youll weve whos whats thats theres heres wheres hows lets shes hes ive im "
    "itll shouldve wouldve couldve".split()
)
BRITISH = (("is", "iz"), ("our", "or"), ("tre", "ter"), ("ll", "l"), ("yse", "yze"), ("ogue", "og"), ("ence", "ense"))


@dataclass(frozen=True)
class Respelt:
    """A question as read: its text with every change made, and each change (typed, read)."""

    text: str
    changes: tuple[tuple[str, str], ...] = ()


@lru_cache(maxsize=1)
def english_words() -> dict[str, int]:
    """pyspellchecker's English word frequencies (read once per process)."""
    try:
        from importlib.resources import files

        with (files("spellchecker") / "resources" / "en.json.gz").open("rb") as raw:
            return {str(k): int(v) for k, v in json.loads(gzip.decompress(raw.read())).items()}
    except (ModuleNotFoundError, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the English word list of pyspellchecker ({exc}): reinstall with `make setup`, "
                          "or set RAG_SPELLING=off to read questions as typed") from None


@lru_cache(maxsize=8)  # read once per model folder, not again at every reload of a build
def model_words(folder: Path | None) -> frozenset[str]:
    """The whole words of a WordPiece vocabulary (`vocab.txt` in the model's folder; none for other models)."""
    vocab = folder / "vocab.txt" if folder is not None else None
    if vocab is None or not vocab.is_file():
        return frozenset()
    return frozenset(w for w in vocab.read_text(encoding="utf-8").split() if w.isalpha() and w.islower())


def slips(word: str) -> set[str]:
    """Every word one slip from `word` with its first letter kept."""
    splits = [(word[:i], word[i:]) for i in range(1, len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b for a, b in splits for c in LETTERS}
    if len(word) >= SUBSTITUTE_FROM:
        out |= {a + c + b[1:] for a, b in splits if b for c in LETTERS}
    out.discard(word)
    return out


def within_two(a: str, b: str) -> bool:
    """Whether `b` is at most two slips (missing, extra, wrong or swapped letters) from `a`."""
    previous, row = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(row[j] + 1, current[j - 1] + 1, row[j - 1] + (ca != cb))
            if previous is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous[j - 2] + 1)
        if min(current) > 2:
            return False
        previous, row = row, current
    return row[-1] <= 2


class Speller:
    """Reads a question's misspelt words as the words of one build (whose texts `texts` gives, counted on first use)."""

    def __init__(self, texts: Callable[[], Iterable[str]], model_vocabulary: frozenset[str] = frozenset()) -> None:
        self._texts = texts
        self.model_vocabulary = model_vocabulary
        self._words: Counter[str] | None = None
        self._lock = threading.Lock()

    @property
    def words(self) -> Counter[str]:
        """How often each lower-cased word occurs in the build."""
        if self._words is None:
            with self._lock:
                if self._words is None:
                    self._words = Counter(w.lower() for text in self._texts() for w in WORD.findall(text))
        return self._words

    @cached_property
    def _by_first(self) -> dict[tuple[str, int], tuple[str, ...]]:
        """The build's words by (first letter, length of a word they may be two slips from)."""
        out: dict[tuple[str, int], list[str]] = {}
        for w in self.words:
            if len(w) >= TWO_SLIPS_FROM - 1:
                for n in (len(w) - 1, len(w), len(w) + 1):  # two slips that change the length by two turn 'linkedin' into 'linked'
                    out.setdefault((w[0], n), []).append(w)
        return {k: tuple(v) for k, v in out.items()}

    def warm(self) -> None:
        english_words()
        _ = self._by_first

    def read(self, question: str) -> Respelt:
        """The question with each misspelt word read as the build's word (as typed when nothing changes)."""
        changes: dict[str, str] = {}
        for typed in WORD.findall(question):
            word = typed.lower()
            if word not in changes:
                read = self.reading(word)
                if read is not None:
                    changes[word] = read
        if not changes:
            return Respelt(question)
        text = WORD.sub(lambda m: _cased(changes.get(m.group(0).lower()), m.group(0)), question)
        return Respelt(text, tuple(changes.items()))

    def reading(self, word: str) -> str | None:
        """The build's word a misspelt `word` stands for, or None (known, or no reading)."""
        english, words = english_words(), self.words
        if not self._unknown(word, english, words):
            return None
        near = slips(word)
        found = [w for w in near if words[w] or w in STOPWORDS]
        if not found and len(word) >= TWO_SLIPS_FROM:
            found = [w for w in self._by_first.get((word[0], len(word)), ()) if w != word and within_two(word, w)]
        if not found:
            return None
        best = max(found, key=lambda w: (math.log1p(words[w]) + math.log1p(english.get(w, 0)), w))
        return None if best in STOPWORDS else best

    def _unknown(self, word: str, english: dict[str, int], words: Counter[str]) -> bool:
        if len(word) < MIN_LENGTH or "'" in word or word in CONTRACTIONS:
            return False
        if word in english or word in words or word in self.model_vocabulary:
            return False
        if word.endswith("s") and (word[:-1] in english or words[word[:-1]]):
            return False  # a plural or a possessive typed without its apostrophe
        return not any(a in word and word.replace(a, b) in english for a, b in BRITISH)


def _cased(read: str | None, typed: str) -> str:
    """`read` in the case the word was typed in (as typed when there is no reading)."""
    if read is None:
        return typed
    if typed.isupper():
        return read.upper()
    return read.capitalize() if typed[:1].isupper() else read
