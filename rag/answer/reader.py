"""The reader: a model that reads a question beside a candidate sentence and gives the probability that the sentence
answers it.

Owns loading a reader folder (`reader.json` says its kind; the packaged one is `rag/answer/reader_model/`, trained by
`scripts/train_reader.py`), what a reader reads for a candidate, and `rerank`: the best `RAG_READER_DEPTH` candidates of
a ranking get the reader's probability, and their score becomes `(1 - w) * score + w * probability`
(w = `RAG_READER_WEIGHT`); candidates below the depth keep their order after them. Two kinds:
  * `cross-encoder` (`model.onnx`, `tokenizer.json`): MiniLM layers reading the question and the candidate's text
    together (document title and section path, the sentence's lead-in or antecedent, the sentence: `candidate_text`);
  * `vectors` (`weights.npz`): a small network over the question's and the sentence's MiniLM vectors (their product and
    difference) and the ranking's own evidence for the sentence (`candidate_features`); it costs well under a
    millisecond and needs no model call, since the build stores every sentence's vector.
Leaves training to `rag.tune` and the choice of sentences to `rag.answer.extractive`. Importing this module loads
nothing; a model is loaded on first use.
"""

from __future__ import annotations

import contextlib
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
from rag.indexing.onnx_export import padded
from rag.models import section_label

if TYPE_CHECKING:
    from rag.answer.extractive import Candidate
    from rag.config import Settings
    from rag.indexing.store import LoadedIndex

PACKAGED = Path(__file__).with_name("reader_model")
CARD = "reader.json"
MAX_CONTEXT = 400  # characters of lead-in or antecedent read before a sentence
FEATURE_NAMES = ("score", "dense", "coverage", "passage", "typed", "named", "rank")
RANK_SCALE = 20.0


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


def candidate_features(index: LoadedIndex, cands: Sequence[Candidate]) -> tuple[np.ndarray, np.ndarray]:
    """(each candidate's sentence vector, its ranking evidence in `FEATURE_NAMES` order): what the vector reader reads."""
    dim = index.sentences.vectors.shape[1]
    vectors = np.zeros((len(cands), dim), dtype=np.float32)
    for i, c in enumerate(cands):
        rows = index.sentences.rows_within(c.doc_id, c.start, c.end)
        if len(rows):
            vectors[i] = index.sentences.vectors[int(rows[0])]
    feats = np.array([[c.score, c.dense, c.coverage, c.passage.dense, float(c.typed), float(c.in_named_clause), i / RANK_SCALE]
                      for i, c in enumerate(cands)], dtype=np.float32).reshape(len(cands), len(FEATURE_NAMES))
    return vectors, feats


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
            return cls(int(data.get("window", 0)), float(data["weight"]), int(data["depth"]), data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{folder} is not a reader folder ({CARD} unreadable: {exc}); set RAG_READER=off or point it "
                              "at a folder written by scripts/train_reader.py") from exc


