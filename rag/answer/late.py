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
points more questions; its cost in `bench/late_latency.py`.

Also owns `LateModel`, the learned map of token states `RAG_LATE_MODEL` names (the packaged one is
`rag/answer/late_model/`, trained by `scripts/train_late.py` on candidate lists of the synthetic organisations and of
half of two public sets; its card says which): every state becomes unit(state x matrix) before the cosines, and each
question word's IDF weight is multiplied by exp(state . term). Leaves which candidates exist and the refusal
decision (which judges the ranking before this step) to `rag.answer.extractive`; the model run to `rag.indexing` (the
ONNX question encoder, or the torch model); training to `rag.tune.late`.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from rag.answer.reader import candidate_text
from rag.errors import ModelError
from rag.indexing.query_encoder import Pieces, TokenStates

if TYPE_CHECKING:
    from rag.answer.extractive import Candidate
    from rag.config import Settings
    from rag.indexing.store import LoadedIndex

SPECIAL = ("[CLS]", "[SEP]")
PACKAGED_MODEL = Path(__file__).with_name("late_model")
MODEL_CARD = "late.json"
MODEL_FILE = "projection.npz"


def is_word_start(piece: str) -> bool:
    """A piece that begins a word of letters or digits (not '##ing', not punctuation, not [CLS])."""
    return piece.isalnum()


def late_coverage(question: tuple[tuple[str, ...], np.ndarray], candidate: tuple[tuple[str, ...], np.ndarray],
                  idf: Callable[[str], float], boost: np.ndarray | None = None) -> float:
    """IDF-weighted mean over the question's word starts of their best cosine with the candidate's pieces; `boost`
    (one factor per question piece) multiplies the weights."""
    pieces, states = question
    keep = [i for i, p in enumerate(pieces) if is_word_start(p)]
    body = [i for i, p in enumerate(candidate[0]) if p not in SPECIAL]
    if not keep or not body:
        return 0.0
    weights = np.array([idf(pieces[i]) for i in keep])
    return weighted_best(states[keep], candidate[1][body], weights if boost is None else weights * boost[keep])


def weighted_best(question: np.ndarray, candidate: np.ndarray, weights: np.ndarray) -> float:
    """The weighted mean over the question's rows of their best cosine with any of the candidate's rows (unit rows)."""
    best = (question.astype(np.float32) @ candidate.T.astype(np.float32)).max(axis=1)
    return float((best * weights).sum() / weights.sum())


@dataclass(frozen=True)
class LateModel:
    """A learned map of token states: each state becomes unit(state x `matrix`); a question word's weight is multiplied
    by exp(its state . `term`). Written by `rag.tune.late.export_late`; `facts` is its card."""

    matrix: np.ndarray
    term: np.ndarray
    facts: dict[str, Any] = field(default_factory=dict, compare=False)
    folder: Path | None = field(default=None, compare=False)

    @classmethod
    def open(cls, folder: Path) -> "LateModel":
        """The model in `folder` (`late.json` and `projection.npz`), its weights checked against the card's hash."""
        try:
            facts = json.loads((folder / MODEL_CARD).read_text(encoding="utf-8"))
            raw = (folder / MODEL_FILE).read_bytes()
            if facts.get("sha256") and hashlib.sha256(raw).hexdigest() != facts["sha256"]:
                raise ValueError("its weights do not match the hash in its card")
            with np.load(io.BytesIO(raw)) as data:
                matrix, term = data["matrix"].astype(np.float32), data["term"].astype(np.float32)
            if matrix.ndim != 2 or term.shape != (matrix.shape[0],):
                raise ValueError(f"shapes {matrix.shape} and {term.shape} do not fit together")
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"cannot load the late-interaction model in {folder}: {exc}; set RAG_LATE_MODEL=plain, "
                             "or retrain it with scripts/train_late.py") from exc
        return cls(matrix, term, facts, folder)

    @classmethod
    def from_setting(cls, value: str) -> "LateModel | None":
        """The model `RAG_LATE_MODEL` names: `packaged` (None when none ships), `plain` (None), or a folder."""
        if value == "plain" or (value == "packaged" and not (PACKAGED_MODEL / MODEL_CARD).is_file()):
            return None
        return cls.open(PACKAGED_MODEL if value == "packaged" else Path(value))

    def project(self, states: np.ndarray) -> np.ndarray:
        """Unit rows of states x matrix."""
        mapped = states.astype(np.float32) @ self.matrix
        return mapped / np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-6)

    def boost(self, states: np.ndarray) -> np.ndarray:
        """Each question piece's weight factor, from its (unmapped) state."""
        return np.exp(np.clip(states.astype(np.float32) @ self.term, -5.0, 5.0))

    def describe(self) -> dict[str, Any]:
        """As a build manifest and an eval record name it: the weights' hash and where it came from (the folder, for one
        that is not the packaged one)."""
        packaged = self.folder is not None and self.folder.resolve() == PACKAGED_MODEL.resolve()
        folder = "" if packaged or self.folder is None else str(self.folder.resolve())
        return {"sha256": str(self.facts.get("sha256", "")), "folder": folder, "packaged": packaged}


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
                 cache_size: int = 0, model: LateModel | None = None) -> None:
        self.states = states
        self.model = model
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
        return cls(states, idf, settings.late_weight, settings.late_depth, settings.late_margin, settings.late_cache,
                   LateModel.from_setting(settings.late_model))

    def describe(self) -> dict[str, Any]:
        """As an eval record and a build manifest name it: weight, depth and the learned map (None: plain states)."""
        return {"weight": self.weight, "depth": self.depth, "model": self.model.describe() if self.model is not None else None}

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
        pieces, states = self.states([question])[0]
        if self.model is None:
            asked, boost = (pieces, states), None
        else:
            asked, boost = (pieces, self.model.project(states)), self.model.boost(states)
        covers = [late_coverage(asked, r, self.idf, boost) for r in self.read(texts)]
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
        fresh = {t: (p, self._mapped(s).astype(np.float16)) for t, (p, s) in zip(missing, self.states(missing))} if missing else {}
        with self._lock:
            for t, entry in fresh.items():
                if self.cache_size > 0:
                    self._cache[t] = entry
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return [found[t] if t in found else fresh[t] for t in texts]

    def _mapped(self, states: np.ndarray) -> np.ndarray:
        return states if self.model is None else self.model.project(states)
