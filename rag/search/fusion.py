"""Rank fusion: combine dense and lexical candidate lists without adding raw scores.

Owns reciprocal rank fusion (each list contributes weight / (k + rank)) and a
normalised convex combination (each list's scores divided by its best score,
then mixed with weight alpha). Both return (row, fused score) pairs, best
first, with ties broken by row for determinism.
"""

from __future__ import annotations

from typing import Sequence

Ranked = Sequence[tuple[int, float]]  # (row, score), best first


def reciprocal_rank_fusion(lists: Sequence[Ranked], weights: Sequence[float], k: float = 60.0) -> list[tuple[int, float]]:
    fused: dict[int, float] = {}
    for ranked, weight in zip(lists, weights):
        for rank, (row, _) in enumerate(ranked, start=1):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def convex_fusion(dense: Ranked, lexical: Ranked, alpha: float) -> list[tuple[int, float]]:
    """alpha * dense/max(dense) + (1 - alpha) * lexical/max(lexical), over the union of candidates."""
    fused: dict[int, float] = {}
    for ranked, weight in ((dense, alpha), (lexical, 1.0 - alpha)):
        best = max((s for _, s in ranked), default=0.0)
        for row, score in ranked:
            fused[row] = fused.get(row, 0.0) + (weight * score / best if best > 0 else 0.0)
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
