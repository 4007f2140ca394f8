#!/usr/bin/env python3
"""Check the gold Q&A set against the corpus (standard library only).

For every question it verifies that:
  * the record has the expected fields, a unique id and a known type;
  * unanswerable questions have no answers and no evidence;
  * answerable questions have at least one answer and one evidence item,
    and "multi" questions have at least two evidence items;
  * every evidence text occurs verbatim in the raw file it names;
  * for PDF and DOCX files, which are not text, every evidence text occurs in the
    text extracted by the project's own loader (`rag.ingest.corpus.load_document`,
    imported only when such a file is named), comparing with runs of whitespace
    collapsed (line wraps differ); for a PDF the evidence must also lie on one
    page;
  * for HTML files, every evidence text also lies inside one visible text
    node (no markup or entities inside the span, and not in nav, header,
    footer, script or style boilerplate), so it is verbatim in the extracted
    text as well;
  * every answer string occurs in at least one of the question's evidence texts;
  * `meta.kind`, where present, is a list of known phrasing kinds (how a user
    typed the question: colloquial, paraphrase, yes_no, typo, near_miss...);
  * `history`, where present (a follow-up turn), is a non-empty list of
    {"role": "user"|"assistant", "content": non-empty string} turns, oldest first,
    starting with the user; rows of one conversation share `meta.conversation`.

Usage: python eval/gold/check_gold.py [--gold FILE] [--corpus DIR]
Exits with status 1 if any problem is found. Everything but PDF and DOCX needs
only the standard library.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_GOLD = HERE / "docs_corpus.jsonl"
DEFAULT_CORPUS = HERE.parent.parent / "docs_corpus"
TYPES = {"fact", "number", "date", "table", "crossref", "multi", "unanswerable"}
KINDS = {  # how the question is phrased (meta.kind), for gold sets written the way staff type
    "colloquial", "paraphrase", "vague", "yes_no", "allowed", "typo", "no_overlap", "short", "scenario",
    "near_miss", "off_topic", "follow_up", "first_turn", "topic_switch", "long",
}
EXTRACTED = (".pdf", ".docx")  # binary formats: evidence is checked against the loader's extracted text
BOILERPLATE = {"nav", "header", "footer", "script", "style", "noscript", "template", "aside", "form"}
VOID = {"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "source", "wbr"}


class _TextNodes(HTMLParser):
    """Visible text nodes of an HTML page, whitespace-normalised."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip = 0
        self.nodes: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in BOILERPLATE:
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in BOILERPLATE and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.nodes.append(re.sub(r"\s+", " ", data).strip())


def html_nodes(raw: str) -> list[str]:
    parser = _TextNodes()
    parser.feed(raw)
    parser.close()
    return parser.nodes


def find_loose(text: str, needle: str) -> tuple[int, int] | None:
    """Span of `needle` in `text`, allowing any run of whitespace where `needle` has one."""
    words = needle.split()
    if not words:
        return None
    match = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return match.span() if match else None


def extract_document(path: Path, doc_id: str):
    """The project's own `Document` for a PDF or DOCX file (imports rag lazily)."""
    try:
        from rag.ingest.corpus import load_document
    except ImportError:
        sys.path.insert(0, str(HERE.parent.parent))
        from rag.ingest.corpus import load_document
    return load_document(path, doc_id)


def check_kind(kind: object) -> list[str]:
    """Problems with `meta.kind` (absent is fine)."""
    if kind is None:
        return []
    if not isinstance(kind, list) or not kind or not all(isinstance(k, str) for k in kind):
        return [f"meta.kind must be a non-empty list of strings, got {kind!r}"]
    return [f"unknown kind {k!r} (known: {', '.join(sorted(KINDS))})" for k in kind if k not in KINDS]


