"""The reader: a cross-encoder that reads a question beside a candidate sentence and gives the probability that the
sentence answers it.

Owns loading a reader folder (`reader.json`, `model.onnx`, `tokenizer.json`; the packaged one is
`rag/answer/reader_model/`, trained by `scripts/train_reader.py`), the text it reads for a candidate (document title and
section path, the sentence's lead-in or antecedent, the sentence: `candidate_text`), and `rerank`: the best
`RAG_READER_DEPTH` candidates of a ranking get the reader's probability, and their score becomes
`(1 - w) * score + w * probability` (w = `RAG_READER_WEIGHT`); candidates below the depth keep their order after them.
Leaves training to `rag.tune.reader` and the choice of sentences to `rag.answer.extractive`. Importing this module
loads nothing; the ONNX session is made on first use.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from rag.answer.antecedents import antecedent_span
from rag.answer.lists import lead_in_span
from rag.errors import ConfigError, ModelError
from rag.models import section_label

if TYPE_CHECKING:
    from rag.answer.extractive import Candidate
    from rag.config import Settings
    from rag.indexing.store import LoadedIndex

PACKAGED = Path(__file__).with_name("reader_model")
CARD = "reader.json"
MAX_CONTEXT = 400  # characters of lead-in or antecedent read before a sentence


def question_text(question: str) -> str:
    return " ".join(question.split())


def candidate_text(index: LoadedIndex, doc_id: str, start: int, end: int, sentence: str) -> str:
    """What the reader reads for one sentence: 'title > section', the sentence it leans on (a list's lead-in, the
    sentence a 'They ...' sentence points back to), then the sentence."""
    doc = index.documents[doc_id]
    heading = " > ".join(p for p in (doc.title, section_label(doc.section_at(start))) if p)
    lead = lead_in_span(index, doc, (start, end)) or antecedent_span(index, doc, (start, end))
    before = " ".join(doc.text[lead[0]:lead[1]].split())[-MAX_CONTEXT:] + " " if lead else ""
    return f"{heading}: {before}{' '.join(sentence.split())}"


@dataclass(frozen=True)
class ReaderCard:
    """What a reader folder says of its model: the window it reads, how its scores are mixed, how it was trained."""

    window: int
    weight: float
    depth: int
    facts: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> "ReaderCard":
        try:
            data = json.loads((folder / CARD).read_text(encoding="utf-8"))
            return cls(int(data["window"]), float(data["weight"]), int(data["depth"]), data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{folder} is not a reader folder ({CARD} unreadable: {exc}); set RAG_READER=off or point it "
                              "at a folder written by scripts/train_reader.py") from exc


class Reader:
    """Scores (question, sentence) pairs with an exported cross-encoder. Thread-safe."""

    def __init__(self, folder: Path, weight: float | None = None, depth: int | None = None, threads: int = 1) -> None:
        self.folder = Path(folder)
        self.card = ReaderCard.load(self.folder)
        self.weight = self.card.weight if weight is None else weight
        self.depth = self.card.depth if depth is None else depth
        self.threads = threads
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "Reader | None":
        """The reader `RAG_READER` names: the packaged one (`packaged`, when it ships), a folder, or none (`off`)."""
        choice = settings.reader.strip()
        if choice == "off":
            return None
        folder = PACKAGED if choice in ("", "packaged") else Path(choice)
        if choice in ("", "packaged") and not (folder / CARD).is_file():
            return None  # no reader ships in this checkout: answers rank as without one
        weight = settings.reader_weight if settings.reader_weight >= 0 else None
        return cls(folder, weight, settings.reader_depth or None, max(1, settings.threads))

    @property
    def identity(self) -> str:
        """What names this reader in a build manifest and in caches: the model file's hash from its card."""
        return str(self.card.facts.get("sha256", ""))[:16]

    @cached_property
    def session(self) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            return ort.InferenceSession(str(self.folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types
            raise ModelError(f"cannot load the reader {self.folder / 'model.onnx'}: {exc}; set RAG_READER=off") from exc

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.enable_truncation(self.card.window, strategy="only_second")
        return tokenizer

    def probabilities(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """p(answers) for each text read after the question."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        q = question_text(question)
        with self._lock:
            encodings = self.tokenizer.encode_batch([(q, t) for t in texts])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        logits = self.session.run(["logit"], {"input_ids": ids, "attention_mask": mask})[0].reshape(-1)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def rerank(self, question: str, rankings: Sequence[list[Candidate]], index: LoadedIndex) -> list[list[Candidate]]:
        """Each ranking with the reader's probability mixed into its best `depth` candidates (scored once for all
        rankings), best first."""
        keys: dict[tuple[str, int], Candidate] = {}
        for ranking in rankings:
            for cand in ranking[: self.depth]:
                keys.setdefault((cand.doc_id, cand.start), cand)
        cands = list(keys.values())
        probs = self.probabilities(question, [candidate_text(index, c.doc_id, c.start, c.end, c.text) for c in cands])
        read = {key: float(p) for key, p in zip(keys, probs)}
        return [self._mixed(ranking, read) for ranking in rankings]

    def _mixed(self, ranking: list[Candidate], read: dict[tuple[str, int], float]) -> list[Candidate]:
        w = self.weight
        top = [replace(c, read=read[(c.doc_id, c.start)], score=(1 - w) * c.score + w * read[(c.doc_id, c.start)])
               for c in ranking[: self.depth]]
        floor = min((c.score for c in top), default=0.0)
        rest = [replace(c, score=min(c.score, floor)) for c in ranking[self.depth:]]
        return sorted(top, key=lambda c: c.score, reverse=True) + rest