class Reader:
    """A reader folder's model: probabilities for candidates, and the reranking that mixes them in. Thread-safe."""

    def __init__(self, folder: Path, weight: float | None = None, depth: int | None = None, threads: int = 1) -> None:
        self.folder = Path(folder)
        self.card = ReaderCard.load(self.folder)
        self.weight = self.card.weight if weight is None else weight
        self.depth = self.card.depth if depth is None else depth
        self.threads = threads
        self._lock = threading.Lock()

    @staticmethod
    def open(folder: Path, weight: float | None = None, depth: int | None = None, threads: int = 1) -> "Reader":
        """The reader of the kind the folder's card names."""
        kind = ReaderCard.load(Path(folder)).facts.get("kind", "cross-encoder")
        if kind not in READERS:
            raise ConfigError(f"{folder}: unknown reader kind {kind!r} (known: {', '.join(READERS)}); set RAG_READER=off")
        return READERS[kind](folder, weight, depth, threads)

    @classmethod
    def from_settings(cls, settings: Settings, tuned: str = "") -> "Reader | None":
        """The reader `RAG_READER` names: the packaged one (`packaged`, when it ships), a folder, or none (`off`).
        Left empty, a `tuned` folder (the reader `rag tune --reader` trained and a build was gated with) comes first."""
        choice = settings.reader.strip()
        if choice == "off":
            return None
        if not choice and tuned and (Path(tuned) / CARD).is_file():
            choice = tuned
        folder = PACKAGED if choice in ("", "packaged") else Path(choice)
        if choice in ("", "packaged") and not (folder / CARD).is_file():
            return None  # no reader ships in this checkout: answers rank as without one
        weight = settings.reader_weight if settings.reader_weight >= 0 else None
        return cls.open(folder, weight, settings.reader_depth or None, max(1, settings.threads))

    @property
    def identity(self) -> str:
        """What names this reader in a build manifest and in caches: the model file's hash from its card."""
        return str(self.card.facts.get("sha256", ""))[:16]

    def describe(self) -> dict[str, Any]:
        """The reader as a build manifest and an eval record name it: kind, weights' hash, how its scores are mixed."""
        return {"kind": str(self.card.facts.get("kind", "cross-encoder")), "sha256": str(self.card.facts.get("sha256", "")),
                "weight": self.weight, "depth": self.depth, "folder": str(self.folder.resolve()),
                "packaged": self.folder.resolve() == PACKAGED.resolve()}

    def scores(self, question: str, vector: np.ndarray, cands: Sequence[Candidate], index: LoadedIndex) -> np.ndarray:
        raise NotImplementedError

    def rerank(self, question: str, vector: np.ndarray, rankings: Sequence[list[Candidate]], index: LoadedIndex) -> list[list[Candidate]]:
        """Each ranking with the reader's probability mixed into its best `depth` candidates (scored once for all
        rankings, in the first ranking's order), best first."""
        keys: dict[tuple[str, int], Candidate] = {}
        for ranking in rankings:
            for cand in ranking[: self.depth]:
                keys.setdefault((cand.doc_id, cand.start), cand)
        probs = self.scores(question, vector, list(keys.values()), index)
        read = {key: float(p) for key, p in zip(keys, probs)}
        return [self._mixed(ranking, read) for ranking in rankings]

    def _mixed(self, ranking: list[Candidate], read: dict[tuple[str, int], float]) -> list[Candidate]:
        w = self.weight
        top = [replace(c, read=read[(c.doc_id, c.start)], base=c.score, score=(1 - w) * c.score + w * read[(c.doc_id, c.start)])
               for c in ranking[: self.depth]]
        floor = min((c.score for c in top), default=0.0)
        rest = [replace(c, base=c.score, score=min(c.score, floor)) for c in ranking[self.depth:]]
        return sorted(top, key=lambda c: c.score, reverse=True) + rest


def tuned_folder(manifest: dict[str, Any]) -> str:
    """The reader folder a build names when it was gated with a reader other than the packaged one ('' otherwise)."""
    recorded = manifest.get("reader") or {}
    return "" if recorded.get("packaged", True) else str(recorded.get("folder", ""))


class CrossEncoderReader(Reader):
    """Scores (question, sentence) pairs with an exported cross-encoder."""

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
        ids, mask = padded(encodings)
        logits = self.session.run(["logit"], {"input_ids": ids, "attention_mask": mask})[0].reshape(-1)
        return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)

    def scores(self, question: str, vector: np.ndarray, cands: Sequence[Candidate], index: LoadedIndex) -> np.ndarray:
        return self.probabilities(question, [candidate_text(index, c.doc_id, c.start, c.end, c.text) for c in cands])


class VectorReader(Reader):
    """Scores candidates with a small network over MiniLM vectors and the ranking's evidence (`weights.npz`)."""

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        try:
            with np.load(self.folder / "weights.npz") as data:
                return {k: data[k].astype(np.float32) for k in data.files}
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load the reader {self.folder / 'weights.npz'}: {exc}; set RAG_READER=off") from exc

    @cached_property
    def _one_thread(self) -> Any:
        """A context keeping BLAS to one thread: its threads cost far more than products this small (3.5 ms against
        0.8 ms per product on a busy two-core machine)."""
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # pragma: no cover - installed with the embedding stack
            return lambda: contextlib.nullcontext()
        controller = ThreadpoolController()
        return lambda: controller.limit(limits=1, user_api="blas")

    def probabilities(self, question_vector: np.ndarray, vectors: np.ndarray, features: np.ndarray) -> np.ndarray:
        w = self.weights
        q = np.asarray(question_vector, dtype=np.float32)[None, :]
        x = np.hstack([q * vectors, np.abs(q - vectors), (features - w["mean"]) / w["scale"]]).astype(np.float32)
        with self._one_thread():
            hidden = np.maximum(x @ w["w1"] + w["b1"], 0.0)
            logits = hidden @ w["w2"] + w["b2"]
        return (1.0 / (1.0 + np.exp(-logits.reshape(-1)))).astype(np.float32)

    def scores(self, question: str, vector: np.ndarray, cands: Sequence[Candidate], index: LoadedIndex) -> np.ndarray:
        if not cands:
            return np.zeros(0, dtype=np.float32)
        vectors, features = candidate_features(index, cands)
        return self.probabilities(vector, vectors, features)


READERS: dict[str, type[Reader]] = {"cross-encoder": CrossEncoderReader, "vectors": VectorReader}
