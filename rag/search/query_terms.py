"""Query terms: the specific words of a question.

Owns `question_words` (stemmed content words minus question filler such as 'tell', 'explain', 'company'), which
fusion weighting, reranking and answering use to weigh a question. How rare each word is in a build lives in
`rag.indexing.term_stats`; tokenising for BM25 in `rag.indexing.lexical`.
"""

from __future__ import annotations

from rag.ingest.text import content_words

QUESTION_FILLER = frozenset(
    content_words("say says said tell explain describe mean means happen happens need needs get want know please many much "
                  "our us organisation organization company group document documents rule rules state states")
)


def question_words(question: str) -> set[str]:
    """The question's specific content words (stemmed, question filler removed)."""
    return set(content_words(question)) - QUESTION_FILLER
