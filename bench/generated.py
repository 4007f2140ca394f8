"""Generated answers on the gold sets: what the model wrote, what verification kept, and how soon the first sentence came.

Asks a sample of the gold questions (every Nth row of each file, so all three sets and their follow-ups are in it)
through the live build with RAG_ANSWERER=openai against the server at RAG_LLM_BASE_URL (for the local one, see README
'Generated answers'), each as `rag.evaluate.runner` asks it (history included), streamed as a user gets it. Prints:
- answers the model was asked for (the calibrated refusals ask none), generated, fell back to extractive (by reason);
- generated sentences, the share kept (supported) and removed, and how many shown sentences failed the check or carry
  no span citation (the target: zero);
- time from the request to the first streamed verified sentence of generated answers, p50 and p95, and, for every
  answer the model wrote, the time to its first sentence checked (the moment it would stream had it passed: with a
  model whose sentences all fail, the only latency there is to measure);
- why sentences were removed (the first words of each reason);
then `RESULT {json}`.

    RAG_ANSWERER=openai RAG_LLM_BASE_URL=http://127.0.0.1:8080/v1 RAG_LLM_MODEL=smollm2 \\
        .venv/bin/python bench/generated.py [--sample 60] [--gold FILE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from rag.assistant import Assistant  # noqa: E402
from rag.chat.streaming import Completed, TextDelta  # noqa: E402
from rag.config import Settings  # noqa: E402
from rag.evaluate import metrics as m  # noqa: E402
from rag.evaluate.gold import GoldRow, load_gold  # noqa: E402
from rag.evaluate.runner import QuestionResult, generation_figures  # noqa: E402
from rag.generate.verify import Verifier  # noqa: E402
from rag.models import Answer  # noqa: E402

GOLD = ["eval/gold/docs_corpus.jsonl", "eval/gold/docs_corpus_natural.jsonl", "eval/gold/docs_corpus_dialogues.jsonl"]


def sample(assistant: Assistant, files: list[str], size: int) -> list[GoldRow]:
    """About `size` rows: every Nth row of each file, N the same for all."""
    documents = assistant.snapshot.index.documents
    sets = [load_gold(REPO / f, documents) for f in files]
    step = max(1, sum(len(rows) for rows in sets) // size)
    return [row for rows in sets for row in rows[::step]]


class FirstCheck:
    """Records when the first sentence of the current answer was checked (wraps `Verifier.check`)."""

    def __init__(self) -> None:
        self.at: float | None = None
        original = Verifier.check

        def check(verifier, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.at = self.at if self.at is not None else time.perf_counter()
            return original(verifier, *args, **kwargs)

        Verifier.check = check  # type: ignore[method-assign]


def ask(assistant: Assistant, row: GoldRow, checks: FirstCheck) -> tuple[Answer, float | None, float | None]:
    """The answer, the seconds to its first streamed text when the model's sentences are that text (else None), and
    to its first sentence checked (None when none was)."""
    started, first = time.perf_counter(), None
    answer, checks.at = None, None
    for event in assistant.stream(row.question, history=list(row.history)):
        if isinstance(event, TextDelta) and first is None:
            first = time.perf_counter() - started
        elif isinstance(event, Completed):
            answer = event.answer
    assert answer is not None
    checked = checks.at - started if checks.at is not None else None
    return answer, first if answer.backend == "openai" else None, checked


def unverified_shown(answer: Answer) -> int:
    """Sentences of a generated answer's text that failed the check or carry no citation of a span."""
    if answer.backend != "openai":
        return 0
    return sum(1 for s in answer.sentences if s.kept and not (s.supported and s.citations))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=60, help="about how many gold questions to ask")
    parser.add_argument("--gold", nargs="*", default=GOLD)
    args = parser.parse_args()
    settings = Settings.from_env()
    if settings.answerer != "openai":
        sys.exit("set RAG_ANSWERER=openai, RAG_LLM_BASE_URL and RAG_LLM_MODEL (see README 'Generated answers')")
    assistant = Assistant(settings)
    rows = sample(assistant, args.gold, args.sample)
    results, firsts, checked_at, bad, reasons = [], [], [], 0, Counter()
    checks = FirstCheck()
    for n, row in enumerate(rows, start=1):
        answer, first, checked = ask(assistant, row, checks)
        results.append(QuestionResult(row, answer=replace(answer)))
        firsts += [first] if first is not None else []
        checked_at += [checked] if checked is not None else []
        reasons.update(" ".join(s.reason.split()[:3]) for s in answer.sentences if not s.supported)
        bad += unverified_shown(answer)
        print(f"[{n}/{len(rows)}] {row.id}: {answer.backend}"
              f"{' (' + answer.fallback.reason + ')' if answer.fallback else ''}"
              f"{' refused' if answer.abstained else ''}, {sum(s.kept for s in answer.sentences)}/{len(answer.sentences)} kept"
              f"{f', first sentence {first:.1f} s' if first is not None else ''}", flush=True)
    figures: dict[str, Any] = generation_figures(results) or {}
    figures.update(questions=len(rows), refused_without_model=sum(r.answer.abstained and not r.answer.model for r in results),
                   shown_unverified=bad, first_sentence_s={"n": len(firsts), "p50": m.percentile(firsts, 50) if firsts else None,
                                                           "p95": m.percentile(firsts, 95) if firsts else None},
                   first_check_s={"n": len(checked_at), "p50": m.percentile(checked_at, 50) if checked_at else None,
                                  "p95": m.percentile(checked_at, 95) if checked_at else None},
                   removed_because=dict(reasons.most_common()))
    print(f"\n{len(rows)} questions; the model was asked for {figures.get('answers', 0)} "
          f"({figures['refused_without_model']} refused by the calibrated refusal, no model asked)")
    if figures.get("answers"):
        print(f"generated {figures['generated']}, fell back to extractive {figures['fell_back']} "
              f"({figures['fell_back_share']:.2f}): {figures['fallback_reasons']}")
        print(f"sentences {figures['sentences']}: kept {figures['supported']} ({figures['supported_share'] or 0:.2f}), "
              f"removed {figures['sentences'] - figures['supported']} ({figures['removed_share'] or 0:.2f})")
        print(f"shown sentences that failed the check or cite no span: {bad}")
    if firsts:
        print(f"first verified sentence streamed after p50 {figures['first_sentence_s']['p50']:.2f} s, "
              f"p95 {figures['first_sentence_s']['p95']:.2f} s (n={len(firsts)})")
    if checked_at:
        print(f"first generated sentence checked after p50 {figures['first_check_s']['p50']:.2f} s, "
              f"p95 {figures['first_check_s']['p95']:.2f} s (n={len(checked_at)})")
    print(f"removed because: {figures['removed_because']}")
    print("RESULT " + json.dumps(figures, default=str))


if __name__ == "__main__":
    main()
