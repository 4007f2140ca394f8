"""Second-stage ranking of the fused candidates, with no extra model call.

Owns three adjustments to a ranked candidate list (scores first divided by the
best one): passages that carry a reference the question names (a clause number
such as `4.2.1`, `Article 21`, or a rare quoted term or acronym, see
`rag.search.references`) are lifted, so are passages stating a range that holds a
money amount the question names (`rag.search.amounts`), and the top candidates are re-scored with the best
cosine between the question and the passage's own sentences (vectors stored in
`sentences.npz` at build time), mixed with the list score.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from rag.search.amounts import Interval, holds_amount
from rag.search.references import Reference

Ranked = Sequence[tuple[int, float]]  # (chunk row, score), best first


@dataclass(frozen=True)
class RerankConfig:
    sentence_weight: float = 0.45  # share of the best sentence's score in the top candidates' scores
    depth: int = 20  # candidates re-scored by their best sentence (the retriever passes RAG_RERANK_DEPTH)
    number_boost: float = 0.3  # added (split over the question's references) for a carried clause/article number
    term_boost: float = 0.1  # same, for a quoted term or acronym carried by few candidates
    term_max_share: float = 0.1  # a term carried by more of the candidates than this does not discriminate


def normalised(ranked: Ranked) -> list[tuple[int, float]]:
    best = max((s for _, s in ranked), default=0.0)
    return [(row, s / best if best > 0 else 0.0) for row, s in ranked]


def boost_references(ranked: Ranked, references: Sequence[Reference], text_of: Callable[[int], str],
                     config: RerankConfig) -> list[tuple[int, float]]:
    """Add each discriminating reference's boost to the candidates that carry it."""
    scores = dict(ranked)
    texts = {row: text_of(row) for row, _ in ranked}
    lowered = {row: text.lower() for row, text in texts.items()}
    for ref in references:
        carriers = [row for row, _ in ranked if ref.carried_by(texts[row], lowered[row])]
        boost = config.number_boost if ref.kind == "number" else config.term_boost
        if not carriers or (ref.kind == "term" and len(carriers) > config.term_max_share * len(ranked)):
            continue
        for row in carriers:  # a passage that only mentions the clause gets the whole boost too: on ObliQA the
            scores[row] += boost / len(references)  # answer is often guidance that cites the rule (ndcg 0.694 vs 0.685)
    return _sorted(scores)


def boost_amounts(ranked: Ranked, amounts: Sequence[Interval], ranges_of: Callable[[int], list[Interval]], boost: float,
                  depth: int) -> list[tuple[int, float]]:
    """Add `boost` to the top `depth` candidates stating a range that holds an amount the question names (an approval
    or limit table: 'a gift worth £300' meets 'More than £150 and up to £500'); `ranges_of(row)`: the amounts and
    ranges a candidate states. The ranking unchanged when the question names no amount."""
    if not amounts or boost <= 0:
        return list(ranked)
    top, rest = list(ranked[:depth]), list(ranked[depth:])
    scores = {row: score + (boost if holds_amount(amounts, ranges_of(row)) else 0.0) for row, score in top}
    return _sorted(scores) + rest


def sentence_rerank(ranked: Ranked, best_sentence: Callable[[int], float], config: RerankConfig) -> list[tuple[int, float]]:
    """Mix each top candidate's score with its best sentence's score (divided by the best of those)."""
    top, rest = list(ranked[: config.depth]), list(ranked[config.depth :])
    if not top or config.sentence_weight <= 0:
        return list(ranked)
    cosines = np.array([best_sentence(row) for row, _ in top], dtype=np.float32)
    peak = float(cosines.max())
    w = config.sentence_weight
    mixed = {row: (1 - w) * score + w * (float(c) / peak if peak > 0 else 0.0) for (row, score), c in zip(top, cosines)}
    floor = min(mixed.values())
    return _sorted(mixed) + [(row, min(score, floor)) for row, score in rest]


def _sorted(scores: dict[int, float]) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))
