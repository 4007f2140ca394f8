"""Antecedents: the sentence a quoted sentence leans on when it opens with a pronoun.

"They must not post advertisements of their own for Group vacancies" says nothing on its own; the sentence before
it in the same paragraph ("7.6 Staff may share Group job advertisements on their personal accounts.") says who
"they" are. This module finds that earlier sentence for a sentence opening with a third-person pronoun or a
demonstrative ('They', 'It', 'This includes', 'Such a') or a discourse marker ('For example', 'Typical examples
are', 'However'), but not for one naming the document itself ('This policy applies', 'These Rules'), and only
within one paragraph. It returns a character span; quoting it is
`rag.answer.extractive`'s job, as for a list's lead-in (`rag.answer.lists`).
"""

from __future__ import annotations

import re

from rag.indexing.store import LoadedIndex
from rag.models import Document

Span = tuple[int, int]

_ANAPHOR = re.compile(r"^(?:They|It|He|She|These|This|Those|Such|Their|Its)\s+(\S+)")
_DOCUMENT_WORDS = frozenset(
    "policy policies standard standards procedure procedures schedule chapter chapters section sections rule rules "
    "guidance appendix document part parts regulation regulations notice statement privacy code rulebook".split()
)


_CONNECTIVE = re.compile(  # discourse markers that presuppose the sentence before them
    r"^(?:For (?:example|instance)|(?:Typical )?[Ee]xamples|In particular|However|Otherwise|Instead|In (?:that|this|such) cases?"
    r"|If so|If not)\b"
)


def leans_back(text: str) -> bool:
    """Whether a sentence opens with a pronoun or demonstrative that points at an earlier sentence, or with a
    discourse marker that presupposes one ('For example', 'Typical examples are', 'However', 'Otherwise')."""
    text = text.strip()
    match = _ANAPHOR.match(text)
    return bool(match) and match.group(1).lower().strip(",.;:") not in _DOCUMENT_WORDS or bool(_CONNECTIVE.match(text))


def antecedent_span(index: LoadedIndex, doc: Document, span: Span) -> Span | None:
    """The sentence right before `span` in its paragraph when the sentence at `span` leans back on it, else None."""
    if not leans_back(doc.text[span[0]:span[1]]):
        return None
    rows = index.sentences.rows_within(doc.doc_id, max(0, span[0] - 2000), span[0])
    if not len(rows):
        return None
    before = int(index.sentences.starts[rows[-1]]), int(index.sentences.ends[rows[-1]])
    return before if "\n" not in doc.text[before[1]:span[0]] else None