def check_history(history: object) -> list[str]:
    """Problems with a follow-up's `history` (absent is fine: a first turn)."""
    if history is None:
        return []
    if not isinstance(history, list) or not history:
        return [f"history must be a non-empty list of turns, got {history!r}"]
    problems = []
    for i, turn in enumerate(history):
        if not isinstance(turn, dict) or turn.get("role") not in ("user", "assistant"):
            problems.append(f"history[{i}] needs role 'user' or 'assistant'")
        elif not isinstance(turn.get("content"), str) or not turn["content"].strip():
            problems.append(f"history[{i}] has empty content")
    if isinstance(history[0], dict) and history[0].get("role") != "user":
        problems.append("history must start with a user turn")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gold", type=Path, default=DEFAULT_GOLD)
    ap.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    args = ap.parse_args()

    problems: list[str] = []
    raw_cache: dict[str, str | None] = {}
    node_cache: dict[str, list[str]] = {}

    documents: dict[str, object] = {}  # PDF/DOCX doc -> rag Document

    def raw(doc: str) -> str | None:
        """The text evidence is checked against: the file itself, or for PDF and DOCX the
        loader's extracted text ('' when it cannot be extracted, reported once)."""
        if doc not in raw_cache:
            path = args.corpus / doc
            if not path.is_file():
                raw_cache[doc] = None
            elif path.suffix.lower() in EXTRACTED:
                try:
                    document = extract_document(path, doc)
                except Exception as exc:  # noqa: BLE001 - ImportError, DocumentError, anything the reader raises
                    problems.append(f"{doc}: cannot extract its text with rag.ingest.corpus.load_document ({type(exc).__name__}: {exc})")
                    raw_cache[doc] = ""
                else:
                    documents[doc] = document
                    raw_cache[doc] = document.text
            else:
                raw_cache[doc] = path.read_text(encoding="utf-8")
        return raw_cache[doc]

    records = []
    for lineno, line in enumerate(args.gold.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append((lineno, json.loads(line)))
        except json.JSONDecodeError as exc:
            problems.append(f"line {lineno}: invalid JSON ({exc})")

    ids = Counter(rec.get("id") for _, rec in records)
    by_type: Counter[str] = Counter()
    by_doc: Counter[str] = Counter()
    evidence_docs: Counter[str] = Counter()

    for lineno, rec in records:
        qid = rec.get("id", f"line {lineno}")
        where = f"{qid}"
        for field in ("id", "question", "answers", "evidence", "answerable", "meta"):
            if field not in rec:
                problems.append(f"{where}: missing field {field!r}")
        if ids[rec.get("id")] > 1:
            problems.append(f"{where}: duplicate id")
        meta = rec.get("meta") or {}
        qtype, mdoc = meta.get("type"), meta.get("doc")
        if qtype not in TYPES:
            problems.append(f"{where}: unknown type {qtype!r}")
        if not mdoc or raw(mdoc) is None:
            problems.append(f"{where}: meta.doc {mdoc!r} not found in {args.corpus}")
        by_type[qtype] += 1
        by_doc[mdoc] += 1
        problems += [f"{where}: {p}" for p in check_kind(meta.get("kind")) + check_history(rec.get("history"))]

        answers, evidence = rec.get("answers", []), rec.get("evidence", [])
        if not rec.get("question", "").strip():
            problems.append(f"{where}: empty question")
        if rec.get("answerable") is False:
            if qtype != "unanswerable":
                problems.append(f"{where}: answerable is false but type is {qtype!r}")
            if answers or evidence:
                problems.append(f"{where}: unanswerable question must have empty answers and evidence")
            continue
        if rec.get("answerable") is not True:
            problems.append(f"{where}: answerable must be true or false")
            continue
        if qtype == "unanswerable":
            problems.append(f"{where}: type unanswerable but answerable is true")
        if not answers:
            problems.append(f"{where}: no answers")
        if not evidence:
            problems.append(f"{where}: no evidence")
        if qtype == "multi" and len(evidence) < 2:
            problems.append(f"{where}: multi question needs at least two evidence items")

        texts = []
        for i, ev in enumerate(evidence):
            doc, text = ev.get("doc"), ev.get("text", "")
            evidence_docs[doc] += 1
            content = raw(doc) if doc else None
            if content is None:
                problems.append(f"{where}: evidence[{i}] doc {doc!r} not found")
                continue
            if not text.strip():
                problems.append(f"{where}: evidence[{i}] is empty")
                continue
            texts.append(text)
            if doc.lower().endswith(EXTRACTED):
                if doc not in documents:
                    continue  # extraction failed: reported once already
                span = find_loose(content, text)
                if span is None:
                    problems.append(f"{where}: evidence[{i}] not in the text extracted from {doc}: {text[:70]!r}")
                    continue
                first, last = documents[doc].page_span(*span)
                if first != last:
                    problems.append(f"{where}: evidence[{i}] in {doc} spans pages {first}-{last}: {text[:70]!r}")
                continue
            if text not in content:
                problems.append(f"{where}: evidence[{i}] not verbatim in {doc}: {text[:70]!r}")
                continue
            if doc.endswith((".html", ".htm")):
                if doc not in node_cache:
                    node_cache[doc] = html_nodes(content)
                if not any(text in node for node in node_cache[doc]):
                    problems.append(
                        f"{where}: evidence[{i}] in {doc} is not inside one visible text node: {text[:70]!r}"
                    )
        for answer in answers:
            if not any(answer in t for t in texts):
                problems.append(f"{where}: answer {answer!r} not found in any evidence text")

    answerable = sum(1 for _, r in records if r.get("answerable") is True)
    print(f"questions: {len(records)} (answerable {answerable}, unanswerable {len(records) - answerable})")
    print("by type:")
    for key, n in sorted(by_type.items(), key=lambda kv: str(kv[0])):
        print(f"  {key:<14} {n}")
    print("by main doc (meta.doc):")
    for key, n in sorted(by_doc.items(), key=lambda kv: str(kv[0])):
        print(f"  {key:<36} {n}")
    print("evidence items per doc:")
    for key, n in sorted(evidence_docs.items(), key=lambda kv: str(kv[0])):
        print(f"  {key:<36} {n}")
    if args.corpus.is_dir():
        unused = sorted(p.name for p in args.corpus.iterdir() if p.is_file() and p.name not in by_doc)
        if unused:
            print(f"corpus files with no questions: {', '.join(unused)}")
    print(f"problems: {len(problems)}")
    for p in problems:
        print(f"  - {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
