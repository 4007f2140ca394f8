"""The eval runner: ask every gold question, score retrieval, answers and refusals.

Owns running a gold set against one loaded build (questions in file order,
optional scoping to one document per row; a row with `history` is asked as a
follow-up, through the same conversation path as `Assistant.ask`), aggregating
per-question results into the metrics JSON (`n`, `retrieval`, `answer`,
`abstention`, `latency_ms`, `ci`, `index`, `by_turn`: the same figures for
first turns and for follow-ups apart, and `by_day`: for rows asked about today and rows with an `as_of` day apart). The Markdown report lives in `rag.evaluate.report`. Metric
definitions live in `rag.evaluate.metrics`; the promotion decision in `rag.evaluate.gate`.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

from rag.assistant import Assistant, Snapshot
from rag.chat.history import checked_history, latest_within
from rag.chat.streaming import final_answer
from rag.errors import InvalidRequestError, LLMError, NotFoundError
from rag.evaluate import metrics as m
from rag.evaluate.gold import GoldRow
from rag.ingest.text import table_header
from rag.models import Access, Answer, Passage
from rag.search.retrieval import Filters, allowed_documents, clean_question, scope_documents

RANK_DEPTH = 10
BUDGET = 512
HEADLINE = ["retrieval.hit@1", "retrieval.hit@10", "retrieval.mrr@10", "retrieval.ndcg@10", "retrieval.recall@10",
            "answer.containment", "answer.citation_precision", "abstention.f1"]


@dataclass
class QuestionResult:
    row: GoldRow
    passages: list[Passage] = field(default_factory=list)
    answer: Answer | None = None
    latency_ms: float = 0.0
    error: str | None = None
    retrieval: dict[str, float] = field(default_factory=dict)
    answer_scores: dict[str, float] = field(default_factory=dict)

    @property
    def abstained(self) -> bool:
        return self.answer is None or self.answer.abstained


@dataclass
class EvalRun:
    summary: dict[str, Any]
    results: list[QuestionResult]


def evaluate(assistant: Assistant, rows: Sequence[GoldRow], progress: Callable[[int], None] | None = None, seed: int = 0,
             metadata: Mapping[str, str] | None = None, access: Access | None = None) -> EvalRun:
    """Run every row against the assistant's live snapshot; the metrics JSON and per-question results.

    With `metadata`, only matching documents are searched (a filter matching none is refused up front); with
    `access`, only the documents of its groups; answerable rows whose evidence lies wholly outside them are left out
    and counted."""
    snap = assistant.snapshot
    excluded = 0
    allowed_ids = scope_documents(snap.index, Filters(metadata=dict(metadata or {}), access=access))
    if metadata and not allowed_ids:
        raise InvalidRequestError(f"no document matches the metadata filter {dict(metadata)}: check the keys and values "
                                  "with GET /v1/documents")
    if allowed_ids is not None:
        allowed = set(allowed_ids)
        kept = [r for r in rows if not r.answerable or any(e.doc_id in allowed for e in r.evidence)]
        excluded, rows = len(rows) - len(kept), kept
    results = []
    for row in rows:
        results.append(run_question(snap, assistant, row, metadata, access))
        if progress:
            progress(1)
    summary = summarise(results, snap, seed)
    summary["index"]["metadata_filter"] = dict(metadata or {})
    summary["index"]["rows_outside_filter"] = excluded
    summary["index"]["access_groups"] = sorted(access.groups) if access and access.groups is not None else None
    return EvalRun(summary, results)


def run_question(snap: Snapshot, assistant: Assistant, row: GoldRow, metadata: Mapping[str, str] | None = None,
                 access: Access | None = None) -> QuestionResult:
    result = QuestionResult(row)
    filters = Filters(doc_ids=(row.scope_doc,) if row.scope_doc else (), metadata=dict(metadata or {}), access=access,
                      as_of=row.as_of or assistant.settings.day())
    started = time.perf_counter()
    try:
        question = clean_question(row.question, assistant.settings)
        history = checked_history(latest_within(row.history, assistant.settings), assistant.settings)
        asked = snap.respelt(question)  # as the assistant asks it: misspelt words read as the build's
        context = snap.chat.context(asked, history)
        vectors = snap.chat.vectors(context)
        depth = min(max(RANK_DEPTH, assistant.settings.top_k), assistant.settings.max_top_k)
        found = snap.chat.retrieve(context, vectors, depth, filters)
        result.passages = found.passages
        allowed = allowed_documents(snap.index, filters)
        events = snap.backend.stream(asked, vectors[0], found.passages[: assistant.settings.top_k], snap.index, allowed=allowed,
                                     reading=found.reading, history=history)
        result.answer = replace(final_answer(events), question=question, standalone_question=context.text)
    except (InvalidRequestError, NotFoundError, LLMError) as exc:  # LLMError: RAG_LLM_FALLBACK=error and the model failed
        result.error = exc.message
    result.latency_ms = (time.perf_counter() - started) * 1000
    score_question(result, snap)
    return result


def _evidence(row: GoldRow) -> list[tuple[str, tuple[tuple[int, int], ...]]]:
    return [(e.doc_id, e.spans) for e in row.evidence]


def score_question(result: QuestionResult, snap: Snapshot) -> None:
    row, evidence = result.row, _evidence(result.row)
    if row.answerable and evidence:
        located = [(p.chunk.doc_id, p.chunk.start, p.chunk.end) for p in result.passages]
        result.retrieval = m.ranking_metrics(located, [p.chunk.n_tokens for p in result.passages], evidence, BUDGET)
    if result.answer is None or result.abstained:
        if row.answerable and evidence:
            result.answer_scores = {"right_citation": 0.0, "first_citation": 0.0}  # a refusal cites nothing right
        return
    answer, scores = result.answer, {}
    text = m.strip_markers(answer.answer)
    if row.answerable and row.answers:
        scores.update(exact_match=m.exact_match(text, row.answers), f1=m.token_f1(text, row.answers), containment=m.containment(text, row.answers))
    if row.answerable and evidence:
        matched = [m.matched_evidence((c.doc_id, c.start, c.end), evidence) for c in answer.citations]
        scores["citation_precision"] = sum(1 for x in matched if x) / len(matched) if matched else 0.0
        scores["citation_recall"] = len(set().union(*matched)) / len(evidence) if matched else 0.0
        scores["right_citation"] = 1.0 if any(matched) else 0.0
        scores["first_citation"] = 1.0 if matched and matched[0] else 0.0  # the quote read first is a right one
    scores["supported_sentences"] = supported_rate(answer, snap)
    result.answer_scores = scores


def supported_rate(answer: Answer, snap: Snapshot) -> float:
    """Share of answer sentences whose cited spans (with their table header, if any) support them."""
    sources = {c.n: citation_context(c.doc_id, c.start, c.end, snap) for c in answer.citations}
    sentences = m.answer_sentences(answer.answer)
    if not sentences:
        return 0.0
    ok = sum(m.sentence_supported(s, [sources[n] for n in markers if n in sources]) for s, markers in sentences)
    return ok / len(sentences)


def citation_context(doc_id: str, start: int, end: int, snap: Snapshot) -> str:
    text = snap.index.documents[doc_id].text
    header = table_header(text, start)
    return text[start:end] + (" " + " ".join(header) if header else "")


def _mean(results: Sequence[QuestionResult], group: str, key: str) -> float | None:
    values = [getattr(r, group)[key] for r in results if key in getattr(r, group)]
    return sum(values) / len(values) if values else None


def _aggregate(results: Sequence[QuestionResult]) -> dict[str, dict[str, float | None]]:
    retrieval_keys = ["hit@1", "hit@5", "hit@10", "mrr@10", "ndcg@10", "recall@10", f"budget_recall@{BUDGET}"]
    answer_keys = ["exact_match", "f1", "containment", "citation_precision", "citation_recall", "supported_sentences",
                   "right_citation", "first_citation"]
    return {
        "n": len(results),
        "retrieval": {k: _mean(results, "retrieval", k) for k in retrieval_keys},
        "answer": {k: _mean(results, "answer_scores", k) for k in answer_keys},
        "abstention": m.abstention_metrics([(r.row.answerable, r.abstained) for r in results]),
        "states": m.state_metrics([(_status(r), r.row.answerable, r.answer_scores.get("right_citation")) for r in results]),
    }


def _status(r: QuestionResult) -> str:
    return "refused" if r.abstained else r.answer.status if r.answer else "refused"


def _headline(results: Sequence[QuestionResult], dotted: str) -> float:
    group, key = dotted.split(".")
    value = _aggregate(results)[group][key]
    return 0.0 if value is None else float(value)


def summarise(results: Sequence[QuestionResult], snap: Snapshot, seed: int = 0) -> dict[str, Any]:
    aggregate = _aggregate(results)
    latencies = [r.latency_ms for r in results]
    ci = {name: list(m.bootstrap_ci(results, lambda rs, n=name: _headline(rs, n), n=200, seed=seed)) for name in HEADLINE}
    return {
        **aggregate,
        "n_answerable": sum(1 for r in results if r.row.answerable),
        "latency_ms": {"p50": m.percentile(latencies, 50), "p95": m.percentile(latencies, 95)},
        "ci": ci,
        "by_turn": {"first": _aggregate([r for r in results if not r.row.follow_up]),
                    "follow_up": _aggregate([r for r in results if r.row.follow_up])},
        "by_day": {"today": _aggregate([r for r in results if r.row.as_of is None]),
                   "as_of": _aggregate([r for r in results if r.row.as_of is not None])},
        "index": fingerprint(snap),
        "generation": generation_figures(results),
        "unresolved_evidence": {r.row.id: r.row.unresolved for r in results if r.row.unresolved},
        "errors": {r.row.id: r.error for r in results if r.error},
        "questions": [question_record(r) for r in results],
    }


def generation_figures(results: Sequence[QuestionResult]) -> dict[str, Any] | None:
    """What the language model wrote, over the answers it was asked for (None when it was asked for none): answers
    generated or given by the extractive fallback (by reason), and its sentences supported, shown, left out."""
    asked = [r.answer for r in results if r.answer is not None and r.answer.model]
    if not asked:
        return None
    checks = [c for a in asked for c in a.sentences]
    fell = Counter(a.fallback.reason for a in asked if a.fallback)
    shown = [c for a in asked if a.backend != "extractive" for c in a.sentences if c.kept]
    return {"answers": len(asked), "generated": sum(a.backend != "extractive" for a in asked),
            "fell_back": sum(fell.values()), "fell_back_share": sum(fell.values()) / len(asked), "fallback_reasons": dict(fell),
            "stopped": dict(Counter(a.stopped.reason for a in asked if a.stopped)), "sentences": len(checks),
            "supported": sum(c.supported for c in checks), "shown": len(shown), "shown_unsupported": sum(not c.supported for c in shown),
            "supported_share": sum(c.supported for c in checks) / len(checks) if checks else None,
            "removed_share": sum(not c.supported for c in checks) / len(checks) if checks else None}


def fingerprint(snap: Snapshot) -> dict[str, Any]:
    manifest = snap.index.manifest
    corpus = manifest.get("corpus", {}).get("documents", {})
    digest = hashlib.sha256("".join(f"{k}:{v}" for k, v in sorted(corpus.items())).encode()).hexdigest()[:16]
    return {
        "build_id": snap.index.build_id,
        "model": manifest.get("model"),
        "chunker": manifest.get("chunker"),
        "retrieval": retrieval_settings(snap.retriever.settings),
        "abstain_threshold": snap.answerer.threshold,
        "abstain_model": snap.answerer.settings.abstain_model or "packaged",
        "reader": snap.answerer.reader.describe() if snap.answerer.reader is not None else None,
        "late": snap.answerer.late.describe() if snap.answerer.late is not None else None,
        "corpus_digest": digest,
        "documents": len(corpus),
        "chunks": len(snap.index.chunks),
    }


def retrieval_settings(settings: Any) -> dict[str, Any]:
    keys = ("retrieval", "fusion", "dense_weight", "dense_weight_long", "rrf_k", "candidates", "rerank_weight",
            "rerank_depth", "rerank_coverage", "reference_boost", "term_boost", "query_encoder", "chunk_tokens",
            "context_turns", "context_answers", "context_decay", "context_weight", "context_doc_boost",
            "chunk_overlap", "chunk_paragraph_fill", "top_k", "answer_sentences", "answer_margin", "late_weight", "late_depth",
            "late_margin", "answerer", "llm_model",
            "llm_rewrite", "verify_mode", "verify_coverage", "verify_similarity", "verify_min_kept")
    return {key: getattr(settings, key) for key in keys}


def question_record(r: QuestionResult) -> dict[str, Any]:
    return {
        "id": r.row.id,
        "answerable": r.row.answerable,
        "follow_up": r.row.follow_up,
        "standalone_question": r.answer.standalone_question if r.answer else None,
        "hit@10": r.retrieval.get("hit@10"),
        "rank": _first_hit_rank(r),
        "abstained": r.abstained,
        "status": _status(r),
        "right_citation": r.answer_scores.get("right_citation"),
        "first_citation": r.answer_scores.get("first_citation"),
        "confidence": r.answer.confidence if r.answer else None,
        "evidence": dict(r.answer.evidence) if r.answer else None,
        "containment": r.answer_scores.get("containment"),
        "citation_precision": r.answer_scores.get("citation_precision"),
        "backend": r.answer.backend if r.answer else None,
        "fallback": r.answer.fallback.reason if r.answer and r.answer.fallback else None,
    }


def _first_hit_rank(r: QuestionResult) -> int | None:
    mrr = r.retrieval.get("mrr@10")
    return round(1 / mrr) if mrr else None
