"""The Markdown eval report: the metrics table and every failed question.

Owns presentation only. A question fails when retrieval misses all its
evidence in the top 10, when an answerable question is refused or answered
without any gold answer string, or when an unanswerable one is answered.
"""

from __future__ import annotations

from typing import Any

from rag.evaluate.runner import EvalRun, QuestionResult
from rag.models import section_label


def failure_reasons(r: QuestionResult) -> list[str]:
    reasons = []
    if r.error:
        reasons.append(f"error: {r.error}")
    if r.row.answerable and r.retrieval and not r.retrieval.get("hit@10"):
        reasons.append("retrieval missed the evidence (top 10)")
    if r.row.answerable and r.abstained:
        reasons.append("refused an answerable question")
    elif r.row.answerable and r.answer_scores.get("containment") == 0.0:
        reasons.append("answer lacks every gold answer string")
    if not r.row.answerable and not r.abstained:
        reasons.append("answered an unanswerable question")
    return reasons


_COUNTS = {"unanswerable", "answerable", "n", "refused", "answered", "uncertain"}  # shown as whole numbers


def metrics_table(summary: dict[str, Any]) -> list[str]:
    lines = ["| group | metric | value | 95% CI |", "|---|---|---|---|"]
    for group in ("retrieval", "answer", "abstention", "states", "latency_ms"):
        for key, value in summary.get(group, {}).items():
            ci = summary["ci"].get(f"{group}.{key}")
            shown = "n/a" if value is None else str(int(value)) if key in _COUNTS else f"{value:.3f}"
            lines.append(f"| {group} | {key} | {shown} | {'' if not ci else f'{ci[0]:.3f}-{ci[1]:.3f}'} |")
    return lines


def _question_block(r: QuestionResult, reasons: list[str]) -> list[str]:
    lines = [f"### {r.row.id}: {r.row.question}", "", f"- why: {'; '.join(reasons)}"]
    for ev in r.row.evidence:
        lines.append(f"- gold evidence ({ev.doc_id}): {' '.join(ev.text.split())[:200]}")
    if r.row.answers:
        lines.append(f"- gold answers: {', '.join(r.row.answers)}")
    for p in r.passages[:3]:
        lines.append(f"- retrieved #{p.rank} ({p.chunk.doc_id}, {section_label(p.chunk.section)}, {p.score:.3f}): {' '.join(p.chunk.text.split())[:160]}")
    if r.answer is not None:
        lines.append(f"- answer (confidence {r.answer.confidence:.3f}): {' '.join(r.answer.answer.split())[:300]}")
    return lines + [""]


def render_report(run: EvalRun, title: str = "Evaluation report") -> str:
    summary = run.summary
    index = summary["index"]
    lines = [f"# {title}", "", f"Build `{index['build_id']}`, {summary['n']} questions ({summary['n_answerable']} answerable).", ""]
    lines += metrics_table(summary) + [""]
    failures = [(r, failure_reasons(r)) for r in run.results]
    failures = [(r, why) for r, why in failures if why]
    lines += [f"## Failed questions ({len(failures)})", ""]
    for r, why in failures:
        lines += _question_block(r, why)
    if summary["unresolved_evidence"]:
        lines += ["## Evidence not found in the corpus", ""]
        lines += [f"- {qid}: {', '.join(items)}" for qid, items in summary["unresolved_evidence"].items()]
    return "\n".join(lines) + "\n"
