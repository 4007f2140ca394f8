"""Gold Q&A sets: loading JSONL rows and resolving evidence to character spans.

Owns the gold file format (`{id, question, answers[], evidence[{doc, text}],
answerable, meta, history?, as_of?}`; `history` is the conversation before a follow-up, oldest first; `as_of` the
day, YYYY-MM-DD, whose versions of the documents answer), reading a dotted scope field such as `meta.scope_doc`,
and turning each evidence string into its span(s) in the loaded document text
(exact match first, then a whitespace-insensitive match). Evidence that cannot
be found is reported on the row, never dropped. Metrics live in `rag.evaluate.metrics`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Mapping

from rag.errors import InvalidRequestError
from rag.models import ROLES, Document, Message


@dataclass(frozen=True)
class EvidenceSpan:
    """One gold evidence item: every place its text occurs in the document."""

    doc_id: str
    text: str
    spans: tuple[tuple[int, int], ...]

    @property
    def found(self) -> bool:
        return bool(self.spans)


@dataclass(frozen=True)
class GoldRow:
    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[EvidenceSpan, ...]
    answerable: bool
    meta: Mapping[str, Any] = field(default_factory=dict)
    scope_doc: str | None = None
    history: tuple[Message, ...] = ()  # the conversation before the question; empty for a first turn
    as_of: date | None = None  # the day whose versions of the documents answer (None: today)

    @property
    def follow_up(self) -> bool:
        return bool(self.history)

    @property
    def unresolved(self) -> list[str]:
        return [f"{e.doc_id}: {e.text[:60]!r}" for e in self.evidence if not e.found]


def load_gold(path: Path, documents: Mapping[str, Document], scope_field: str | None = None) -> list[GoldRow]:
    """Rows of a gold JSONL file with evidence resolved against `documents`."""
    path = Path(path)
    if not path.is_file():
        raise InvalidRequestError(f"gold file {path} does not exist: pass --gold FILE (JSONL, see README 'Evaluating')")
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if line.strip():
                rows.append(_parse_row(line, line_no, path, documents, scope_field))
    if not rows:
        raise InvalidRequestError(f"gold file {path} has no rows")
    return rows


def _parse_row(line: str, line_no: int, path: Path, documents: Mapping[str, Document], scope_field: str | None) -> GoldRow:
    try:
        data = json.loads(line)
        question = str(data["question"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InvalidRequestError(f"{path}:{line_no}: not a gold row ({exc}); each line needs at least a 'question'") from None
    evidence = tuple(
        EvidenceSpan(e["doc"], e["text"], find_spans(documents.get(e["doc"]), e["text"])) for e in data.get("evidence", [])
    )
    scope = read_field(data, scope_field) if scope_field else None
    return GoldRow(
        id=str(data.get("id", line_no)),
        question=question,
        answers=tuple(str(a) for a in data.get("answers", [])),
        evidence=evidence,
        answerable=bool(data.get("answerable", bool(evidence))),
        meta=data.get("meta", {}),
        scope_doc=str(scope) if scope else None,
        history=_history(data.get("history"), line_no, path),
        as_of=_day(data.get("as_of"), line_no, path),
    )


def _day(raw: Any, line_no: int, path: Path) -> date | None:
    """A row's `as_of`: "YYYY-MM-DD", the day whose versions answer."""
    if raw is None:
        return None
    if isinstance(raw, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        try:
            return date.fromisoformat(raw)
        except ValueError:
            pass
    raise InvalidRequestError(f"{path}:{line_no}: as_of {raw!r} is not a date: write it YYYY-MM-DD, e.g. 2024-06-01")


def _history(raw: Any, line_no: int, path: Path) -> tuple[Message, ...]:
    """A row's `history`: [{"role": "user"|"assistant", "content": str}, ...], oldest first."""
    if not raw:
        return ()
    if not isinstance(raw, list) or not all(isinstance(m, Mapping) and m.get("role") in ROLES and isinstance(m.get("content"), str)
                                            for m in raw):
        raise InvalidRequestError(f"{path}:{line_no}: history must be a list of {{\"role\": \"user\"|\"assistant\", "
                                  "\"content\": str}, oldest first (see README 'Evaluating')")
    return tuple(Message(m["role"], m["content"]) for m in raw)


def read_field(data: Mapping[str, Any], dotted: str) -> Any:
    """`meta.scope_doc` -> data['meta']['scope_doc'] (None when absent)."""
    value: Any = data
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def find_spans(doc: Document | None, text: str) -> tuple[tuple[int, int], ...]:
    """All occurrences of `text` in the document; whitespace-insensitive if no exact one."""
    if doc is None or not text.strip():
        return ()
    exact = [(m.start(), m.start() + len(text)) for m in re.finditer(re.escape(text), doc.text)]
    if exact:
        return tuple(exact)
    words = text.split()
    pattern = r"\s+".join(re.escape(w) for w in words)
    return tuple((m.start(), m.end()) for m in re.finditer(pattern, doc.text))
