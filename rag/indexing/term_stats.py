"""Term statistics of one build: how rare each stemmed content word is over its chunks.

Owns `TermStats` (inverse document frequencies over a build's chunk texts, and the IDF-weighted share of a
question's words that a sentence or passage contains). The loaded build (`rag.indexing.store`) computes it once;
reranking (`rag.search`) and answering (`rag.answer`) share it. Leaves out which words of a question count
(`rag.search.query_terms`) and tokenising for BM25 (`rag.indexing.lexical`, which stems with Snowball).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import AbstractSet, Sequence

from rag.ingest.text import content_words


class TermStats:
    """Inverse document frequencies of stemmed content words over a build's chunks."""

    def __init__(self, texts: Sequence[str]) -> None:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(content_words(text)))
        self.n = max(1, len(texts))
        self.df = df

    def idf(self, word: str) -> float:
        return math.log(1 + (self.n - self.df.get(word, 0) + 0.5) / (self.df.get(word, 0) + 0.5))

    def coverage(self, question_words: set[str], sentence_words: AbstractSet[str]) -> float:
        """IDF-weighted share of the question's words that the sentence contains."""
        total = sum(self.idf(w) for w in question_words)
        return sum(self.idf(w) for w in question_words & sentence_words) / total if total else 0.0

    def shares(self, question_words: set[str]) -> dict[str, float]:
        """Each question word's share of the question's total IDF, so a sentence's coverage is the sum of the
        shares of the words it holds (`coverage` for many sentences at the cost of one)."""
        idf = {w: self.idf(w) for w in question_words}
        total = sum(idf.values())
        return {w: v / total for w, v in idf.items()} if total else {}
