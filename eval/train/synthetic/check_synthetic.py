#!/usr/bin/env python3
"""Check the synthetic training world: each organisation's documents and staff questions.

For every organisation folder (`eval/train/synthetic/<slug>/`, see SPEC.md) it verifies that:
  * every row has a unique id starting with the folder's slug, a non-empty question, a boolean
    `answerable`, known kinds (`meta.kind`) and, for a follow-up, a well-formed `history`;
  * answerable rows have evidence, every evidence text verbatim in the document it names (raw file
    for .md/.txt/.html, inside one visible text node for HTML, the project's extracted text for
    PDF/DOCX, on one page for PDF), and every answer inside an evidence text;
  * unanswerable rows have no answers and no evidence; a `near_miss` names its nearby clause
    (`meta.near_text`, verbatim in `meta.doc`);
  * a `no_overlap` row shares no content word with its evidence, no question copies a run of three
    words (two of them content words) from its evidence, no evidence span answers more than three
    questions, and no question appears twice (in its organisation or any other);
  * nothing comes from the yardstick: no document shares a run of 12 words with `docs_corpus/`, and
    no question equals a gold question (`eval/gold/*.jsonl`, compared normalised; only counts print).

It then prints counts per organisation and in all: documents and words, rows by answerability and
kind, conversations, and the distribution of question/evidence content-word overlap beside the
staff-voice gold set's (synthetic questions must not be easier than the users').

Usage: python eval/train/synthetic/check_synthetic.py [ORG_DIR ...]   (default: every folder here)
Exits with status 1 if any problem is found.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "eval" / "gold"))
sys.path.insert(0, str(ROOT / "eval" / "train"))
from check_apart import Corpus, content_words, load_jsonl, norm_question, shared_words  # noqa: E402
from check_gold import check_history, check_kind  # noqa: E402

STAFF_GOLD = ROOT / "eval" / "gold" / "docs_corpus_natural.jsonl"
YARDSTICK = ROOT / "docs_corpus"
MAX_PER_SPAN = 3
SHINGLE = 12


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9£€$]+", text.lower().replace("\u2019", "'"))


def copied_run(question: str, evidence: str) -> str | None:
    """A run of three words the question copies from the evidence, two of them content words."""
    ev = " " + " ".join(words(evidence)) + " "
    q = words(question)
    for i in range(len(q) - 2):
        run = q[i : i + 3]
        if len(content_words(" ".join(run))) >= 2 and f" {' '.join(run)} " in ev:
            return " ".join(run)
    return None


def overlap_bucket(question: str, evidence: str) -> str:
    n = len(shared_words(question, evidence))
    return str(n) if n < 3 else "3+"


def overlap_distribution(rows: list[dict]) -> dict[str, float]:
    counts: Counter[str] = Counter()
    for rec in rows:
        if rec.get("answerable") and rec.get("evidence"):
            counts[overlap_bucket(rec["question"], " ".join(e["text"] for e in rec["evidence"]))] += 1
    total = sum(counts.values()) or 1
    return {b: counts[b] / total for b in ("0", "1", "2", "3+")}


def yardstick_shingles() -> set[tuple[str, ...]]:
    corpus = Corpus(YARDSTICK)
    shingles: set[tuple[str, ...]] = set()
    for path in sorted(YARDSTICK.iterdir()):
        toks = words(corpus.text(path.name) or "")
        shingles.update(tuple(toks[i : i + SHINGLE]) for i in range(0, max(0, len(toks) - SHINGLE + 1)))
    return shingles


def gold_questions() -> set[str]:
    problems: list[str] = []
    return {norm_question(r.get("question", "")) for f in (ROOT / "eval" / "gold").glob("*.jsonl") for r in load_jsonl(f, problems)}


def check_row(rec: dict, slug: str, corpus: Corpus) -> list[str]:
    """Problems with one row (format, evidence, answers, near-miss clause, overlap rules)."""
    problems: list[str] = []
    meta = rec.get("meta") or {}
    kinds = meta.get("kind")
    problems += check_kind(kinds)
    kinds = set(kinds or [])
    if not str(rec.get("id", "")).startswith(f"{slug}-"):
        problems.append(f"id must start with {slug}-")
    if not isinstance(rec.get("question"), str) or not rec["question"].strip():
        return problems + ["empty question"]
    if not isinstance(rec.get("answerable"), bool):
        return problems + ["answerable must be true or false"]
    problems += check_history(rec.get("history"))
    if "follow_up" in kinds and not rec.get("history"):
        problems.append("a follow_up needs history")
    if rec.get("history") and "follow_up" not in kinds:
        problems.append("a row with history needs kind follow_up")
    evidence = rec.get("evidence") or []
    if not rec["answerable"]:
        if evidence or rec.get("answers"):
            problems.append("an unanswerable row has no evidence and no answers")
        if "near_miss" in kinds:
            near = meta.get("near_text", "")
            bad = corpus.verbatim_problem(meta.get("doc", ""), near) if near else "near_miss needs meta.near_text"
            problems += [f"near_text: {bad}"] if bad else []
        elif "off_topic" not in kinds:
            problems.append("an unanswerable row is near_miss or off_topic")
        return problems
    if not evidence:
        return problems + ["an answerable row needs evidence"]
    for ev in evidence:
        bad = corpus.verbatim_problem(ev.get("doc", ""), ev.get("text", ""))
        if bad:
            problems.append(bad)
    texts = " ".join(ev.get("text", "") for ev in evidence)
    for answer in rec.get("answers") or []:
        if not any(" ".join(answer.split()) in " ".join(ev.get("text", "").split()) for ev in evidence):
            problems.append(f"answer not in evidence: {answer!r}")
    if "no_overlap" in kinds and shared_words(rec["question"], texts):
        problems.append(f"marked no_overlap but shares {sorted(shared_words(rec['question'], texts))}")
    run = copied_run(rec["question"], texts)
    if run:
        problems.append(f"copies {run!r} from its evidence")
    return problems


def check_org(folder: Path, seen_questions: Counter[str], gold_q: set[str], shingles: set) -> tuple[list[str], dict]:
    slug = folder.name
    problems: list[str] = []
    docs = folder / "docs"
    questions_file = folder / "questions.jsonl"
    if not docs.is_dir() or not questions_file.is_file():
        return [f"{slug}: needs docs/ and questions.jsonl"], {}
    corpus = Corpus(docs)
    doc_words = {}
    for path in sorted(docs.iterdir()):
        toks = words(corpus.text(path.name) or "")
        doc_words[path.name] = len(toks)
        if any(tuple(toks[i : i + SHINGLE]) in shingles for i in range(0, max(0, len(toks) - SHINGLE + 1))):
            problems.append(f"{slug}/{path.name}: shares a run of {SHINGLE} words with docs_corpus/")
    rows = load_jsonl(questions_file, problems)
    ids = Counter(r.get("id") for r in rows)
    span_use: Counter[tuple[str, str]] = Counter()
    for n, rec in enumerate(rows, 1):
        where = f"{slug}: {rec.get('id') or f'row {n}'}"
        if ids[rec.get("id")] > 1:
            problems.append(f"{where}: duplicate id")
        problems += [f"{where}: {p}" for p in check_row(rec, slug, corpus)]
        key = norm_question(rec.get("question") or "")
        context = norm_question(" ".join(t.get("content", "") for t in rec.get("history") or [] if isinstance(t, dict)))
        seen_questions[f"{key}|{context}"] += 1  # a follow-up is the same question only after the same conversation
        if key in gold_q:
            problems.append(f"{where}: equals a gold question")
        for ev in rec.get("evidence") or []:
            span_use[(ev.get("doc", ""), " ".join(ev.get("text", "").split()))] += 1
    problems += [f"{slug}: evidence in {doc} used by {c} questions (at most {MAX_PER_SPAN}): {t[:60]!r}"
                 for (doc, t), c in span_use.items() if c > MAX_PER_SPAN]
    problems += corpus.errors
    return problems, {"rows": rows, "doc_words": doc_words}


def summary(slug: str, rows: list[dict], doc_words: dict[str, int]) -> list[str]:
    kinds = Counter(k for r in rows for k in (r.get("meta") or {}).get("kind") or [])
    answerable = sum(1 for r in rows if r.get("answerable"))
    follow = sum(1 for r in rows if r.get("history"))
    conversations = len({(r.get("meta") or {}).get("conversation") for r in rows} - {None})
    dist = overlap_distribution(rows)
    return [
        f"{slug}: {len(doc_words)} documents, {sum(doc_words.values())} words; {len(rows)} rows: "
        f"{answerable} answerable, {len(rows) - answerable} unanswerable "
        f"({kinds['near_miss']} near miss, {kinds['off_topic']} off topic); {follow} follow-ups in {conversations} conversations",
        "  kinds: " + ", ".join(f"{k} {c}" for k, c in kinds.most_common()),
        "  content words shared with evidence (answerable): " + ", ".join(f"{b}: {v:.0%}" for b, v in dist.items()),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("orgs", nargs="*", type=Path)
    args = ap.parse_args()
    folders = args.orgs or sorted(p for p in HERE.iterdir() if (p / "questions.jsonl").is_file())
    gold_q, shingles = gold_questions(), yardstick_shingles()
    seen: Counter[str] = Counter()
    problems: list[str] = []
    all_rows: list[dict] = []
    lines: list[str] = []
    for folder in folders:
        found, info = check_org(folder.resolve(), seen, gold_q, shingles)
        problems += found
        if info:
            all_rows += info["rows"]
            lines += summary(folder.resolve().name, info["rows"], info["doc_words"])
    problems += [f"question appears {c} times: {q.split('|')[0][:60]!r}" for q, c in seen.items() if c > 1 and q.split('|')[0]]
    print("\n".join(lines))
    if len(folders) > 1:
        print(f"all: {len(folders)} organisations, {len(all_rows)} rows")
    staff_problems: list[str] = []
    staff = overlap_distribution(load_jsonl(STAFF_GOLD, staff_problems)) if STAFF_GOLD.is_file() else {}
    print("overlap, synthetic: " + ", ".join(f"{b}: {v:.0%}" for b, v in overlap_distribution(all_rows).items()))
    if staff:
        print("overlap, staff-voice gold set: " + ", ".join(f"{b}: {v:.0%}" for b, v in staff.items()))
    for p in problems[:200]:
        print("PROBLEM", p)
    print(f"problems: {len(problems)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
