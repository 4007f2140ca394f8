#!/usr/bin/env python3
"""Check the staff-voice training set against the corpus and keep it apart from the gold sets.

For every row of the training file it verifies that:
  * the row has an id (unique), a non-empty question, a non-empty evidence list and a
    meta with `doc` (a corpus file that is also the doc of one evidence item) and `kind`
    (a non-empty list of the phrasing kinds below);
  * every evidence text occurs verbatim in the file it names: in the raw file for
    .md, .txt and .html (for HTML also inside one visible text node), and for .pdf and
    .docx in the text extracted by the project's loader (`rag.ingest.corpus.load_document`),
    with runs of whitespace collapsed; for a PDF the span lies on one page;
  * no evidence span overlaps an evidence span of any gold set (`eval/gold/*.jsonl`):
    both are located in the document (every occurrence) and any shared character counts
    as an overlap, so a training span may not equal, contain, or lie inside a gold span,
    nor share part of one;
  * no training question equals a gold question (compared lower-cased with punctuation
    and whitespace dropped; only the count is printed, never the gold questions);
  * a row marked `no_overlap` shares no content word with its evidence (a crude stem
    match: stop words dropped, suffixes cut, words alike in their first 5 letters count
    as shared), and no question appears twice.

It then prints counts: rows, distinct evidence spans, rows per document, rows per kind.

Usage: python eval/train/check_apart.py [--train FILE] [--gold FILE ...] [--corpus DIR]
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
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT / "eval" / "gold"))
from check_gold import extract_document, find_loose, html_nodes

DEFAULT_TRAIN = HERE / "docs_corpus_staff.jsonl"
DEFAULT_CORPUS = ROOT / "docs_corpus"
KINDS = {"colloquial", "paraphrase", "vague", "yes_no", "allowed", "typo", "no_overlap", "short", "scenario"}
EXTRACTED = (".pdf", ".docx")

_STOP_WORDS = """
a about above after again against all also am an and any anyone anything are aren as at be because been before
being below between both but by can cant could couldnt did didnt do does doesnt doing dont down during each either
else etc ever every few for from further get gets getting go goes going gonna got had has have having he her here
hers him his how i id if ill im in into is isnt it its itll ive just know let lets like me might mine more most must
my myself need needs no nor not now of off ok okay on once one only or other our ours out over own please pls
really same say says she should shouldnt so some someone something still such sure than that thats the their them
then there these they thing things this those though through to too u under until up us very via wanna want was
wasnt we well were what whats when where which while who whom whose why will with within without wont would
wouldnt yeah yes yet you your youre yours allowed tell ask anybody am whatever whenever
"""
STOP = set(_STOP_WORDS.split())


def stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    text = text.lower().replace("\u2019", "'")
    text = re.sub(r"'(s|t|re|ve|ll|d|m)\b", "", text)
    return {stem(w) for w in re.findall(r"[a-z0-9£€$]+", text) if w not in STOP}


def shared_words(question: str, evidence: str) -> set[str]:
    ev = content_words(evidence)
    shared = set()
    for q in content_words(question):
        for e in ev:
            if q == e or (len(q) >= 5 and len(e) >= 5 and q[:5] == e[:5]):
                shared.add(q)
    return shared


def norm_question(q: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", q.lower())


class Corpus:
    """Document texts that evidence is located in, with every occurrence of a span."""

    def __init__(self, root: Path):
        self.root = root
        self.texts: dict[str, str | None] = {}
        self.docs: dict[str, object] = {}
        self.nodes: dict[str, list[str]] = {}
        self.errors: list[str] = []

    def text(self, doc: str) -> str | None:
        if doc not in self.texts:
            path = self.root / doc
            if not doc or not path.is_file():
                self.texts[doc] = None
            elif path.suffix.lower() in EXTRACTED:
                try:
                    self.docs[doc] = extract_document(path, doc)
                    self.texts[doc] = self.docs[doc].text
                except Exception as exc:  # noqa: BLE001
                    self.errors.append(f"{doc}: cannot extract text ({type(exc).__name__}: {exc})")
                    self.texts[doc] = ""
            else:
                self.texts[doc] = path.read_text(encoding="utf-8")
        return self.texts[doc]

    def spans(self, doc: str, needle: str) -> list[tuple[int, int]]:
        """Every occurrence of `needle` in the document, whitespace runs matched loosely."""
        text = self.text(doc) or ""
        words = needle.split()
        if not words:
            return []
        pattern = r"\s+".join(re.escape(w) for w in words)
        return [m.span() for m in re.finditer(pattern, text)]

    def verbatim_problem(self, doc: str, needle: str) -> str | None:
        text = self.text(doc)
        if text is None:
            return f"doc {doc!r} not in the corpus"
        if doc.lower().endswith(EXTRACTED):
            if doc not in self.docs:
                return f"no extracted text for {doc}"
            span = find_loose(text, needle)
            if span is None:
                return f"not in the text extracted from {doc}: {needle[:70]!r}"
            if doc.lower().endswith(".pdf"):
                first, last = self.docs[doc].page_span(*span)
                if first != last:
                    return f"spans pages {first}-{last} of {doc}: {needle[:70]!r}"
            return None
        if needle not in text:
            return f"not verbatim in {doc}: {needle[:70]!r}"
        if doc.endswith((".html", ".htm")):
            if doc not in self.nodes:
                self.nodes[doc] = html_nodes(text)
            if not any(needle in node for node in self.nodes[doc]):
                return f"not inside one visible text node of {doc}: {needle[:70]!r}"
        return None


def load_jsonl(path: Path, problems: list[str]) -> list[dict]:
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                problems.append(f"{path.name} line {lineno}: invalid JSON ({exc})")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=DEFAULT_TRAIN)
    ap.add_argument("--gold", type=Path, nargs="*", default=sorted((ROOT / "eval" / "gold").glob("*.jsonl")))
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()

    problems: list[str] = []
    corpus = Corpus(args.corpus)
    rows = load_jsonl(args.train, problems)

    gold_spans: dict[str, list[tuple[int, int]]] = {}
    gold_questions: set[str] = set()
    gold_items = 0
    for gold_file in args.gold:
        for rec in load_jsonl(gold_file, problems):
            if rec.get("question"):
                gold_questions.add(norm_question(rec["question"]))
            for ev in rec.get("evidence") or []:
                doc, text = ev.get("doc", ""), ev.get("text", "")
                if corpus.text(doc) is None or not text.strip():
                    continue
                gold_items += 1
                gold_spans.setdefault(doc, []).extend(corpus.spans(doc, text))

    ids = Counter(r.get("id") for r in rows)
    questions = Counter(norm_question(r.get("question", "")) for r in rows)
    by_doc: Counter[str] = Counter()
    by_kind: Counter[str] = Counter()
    spans_by_doc: dict[str, set[str]] = {}
    distinct: set[tuple[str, str]] = set()
    overlaps = same_question = 0

    for n, rec in enumerate(rows, 1):
        where = rec.get("id") or f"row {n}"
        if not rec.get("id") or ids[rec.get("id")] > 1:
            problems.append(f"{where}: missing or duplicate id")
        question = rec.get("question", "")
        if not isinstance(question, str) or not question.strip():
            problems.append(f"{where}: empty question")
            question = ""
        elif questions[norm_question(question)] > 1:
            problems.append(f"{where}: question appears more than once: {question!r}")
        if norm_question(question) in gold_questions:
            same_question += 1
            problems.append(f"{where}: question equals a gold question")
        meta = rec.get("meta") or {}
        kind, mdoc = meta.get("kind"), meta.get("doc")
        if not isinstance(kind, list) or not kind or any(k not in KINDS for k in kind) or len(set(kind)) != len(kind):
            problems.append(f"{where}: meta.kind must be a list of distinct kinds from {sorted(KINDS)}, got {kind!r}")
            kind = []
        evidence = rec.get("evidence")
        if not isinstance(evidence, list) or not evidence:
            problems.append(f"{where}: no evidence")
            evidence = []
        if mdoc not in {ev.get("doc") for ev in evidence}:
            problems.append(f"{where}: meta.doc {mdoc!r} is not the doc of any evidence item")
        by_doc[mdoc] += 1
        by_kind.update(kind)
        for i, ev in enumerate(evidence):
            doc, text = ev.get("doc", ""), ev.get("text", "")
            if not text.strip():
                problems.append(f"{where}: evidence[{i}] is empty")
                continue
            problem = corpus.verbatim_problem(doc, text)
            if problem:
                problems.append(f"{where}: evidence[{i}] {problem}")
                continue
            distinct.add((doc, text))
            spans_by_doc.setdefault(doc, set()).add(text)
            mine = corpus.spans(doc, text)
            if any(a < d and c < b for a, b in mine for c, d in gold_spans.get(doc, [])):
                overlaps += 1
                problems.append(f"{where}: evidence[{i}] overlaps a gold evidence span in {doc}: {text[:70]!r}")
        if "no_overlap" in kind:
            shared = shared_words(question, " ".join(ev.get("text", "") for ev in evidence))
            if shared:
                problems.append(f"{where}: marked no_overlap but shares {sorted(shared)} with its evidence")
    problems = corpus.errors + problems

    print(f"training rows: {len(rows)}")
    print(f"distinct evidence spans: {len(distinct)}")
    print(
        f"gold files: {', '.join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in args.gold)} "
        f"({gold_items} evidence items, {len(gold_questions)} questions)"
    )
    print(f"evidence spans overlapping gold evidence: {overlaps}")
    print(f"questions equal to a gold question: {same_question}")
    print("rows (distinct evidence spans) by document (meta.doc):")
    for doc in sorted(set(by_doc) | set(spans_by_doc), key=str):
        print(f"  {doc!s:<36} {by_doc[doc]:>4} ({len(spans_by_doc.get(doc, ()))})")
    missing = sorted(p.name for p in args.corpus.iterdir() if p.is_file() and p.name not in by_doc)
    if missing:
        print(f"corpus files with no rows: {', '.join(missing)}")
    print("rows by kind (a row may have several):")
    for key, n in sorted(by_kind.items()):
        print(f"  {key:<12} {n:>4}")
    either = sum(1 for r in rows if {"no_overlap", "paraphrase"} & set((r.get("meta") or {}).get("kind") or []))
    print(f"rows that are no_overlap or paraphrase: {either} of {len(rows)}")
    print(f"problems: {len(problems)}")
    for p in problems:
        print(f"  - {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
