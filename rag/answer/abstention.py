"""Calibrated abstention: evidence features and the tiny logistic model that turns them into a refusal.

Owns the refuse decision's inputs and model. Each answer attempt yields a few
corpus-independent evidence features (best sentence score, best sentence cosine,
best IDF coverage of the question's words by one sentence, the top passage's
cosine, the IDF shares of question words that no top passage contains and that
the whole index never uses, the margin to the runner-up, and the type gap: for
a question asking for a quantity ('how long', 'how many', 'when must', 'what is
the maximum'), how far below the best sentence the best one that states a
number, period, frequency or date, or defers to another document by title,
scores (the best score itself when none does); 0 for other questions).
A logistic model over the standardised features gives the probability that the
documents answer; the answerer refuses below `RAG_ABSTAIN_THRESHOLD`. Weights
live in a small JSON file (`rag/answer/abstention_model.json`), refit with
`rag calibrate`; fitting it, choosing its cut and cross-validating it live in
`rag.evaluate.calibration`, beside the metrics they are judged by.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rag.errors import ConfigError

MODEL_FILE = Path(__file__).with_name("abstention_model.json")
PLAIN_MODEL_FILE = Path(__file__).with_name("abstention_model_plain.json")  # fitted without the reader's feature
FEATURES = ("best_score", "best_cosine", "best_coverage", "passage_cosine", "missing_share", "unknown_share", "margin",
            "type_gap", "reader")


@dataclass(frozen=True)
class Evidence:
    """What one answer attempt found, reduced to the model's features."""

    best_score: float
    best_cosine: float
    best_coverage: float
    passage_cosine: float
    missing_share: float
    unknown_share: float
    margin: float
    type_gap: float  # how far below the best sentence is the best one carrying the kind of answer asked for
    reader: float = 0.0  # the reader's best probability that a sentence it read answers (0 without a reader)

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, name) for name in FEATURES], dtype=np.float64)

    def to_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 6) for name in FEATURES}


def idf_share(question_words: set[str], absent: set[str], idf: Callable[[str], float]) -> float:
    """IDF-weighted share of the question's words that are in `absent`."""
    total = sum(idf(w) for w in question_words)
    return sum(idf(w) for w in question_words & absent) / total if total else 1.0


@dataclass(frozen=True)
class AbstentionModel:
    """p(answerable) = sigmoid(bias + weights . (x - mean) / scale)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5
    note: str = ""
    follow_up_threshold: float | None = None  # the cut for a follow-up (None: `threshold`)
    answer_threshold: float | None = None  # below it (and above the refusal cut) the quotes are shown as places to look
    path: Path | None = field(default=None, compare=False)  # the file it was read from
    sha256: str = field(default="", compare=False)  # of that file

    def probability(self, evidence: Evidence) -> float:
        x = np.array([[getattr(evidence, name) for name in self.features]], dtype=np.float64)
        return float(self.probabilities(x)[0])

    @property
    def uses_reader(self) -> bool:
        return "reader" in self.features and bool(self.weights[self.features.index("reader")])

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = (x - np.asarray(self.mean)) / np.asarray(self.scale) @ np.asarray(self.weights) + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "mean": list(self.mean), "scale": list(self.scale),
                "weights": list(self.weights), "bias": self.bias, "threshold": self.threshold, "note": self.note,
                "follow_up_threshold": self.follow_up_threshold, "answer_threshold": self.answer_threshold}

    def describe(self) -> dict[str, object]:
        """As a build manifest names it: the file's hash, and the file unless it is a packaged one."""
        packaged = self.path is not None and self.path.resolve() in (MODEL_FILE.resolve(), PLAIN_MODEL_FILE.resolve())
        return {"sha256": self.sha256, "file": "" if packaged or self.path is None else str(self.path.resolve()),
                "packaged": packaged}

    @classmethod
    def for_settings(cls, abstain_model: str, reader: bool) -> "AbstentionModel":
        """The model `RAG_ABSTAIN_MODEL` names, else the packaged one for answering with a reader or without."""
        return cls.load(abstain_model) if abstain_model else cls.packaged(reader)

    @classmethod
    def packaged(cls, reader: bool) -> "AbstentionModel":
        """The shipped model for answering with the reader or without it (its own fit, when one ships)."""
        return cls.load(MODEL_FILE if reader or not PLAIN_MODEL_FILE.is_file() else PLAIN_MODEL_FILE)

    @classmethod
    def load(cls, path: Path | str | None = None) -> "AbstentionModel":
        path = Path(path) if path else MODEL_FILE
        try:
            raw = path.read_bytes()
            data = json.loads(raw.decode("utf-8"))
            model = cls(tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
                        float(data["bias"]), float(data.get("threshold", 0.5)), str(data.get("note", "")),
                        None if data.get("follow_up_threshold") is None else float(data["follow_up_threshold"]),
                        None if data.get("answer_threshold") is None else float(data["answer_threshold"]),
                        path, hashlib.sha256(raw).hexdigest())
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"abstention model {path} is unreadable ({exc}): refit it with `rag calibrate` or unset RAG_ABSTAIN_MODEL") from None
        if not set(model.features) <= set(FEATURES) or not (len(model.features) == len(model.mean) == len(model.weights)):
            raise ConfigError(f"abstention model {path} uses features {model.features}, this code computes {FEATURES}: refit it with `rag calibrate`")
        return model
