"""Late interaction: how well a candidate sentence covers each word of the question, read token by token.

Owns `LateReader`. The embedding model reads the question and each of the best few candidate sentences (as the
reader reads them: 'title > section: lead-in sentence', `rag.answer.reader.candidate_text`), and keeps every word
piece's last-layer state. A candidate's late coverage is the IDF-weighted mean, over the question's words (the first
word piece of each, punctuation left out), of the best cosine any of the candidate's pieces reaches (MaxSim, as in
ColBERT). A sentence's vector averages its words away; this keeps them, so 'must not allow family members to use a
Group device' covers 'can my partner use my work laptop' better than a sentence about personal devices does.

`rerank` adds `RAG_LATE_WEIGHT` x (coverage - the best coverage read) to the scores of the best `RAG_LATE_DEPTH`
candidates within `RAG_LATE_MARGIN` of the first, so the best-covering one keeps its score and goes first; the
others keep theirs. Word-piece IDF comes from the build's chunks, counted once per build on first use. A sentence's
token states do not depend on the question: the last `RAG_LATE_CACHE` read are kept (float16). Measured on candidate
lists of the synthetic organisations and the gold sets (`bench/late_sweep.py`): the right sentence first for 4-8
points more questions; its cost in `bench/late_latency.py`. Leaves which candidates exist and the refusal decision
(which judges the ranking before this step) to `rag.answer.extractive`; the model run to `rag.indexing` (the ONNX
question encoder, or the torch model).
"""

from __future__ import annotations

import itertools
import math
import threading
from collections import Counter, OrderedDict
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from rag.answer.reader import candidate_text
from rag.indexing.query_encoder import Pieces, TokenStates

if TYPE_CHECKING:
    from rag.answer.extractive import Candidate
    from rag.config import Settings
    from rag.indexing.store import LoadedIndex

SPECIAL = ("[CLS]", "[SEP]")


def is_word_start(piece: str) -> bool:
    """A piece that begins a word of letters or digits (not '##ing', not punctuation, not [CLS])."""
    return piece.isalnum()


def late_coverage(question: tuple[tuple[str, ...], np.ndarray], candidate: tuple[tuple[str, ...], np.ndarray],
                  idf: Callable[[str], float]) -> float:
    """IDF-weighted mean over the question's word starts of their best cosine with the candidate's pieces."""
    pieces, states = question
    keep = [i for i, p in enumerate(pieces) if is_word_start(p)]
    body = [i for i, p in enumerate(candidate[0]) if p not in SPECIAL]
    if not keep or not body:
        return 0.0
    best = (states[keep] @ candidate[1][body].T.astype(np.float32)).max(axis=1)
    weights = np.array([idf(pieces[i]) for i in keep])
    return float((best * weights).sum() / weights.sum())


class PieceIdf:
    """Inverse document frequency of word pieces over a build's chunks (counted on first use)."""

    def __init__(self, texts: Sequence[str], tokenize: Pieces) -> None:
        self._texts = texts
        self._tokenize = tokenize
        self._df: Counter[str] | None = None
        self._lock = threading.Lock()

    def __call__(self, piece: str) -> float:
        df = self.counts()
        return math.log(1 + len(self._texts) / (df.get(piece, 0) + 1))

    def counts(self) -> Counter[str]:
        if self._df is None:  # counted once; later calls read it without the lock
            with self._lock:
                if self._df is None:
                    df: Counter[str] = Counter()
                    for pieces in self._tokenize(self._texts):
                        df.update(set(pieces))
                    self._df = df
        return self._df


class LateReader:
    """Reorders the best candidates of a ranking by their late coverage of the question. Thread-safe."""

    def __init__(self, states: TokenStates, idf: Callable[[str], float], weight: float, depth: int, margin: float,
                 cache_size: int = 0) -> None:
        self.states = states
        self.idf = idf
        self.weight = weight
        self.depth = depth
        self.margin = margin
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[tuple[str, ...], np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def for_index(cls, settings: Settings, model: tuple[TokenStates, Pieces] | None, index: LoadedIndex) -> "LateReader | None":
        """The late reader the settings ask for over one build, reading with `model` (`rag.indexing.query_encoder.
        token_reader`); None at weight 0, or with no model that yields token states."""
        if settings.late_weight <= 0 or model is None:
            return None
        states, tokenize = model
        idf = PieceIdf([c.text for c in index.chunks], tokenize)
        return cls(states, idf, settings.late_weight, settings.late_depth, settings.late_margin, settings.late_cache)

    def warm(self) -> None:
        """Count the build's word pieces and run the model once, so the first question does not wait for either."""
        self.idf("warm")
        self.states(["warm up"])

    def rerank(self, question: str, ranking: list[Candidate], index: LoadedIndex) -> list[Candidate]:
        """The ranking with its best candidates (those `margin` of the first, at most `depth`) reordered by score plus
        weight x (late coverage - the best late coverage among them); each read candidate keeps its coverage in `late`."""
        if len(ranking) < 2:
            return ranking
        top = list(itertools.takewhile(lambda c: ranking[0].score - c.score <= self.margin, ranking[: self.depth]))
        if len(top) < 2:
            return ranking
        texts = [candidate_text(index, c.doc_id, c.start, c.end, c.text) for c in top]
        asked = self.states([question])[0]
        covers = [late_coverage(asked, r, self.idf) for r in self.read(texts)]
        best = max(covers)
        moved = [replace(c, late=v, score=c.score + self.weight * (v - best)) for c, v in zip(top, covers)]
        return sorted(moved + ranking[len(top):], key=lambda c: c.score, reverse=True)

    def read(self, texts: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]:
        """Each candidate text's pieces and states: from the cache of the last `cache_size` texts read (a text's states
        do not depend on the question: popular clauses are read once), else from the model."""
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        # kept in float16, and used so even when just read: an answer does not depend on what the cache held
        fresh = {t: (p, s.astype(np.float16)) for t, (p, s) in zip(missing, self.states(missing))} if missing else {}
        with self._lock:
            for t, entry in fresh.items():
                if self.cache_size > 0:
                    self._cache[t] = entry
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [found[t] if t in found else fresh[t] for t in texts]
